/**
 * The `flood` suite (issue 17): what one user's flood of `fetch_history` and `resume` does to
 * everyone else. The victims are the `latency` shape (`--conns` 100 in `--rooms` 50, `--rate`
 * 100 msg/s, acked); they run three times on one server: quiet, flooded for `--duration` (the
 * issue's minute), quiet again. The flooder (bench/flooder.ts) is a child process at the lowest
 * CPU priority, on its own user, reconnecting at once whenever it is closed or refused.
 *
 * Figures (`figures.flood`): the victims' ack and delivery p99 in each run, the flooded one over
 * the mean of the two quiet ones (two quiet runs, before and after, so that the machine's drift
 * shows), the server's RSS when the flood starts, its peak during the flood (sampled every 250 ms)
 * and once it settles after, and what the flooder saw (frames sent, replies, rate_limited, closes
 * and refused upgrades by code). The result's other figures are the flooded run's.
 *
 * A self-started server runs with the default limits (the bench otherwise raises them all: its
 * users send thousands a minute) but for `send_message`, the victims' probe; the limits are what
 * is under test. A `--url` server runs with whatever limits it has.
 */
import { configSchema } from '../src/config/schema.js';
import { roomsPlan, type LoadOutcome, type LoadPlan } from './cohort.js';
import { startFlooder, type Flooder, type FloodStats } from './flooder.js';
import { readProc, settledRss } from './proc.js';
import { makeResult, planSummary, type BenchResult } from './result.js';
import { clientNotes, loadWithProgress, type RunningTarget, type SuiteContext, type SuiteParams } from './suites.js';
import type { BenchUser } from './users.js';

/** Seconds of each quiet run (at most `--duration`). */
const QUIET_S = 10;

/** The issue's targets: the victims' p99 within 2× of quiet, the flood leaving the server's RSS within 50 MiB of its start. */
export const FLOOD_P99_RATIO = 2;
export const FLOOD_RSS_MB = 50;

export interface FloodFigures {
  /** Victims' send → ack p99 (ms): quiet before, flooded, quiet after; flooded over the quiet mean. */
  ack_p99_ms: { quiet_before: number; flooded: number; quiet_after: number };
  ack_p99_ratio: number | null;
  /** Victims' send → delivery p99 (ms), the same three runs. */
  delivery_p99_ms: { quiet_before: number; flooded: number; quiet_after: number };
  delivery_p99_ratio: number | null;
  /**
   * Server RSS (MiB): settled before the flood, the peak sampled during it, settled after it, and
   * settled again after the last quiet run (what the heaps gave back by then).
   */
  rss_mb: { start: number | null; peak: number | null; end: number | null; final: number | null };
  /** Settled after the flood over the start (MiB): what the flood left (the figure). */
  rss_growth_mb: number | null;
  /** The peak during the flood over the start (MiB). */
  rss_peak_growth_mb: number | null;
  flooder: FloodStats | null;
}

/** The server configuration a self-started server gets for this suite (over the bench's own). */
export function floodServerConfig(sendPerMinute: number): Record<string, unknown> {
  // The bench's rooms-per-user cap stays (a standard run's users are in earlier suites' rooms), and
  // so does its content setting (the victims' texts repeat: not spam to detect here).
  const { roomsPerUser: _, ...defaults } = configSchema.parse({}).limits;
  return { limits: { ...defaults, perMinute: { ...defaults.perMinute, send_message: sendPerMinute } } };
}

/** Users the suite needs: the victims, and the flooder's own. */
export const floodUsers = (p: SuiteParams): number => p.conns + 1;

