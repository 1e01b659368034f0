/** The names `veza-chat bench` knows, apart from the suites' code (the CLI loads that only when it runs one). */
export const SUITES = ['fanout', 'rooms', 'dm', 'latency', 'ingest', 'connections', 'churn', 'resume', 'mixed', 'flood', 'ring'] as const;
export type Suite = (typeof SUITES)[number];
export const TARGETS = ['veza', 'uws-baseline', 'socketio'] as const;
export type TargetKind = (typeof TARGETS)[number];
/** The reference servers a veza run can be compared with on the same shape. */
export type ReferenceTarget = Exclude<TargetKind, 'veza'>;
/** Suites that get a reference run with --compare-baseline / --compare-socketio (those with deliveries to compare). */
export const COMPARABLE_SUITES: ReadonlySet<Suite> = new Set(['fanout', 'rooms', 'latency', 'ingest']);

/**
 * The suites each target can run (ring needs no target). The uWS baseline speaks veza's frames
 * but has no direct conversations and no resume; the Socket.IO server has user rooms for direct
 * conversations, and no resume (its connection state recovery is another mechanism). Neither
 * has the operations of `mixed` (typing, reactions, read markers, edits, deletes).
 */
export const TARGET_SUITES: Readonly<Record<TargetKind, ReadonlySet<Suite>>> = {
  veza: new Set(SUITES),
  'uws-baseline': new Set(['fanout', 'rooms', 'latency', 'ingest', 'connections', 'churn', 'ring']),
  socketio: new Set(['fanout', 'rooms', 'dm', 'latency', 'ingest', 'connections', 'churn', 'ring']),
};

/** Why `target` cannot run `suite`, or null when it can. */
export function unsupported(target: TargetKind, suite: Suite): string | null {
  if (TARGET_SUITES[target].has(suite)) return null;
  const what =
    suite === 'dm'
      ? 'direct conversations'
      : suite === 'mixed'
        ? 'mixed workload (typing, reactions, read markers, edits, deletes)'
        : suite === 'flood'
          ? 'rate limits to flood (history, resume)'
          : suite;
  const can = [...TARGET_SUITES[target]].filter((s) => s !== 'ring').join(', ');
  return `the ${target} target has no ${what}: run ${suite} on veza (${target} runs ${can})`;
}
