/**
 * The bench's result file: one JSON document per run, the unit that reports render and
 * `compare` reads. Units are in the key names (`_ms`, `_mb`, `_s`, `_per_s`); CPU "util" is a
 * share of the machine's cores (0..1), "cpu" in the timeline is cores busy (1.0 = one core).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import type { HistogramJSON, Percentiles } from './histogram.js';
import { Histogram } from './histogram.js';
import type { LoadOutcome, LoadPlan, RunOptions, TimelinePoint } from './cohort.js';
import type { FloodFigures } from './flood.js';
import { mapRoles, type RoleFigures } from './proc.js';

export const RESULT_VERSION = 1;

/** Figures only some suites have (absent elsewhere). */
export interface SuiteFigures {
  /** ingest: durable messages per second (acks in the window / window). */
  ingest_per_s?: number;
  /** connections: server RSS with no connection (MiB), and per open connection above it (KiB). */
  rss_idle_mb?: number | null;
  rss_kb_per_connection?: number | null;
  /** churn: completed connect+authenticate per second (each followed by a close). */
  churn_per_s?: number;
  /** resume: `resumed` replies (recovered or not), clients that got everything back, events recovered. */
  resumed?: number;
  resumed_recovered?: number;
  resume_clients?: number;
  resume_complete?: number;
  recovered_events?: number;
  /** mixed: operations answered per second, in the window (an ack or an error: see `ops` and `errors`). */
  ops_per_s?: number;
  /**
   * mixed: per operation, those sent in the window, acked, answered with an error (`errors` has
   * them by code, `server:<op>:<code>`), sent as a message instead for want of a target
   * (`substituted`: no message seen yet to react to...), and send → ack latency (acks only).
   */
  ops?: Record<string, { sent: number; acked: number; errors: number; substituted: number; p50_ms: number | null; p99_ms: number | null; max_ms: number | null }>;
  /** mixed: reconnects (close, connect, authenticate, join) of the churning connections during the run (warm-up included). */
  churn_reconnects?: number;
  /** ring: the runtime's ring against postMessage (bench/ring-bench.ts). */
  ring_per_s?: number;
  postmessage_per_s?: number;
  ratio?: number;
  rtt_us?: { p50: number; p99: number };
  /**
   * With baseline runs of the same shape, just before and just after this one: this target's CPU
   * per delivery over the mean of theirs (veza's target: ≤ 1.5). `_runs` holds both (older files:
   * one run, after, and no `_runs`).
   */
  server_cpu_ratio_vs_baseline?: number | null;
  baseline_cpu_us_per_delivery?: number | null;
  baseline_cpu_us_per_delivery_runs?: (number | null)[];
  /** With Socket.IO runs of the same shape, before and after: this target's CPU per delivery over their mean. */
  server_cpu_ratio_vs_socketio?: number | null;
  socketio_cpu_us_per_delivery?: number | null;
  socketio_cpu_us_per_delivery_runs?: (number | null)[];
  /** flood: the victims quiet and flooded, the server's RSS, the flooder's own counts (bench/flood.ts). */
  flood?: FloodFigures;
  /** Mode-specific counts from the cohorts. */
  counters?: Record<string, number>;
}

export interface BenchFigures extends SuiteFigures {
  throughput_per_s: number;
  delivered: number;
  expected: number;
  /** delivered / expected; null when nothing was expected (idle runs). */
  delivery_ratio: number | null;
  sent: number;
  sent_per_s: number;
  /** Acks of messages sent in the window (absent in older files). */
  acks?: number;
  latency_ms: Percentiles;
  ack_latency_ms: Percentiles;
  server: {
    cpu_s: number | null;
    cpu_us_per_delivery: number | null;
    /**
     * cpu_us_per_delivery by the role of the server's threads, from their names: main, front,
     * shard, cpu (the password pool) and other (V8's and libuv's helpers, or a server that names
     * no thread). Threads that exit within the window are missing from it. Absent in older files.
     */
    cpu_us_per_delivery_by_thread?: RoleFigures | null;
    rss_mb: number | null;
    rss_peak_mb: number | null;
  };
  client: {
    /** Share of the machine's cores the load generator used over the window (0..1). */
    cpu_util: number;
    cpu_s: number;
    worker_elu_max: number;
    lag_max_ms: number;
    saturated: boolean;
    /** The send schedule ran > 50 ms late: CPUs oversubscribed. */
    lagging: boolean;
  };
  connections: LoadOutcome['connections'];
}

