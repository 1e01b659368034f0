/** The names `veza-chat bench` knows, apart from the suites' code (the CLI loads that only when it runs one). */
export const SUITES = ['fanout', 'rooms', 'dm', 'latency', 'ingest', 'connections', 'churn', 'resume', 'ring'] as const;
export type Suite = (typeof SUITES)[number];
export const TARGETS = ['veza', 'uws-baseline', 'socketio'] as const;
export type TargetKind = (typeof TARGETS)[number];
/** Suites that get a baseline run with --compare-baseline (those with deliveries to compare). */
export const COMPARABLE_SUITES: ReadonlySet<Suite> = new Set(['fanout', 'rooms', 'latency', 'ingest']);