export async function runFlood(
  t: RunningTarget,
  p: SuiteParams,
  ctx: SuiteContext,
  common: Omit<LoadPlan, 'rooms' | 'senders' | 'ratePerSender'>,
  label: string,
): Promise<BenchResult> {
  const { log } = ctx.session.opts;
  if (t.users.length < floodUsers(p)) throw new Error(`flood needs ${floodUsers(p)} distinct users (the victims and the flooder), there are ${t.users.length}`);
  const attacker = t.users[p.conns] as BenchUser;
  const size = Math.max(1, Math.ceil(p.conns / Math.max(1, p.rooms)));
  const count = Math.ceil(p.conns / size);
  log(`bench: ${label}: ${p.conns} victims in ${count} rooms; the flooder is user ${attacker.id}`);
  const roomIds = await t.rooms(count, Array.from({ length: count }, (_, r) => t.users[r * size] as BenchUser));
  const quietS = Math.min(QUIET_S, p.durationS);
  const plan = (seconds: number): LoadPlan =>
    roomsPlan({ ...common, durationMs: Math.round(seconds * 1000), conns: p.conns, roomSize: size, totalRate: p.rate, roomIds });
  const run = (phase: string, seconds: number, onMeasure?: () => void): Promise<LoadOutcome> =>
    loadWithProgress(plan(seconds), t, ctx, `${label} ${phase}`, (tick) => {
      // The tick that ends the warm-up's last second (or the first measured one).
      if (onMeasure && (tick.phase === 'measure' || tick.t >= Math.round(p.warmupS))) {
        onMeasure();
        onMeasure = undefined;
      }
    });

  const startedAt = new Date();
  const before = await run('quiet', quietS);
  const rssStart = t.pid === undefined ? null : await settledRss(t.pid);
  let peak: number | null = null;
  const sample = () => {
    const rss = t.pid === undefined ? undefined : readProc(t.pid)?.rssMb;
    if (rss !== undefined) peak = Math.max(peak ?? 0, rss);
  };
  let flooder: Flooder | null = null;
  let untrack = () => {};
  let sampler: NodeJS.Timeout | undefined;
  // The flood starts with the measured window (after the victims' warm-up), so that its first
  // seconds, when the flooder's budgets are full, are measured too.
  const startFlood = () => {
    flooder = startFlooder({ wsUrl: t.wsUrl, token: attacker.token, rooms: roomIds, seconds: p.durationS + 60 });
    untrack = ctx.session.track(flooder);
    sampler = setInterval(sample, 250);
  };
  let flooded: LoadOutcome;
  let stats: FloodStats | null = null;
  try {
    flooded = await run('flooded', p.durationS, startFlood);
    sample();
  } finally {
    clearInterval(sampler);
    stats = flooder === null ? null : await (flooder as Flooder).stop();
    untrack();
  }
  const rssEnd = t.pid === undefined ? null : await settledRss(t.pid);
  const after = await run('quiet', quietS);
  const rssFinal = t.pid === undefined ? null : await settledRss(t.pid);

  const ack = (o: LoadOutcome) => ms(o.ackLatency.percentiles().p99);
  const delivery = (o: LoadOutcome) => ms(o.latency.percentiles().p99);
  const ratio = (flood: number, a: number, b: number) => (a + b > 0 ? round(flood / ((a + b) / 2), 2) : null);
  const figures: FloodFigures = {
    ack_p99_ms: { quiet_before: ack(before), flooded: ack(flooded), quiet_after: ack(after) },
    ack_p99_ratio: ratio(ack(flooded), ack(before), ack(after)),
    delivery_p99_ms: { quiet_before: delivery(before), flooded: delivery(flooded), quiet_after: delivery(after) },
    delivery_p99_ratio: ratio(delivery(flooded), delivery(before), delivery(after)),
    rss_mb: { start: rssStart, peak, end: rssEnd, final: rssFinal },
    rss_growth_mb: rssStart !== null && rssEnd !== null ? round(rssEnd - rssStart, 1) : null,
    rss_peak_growth_mb: rssStart !== null && peak !== null ? round(peak - rssStart, 1) : null,
    flooder: stats,
  };

  const notes = clientNotes(flooded);
  for (const [phase, o] of [['quiet before', before], ['quiet after', after]] as const) {
    for (const n of clientNotes(o)) notes.push(`${phase}: ${n}`);
    for (const [k, v] of Object.entries(o.errors)) flooded.errors[`${phase.replace(' ', '_')}:${k}`] = v;
  }
  const qa = [ack(before), ack(after)];
  if (Math.min(...qa) > 0 && Math.max(...qa) / Math.min(...qa) > 1.5) {
    notes.push(`the quiet runs before and after the flood measured ack p99 ${qa[0]} and ${qa[1]} ms: the machine's speed drifted; the ratio uses their mean`);
  }
  if (stats === null) notes.push('the flooder printed no figures: it may have died (see stderr)');
  else if (stats.sent === 0) notes.push('the flooder sent nothing: the figures are not a flood');
  const sl = t.serverLog;
  if (sl && sl.errors > 0) notes.push(`the server logged ${sl.errors} errors since it started; first: ${sl.samples.join(' | ')}`);
  for (const n of notes) log(`bench: ${label}: !!! ${n}`);
  return makeResult({
    suite: 'flood',
    target: t.kind,
    startedAt,
    config: {
      ...planSummary(plan(p.durationS), { workers: flooded.workers }),
      room_size: size,
      quiet_s: quietS,
      flooder_user: attacker.id,
      flooder: 'bench/flooder.ts: one socket, resume (200 ids) and fetch_history back to back, reconnecting at once; nice 19',
      ...t.describe,
    },
    outcome: flooded,
    extra: { flood: figures },
    notes,
  });
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
const ms = (us: number) => round(us / 1000, 3);