export interface BenchResult {
  version: typeof RESULT_VERSION;
  suite: string;
  target: string;
  started_at: string;
  commit: string | null;
  machine: {
    cpus: number;
    /** Total memory, MiB. */
    memory: number;
    node: string;
    platform: string;
    /** 1, 5, 15-minute load averages when the run started: a busy shared machine shows here. */
    load_avg: number[];
  };
  config: Record<string, unknown>;
  errors: Record<string, number>;
  figures: BenchFigures;
  timeline: TimelinePoint[];
  /** The full latency histogram (µs), for merging runs or other percentiles later. */
  latency_histogram_us: HistogramJSON;
  /** What a reader must know to trust the figures (client saturated, misses of targets...). */
  notes?: string[];
}

/** Several results of one invocation (`bench standard`, or a suite with its baseline). */
export interface BenchSet {
  version: typeof RESULT_VERSION;
  kind: 'set';
  suite: string;
  started_at: string;
  commit: string | null;
  machine: BenchResult['machine'];
  results: BenchResult[];
}

/** `git rev-parse HEAD` in `cwd`, or null outside a repository or without git. */
export function gitCommit(cwd: string = process.cwd()): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return /^[0-9a-f]{40}$/.test(out) ? out : null;
  } catch {
    // No git, or not a repository: the result says so with null rather than failing the run.
    return null;
  }
}

export function machineInfo(): BenchResult['machine'] {
  return {
    cpus: availableParallelism(),
    memory: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    load_avg: loadavg().map((l) => round(l, 2)),
  };
}

/** The plan without its per-connection arrays: what a reader of the result needs to know. */
export function planSummary(plan: LoadPlan, run: RunOptions & { workers: number }): Record<string, unknown> {
  const rooms = new Set<number>();
  for (const r of plan.rooms) for (const id of r) rooms.add(id);
  return {
    url: plan.url,
    protocol: plan.wire === 'socketio' ? 'socket.io (Engine.IO 4, websocket, JSON)' : (plan.protocol ?? 'veza.json'),
    auth: plan.auth ?? 'none',
    connections: plan.rooms.length,
    rooms: rooms.size,
    senders: plan.senders.length,
    rate_per_sender: plan.ratePerSender,
    total_rate: plan.ratePerSender * plan.senders.length,
    payload_bytes: plan.payloadBytes ?? 64,
    warmup_ms: plan.warmupMs ?? 1000,
    duration_ms: plan.durationMs,
    ack: plan.ack ?? true,
    ...(plan.clientIds ? { client_ids: true } : {}),
    ...(plan.mode && plan.mode !== 'load' ? { mode: plan.mode } : {}),
    ...(plan.send === 'dm' ? { send: 'dm' } : {}),
    ...(plan.window ? { window: plan.window } : {}),
    workers: run.workers,
  };
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
const roundOrNull = (v: number | null, digits: number) => (v === null ? null : round(v, digits));
const msFromUs = (p: Percentiles): Percentiles => ({
  p50: round(p.p50 / 1000, 3),
  p90: round(p.p90 / 1000, 3),
  p99: round(p.p99 / 1000, 3),
  p999: round(p.p999 / 1000, 3),
  max: round(p.max / 1000, 3),
});

export function makeResult(o: {
  suite: string;
  target: string;
  startedAt: Date;
  config: Record<string, unknown>;
  outcome: LoadOutcome;
  commit?: string | null;
  machine?: BenchResult['machine'];
  extra?: SuiteFigures;
  notes?: string[];
}): BenchResult {
  const out = o.outcome;
  const r: BenchResult = {
    version: RESULT_VERSION,
    suite: o.suite,
    target: o.target,
    started_at: o.startedAt.toISOString(),
    commit: o.commit === undefined ? gitCommit() : o.commit,
    machine: o.machine ?? machineInfo(),
    config: o.config,
    errors: out.errors,
    figures: {
      throughput_per_s: round(out.throughput_per_s, 1),
      delivered: out.delivered,
      expected: out.expected,
      delivery_ratio: roundOrNull(out.delivery_ratio, 6),
      sent: out.sent,
      sent_per_s: round(out.sent_per_s, 1),
      acks: out.acks,
      latency_ms: msFromUs(out.latency.percentiles()),
      ack_latency_ms: msFromUs(out.ackLatency.percentiles()),
      server: {
        cpu_s: roundOrNull(out.server.cpu_s, 3),
        cpu_us_per_delivery: roundOrNull(out.server.cpu_us_per_delivery, 3),
        cpu_us_per_delivery_by_thread: out.server.cpu_by_thread === null ? null : mapRoles(out.server.cpu_by_thread, (v) => round(v, 3)),
        rss_mb: roundOrNull(out.server.rss_mb, 1),
        rss_peak_mb: roundOrNull(out.server.rss_peak_mb, 1),
      },
      client: {
        cpu_util: round(out.client.cpu_util, 3),
        cpu_s: round(out.client.cpu_s, 3),
        worker_elu_max: round(out.client.worker_elu_max, 3),
        lag_max_ms: round(out.client.lag_max_ms, 1),
        saturated: out.client.saturated,
        lagging: out.client.lagging,
      },
      connections: out.connections,
      ...(Object.keys(out.counters ?? {}).length > 0 ? { counters: out.counters } : {}),
      ...o.extra,
    },
    timeline: out.timeline.map((p) => ({
      ...p,
      p50_ms: round(p.p50_ms, 3),
      p99_ms: round(p.p99_ms, 3),
      server_cpu: roundOrNull(p.server_cpu, 3),
      server_rss_mb: roundOrNull(p.server_rss_mb, 1),
      client_cpu: round(p.client_cpu, 3),
      elu_max: round(p.elu_max, 3),
    })),
    latency_histogram_us: out.latency.toJSON(),
  };
  if (o.notes && o.notes.length > 0) r.notes = o.notes;
  return r;
}

/** An outcome with nothing in it, for suites that run no load (ring). */
export function emptyOutcome(): LoadOutcome {
  const zero = { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    workers: 0,
    connections: { planned: 0, connected: 0, failed: 0, joined: 0, setup_ms: 0, connect_ms: zero },
    window_s: 0,
    sent: 0,
    delivered: 0,
    expected: 0,
    delivery_ratio: null,
    sent_per_s: 0,
    throughput_per_s: 0,
    acks: 0,
    latency: new Histogram(),
    ackLatency: new Histogram(),
    errors: {},
    server: { cpu_s: null, cpu_us_per_delivery: null, cpu_by_thread: null, rss_mb: null, rss_peak_mb: null },
    client: { cpu_s: 0, cpu_util: 0, cores_used: 0, worker_elu: [], worker_elu_max: 0, lag_max_ms: 0, saturated: false, lagging: false },
    dropped: 0,
    counters: {},
    timeline: [],
  };
}

export function makeSet(suite: string, startedAt: Date, results: BenchResult[]): BenchSet {
  return {
    version: RESULT_VERSION,
    kind: 'set',
    suite,
    started_at: startedAt.toISOString(),
    commit: results[0]?.commit ?? gitCommit(),
    machine: results[0]?.machine ?? machineInfo(),
    results,
  };
}

/** A result file or a set file: its results, each checked. */
export function readResults(path: string): BenchResult[] {
  return parseResults(readFileSync(path, 'utf8'), path);
}

export function parseResults(text: string, source = 'result'): BenchResult[] {
  const v = JSON.parse(text) as Partial<BenchSet>;
  if (v.kind === 'set') {
    if (v.version !== RESULT_VERSION) throw new Error(`${source}: result version ${String(v.version)}, expected ${RESULT_VERSION}`);
    if (!Array.isArray(v.results)) throw new Error(`${source}: a set without results`);
    return v.results.map((r, i) => parseResult(JSON.stringify(r), `${source} #${i + 1}`));
  }
  return [parseResult(text, source)];
}

/** `<suite>-<target>-<time>.json`, safe as a file name. */
export function resultFileName(r: Pick<BenchResult, 'suite' | 'target' | 'started_at'>): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_');
  return `${safe(r.suite)}-${safe(r.target)}-${r.started_at.replace(/[:.]/g, '-')}.json`;
}

export function writeResult(path: string, r: BenchResult | BenchSet): void {
  writeFileSync(path, JSON.stringify(r, null, 2) + '\n');
}

/** Read and sanity-check a result file (the fields report and compare rely on). */
export function readResult(path: string): BenchResult {
  return parseResult(readFileSync(path, 'utf8'), path);
}

export function parseResult(text: string, source = 'result'): BenchResult {
  const r = JSON.parse(text) as Partial<BenchResult>;
  const missing = (['suite', 'target', 'started_at', 'machine', 'figures', 'timeline'] as const).filter((k) => r[k] === undefined);
  if (missing.length > 0) throw new Error(`${source}: not a bench result (missing ${missing.join(', ')})`);
  if (r.version !== RESULT_VERSION) throw new Error(`${source}: result version ${String(r.version)}, expected ${RESULT_VERSION}`);
  return r as BenchResult;
}
