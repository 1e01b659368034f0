/**
 * The load generator's main thread: spreads a plan's connections over N cohort worker threads
 * (default: the machine's available parallelism), starts them together on the shared clock,
 * gathers their per-second ticks into a timeline and their totals into figures, and samples the
 * server process (/proc) and this process's CPU at the same second boundaries.
 *
 * CPU accounting: `process.cpuUsage()` is per process (all threads), so it gives the client's
 * total; each worker reports `performance.eventLoopUtilization()` of its own thread. Two flags say
 * when the figures describe the generator more than the server:
 * - `saturated`: a worker's event loop was busy ≥ 90 % of the window (the client's own CPU limit);
 * - `lagging`: the send schedule ran more than 50 ms late while the loops were not that busy,
 *   i.e. the client threads were not scheduled: the machine's CPUs are oversubscribed (by the
 *   server under test, or by anything else running).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { workerExecArgv } from '../src/runtime/threads/entry.js';
import { siblingEntry } from './child-server.js';
import { nowMs } from './clock.js';
import { Histogram, type HistogramSnapshot, type Percentiles } from './histogram.js';
import { byRole, mapRoles, readProc, readThreads, threadCpuByName, type ProcSample, type RoleFigures, type ThreadSample } from './proc.js';
import type { Codec } from './frames.js';
import type { WireName } from './wire.js';
import { MIXED_OPS } from './cohort-messages.js';
import type {
  AuthMode,
  CohortMode,
  MixedOp,
  MixWeights,
  DoneMessage,
  SendKind,
  MainToWorker,
  ReadyMessage,
  StartMessage,
  TickMessage,
  WorkerConnPlan,
  WorkerToMain,
} from './cohort-messages.js';

export interface LoadPlan {
  /** `ws://127.0.0.1:<port>/ws` (Socket.IO: `ws://127.0.0.1:<port>/socket.io/?EIO=4&transport=websocket`) */
  url: string;
  /** veza's envelopes (default) or Socket.IO's packets (wire.ts). */
  wire?: WireName;
  /** veza's encoding (the veza wire only). */
  protocol?: Codec;
  auth?: AuthMode;
  /** Connection i uses tokens[i % tokens.length]. */
  tokens?: string[];
  /** rooms[i]: the rooms connection i joins; its length is the number of connections. */
  rooms: number[][];
  /** Connections that send, each to its first room. */
  senders: number[];
  ratePerSender: number;
  /** Bytes of message content (the marker, padded). Default 64. */
  payloadBytes?: number;
  /** Sending starts this long before the measured window. Default 1000. */
  warmupMs?: number;
  durationMs: number;
  /** Longest wait for in-flight deliveries after sending stops. Default 3000. */
  drainMs?: number;
  /** The drain ends early after this long without a delivery. Default 300. */
  quietMs?: number;
  /** Give each send an id, so the server acks it. Default true. */
  ack?: boolean;
  /**
   * Give each send a fresh `client_id`, as PROTOCOL.md has clients do for idempotency (the
   * server then stores it and answers a retry with the stored message). Default false.
   */
  clientIds?: boolean;
  /** Whether the sender gets its own `message` event (PROTOCOL: every member). Default true. */
  senderReceivesOwn?: boolean;
  /** What the cohorts do after `go` (cohort-messages.ts). Default `load`. */
  mode?: CohortMode;
  /** `send_message` to rooms (default) or `send_dm` to the conversations `dmPeers` create. */
  send?: SendKind;
  /** Closed loop: sends in flight per sender; 0 (default) is the open-loop schedule at ratePerSender. */
  window?: number;
  /** dmPeers[i]: the user connection i opens a direct conversation with at set-up (`create_dm`). */
  dmPeers?: Array<number | undefined>;
  /** Resume mode: positions[i] is connection i's `resume` positions, expectEvents[i] what it should get back. */
  positions?: Array<Record<string, number>>;
  expectEvents?: number[];
  /** `mixed` mode: the operations' weights (per 100: 60 messages, 15 typing...). */
  mix?: MixWeights;
  /** `mixed` mode: connections that close and reconnect during the run (they send nothing, and neither count nor are counted as members for deliveries). */
  churners?: number[];
  /** `mixed` mode: how long a churning connection stays connected between reconnects, ms. Default [1000, 3000]. */
  churnOnlineMs?: [number, number];
  /** Handshakes in flight, over all workers. Default 128. */
  connectConcurrency?: number;
  handshakeTimeoutMs?: number;
  setupTimeoutMs?: number;
}

export interface RunOptions {
  /** Worker threads. Default: availableParallelism(). */
  workers?: number;
  /** The server's pid, for CPU and RSS from /proc. */
  serverPid?: number;
  log?: (line: string) => void;
  /** Called once a second while the load runs, with that second's totals over all workers. */
  onTick?: (p: TickSummary) => void;
}

/** One second of the run as it happens (the timeline is computed at the end). */
export interface TickSummary {
  t: number;
  phase: TimelinePoint['phase'];
  sent: number;
  delivered: number;
  acks: number;
  p99_ms: number;
  open: number;
  elu_max: number;
  server_cpu: number | null;
  server_rss_mb: number | null;
}

export interface TimelinePoint {
  /** End of this second, seconds since sending started. */
  t: number;
  phase: 'warmup' | 'measure' | 'drain';
  sent: number;
  /** Deliveries received in this second. */
  throughput: number;
  acks: number;
  p50_ms: number;
  p99_ms: number;
  /** Server CPU over this second, in cores (1.0 = one core busy); null without a pid. */
  server_cpu: number | null;
  server_rss_mb: number | null;
  /** This process's CPU over the second, in cores. */
  client_cpu: number;
  /** Busiest worker's event-loop utilisation (0..1). */
  elu_max: number;
  open: number;
}

export interface LoadOutcome {
  workers: number;
  connections: {
    planned: number;
    connected: number;
    failed: number;
    joined: number;
    setup_ms: number;
    connect_ms: Percentiles;
  };
  window_s: number;
  sent: number;
  delivered: number;
  expected: number;
  /** null when nothing was expected (idle plans). */
  delivery_ratio: number | null;
  sent_per_s: number;
  throughput_per_s: number;
  acks: number;
  /** Microseconds. */
  latency: Histogram;
  ackLatency: Histogram;
  /** `mixed` mode: send → ack latency per operation (µs), of the operations sent in the window. */
  opLatency?: Partial<Record<MixedOp, Histogram>>;
  errors: Record<string, number>;
  server: {
    cpu_s: number | null;
    cpu_us_per_delivery: number | null;
    /** cpu_us_per_delivery by the role of the server's threads (their names); null without /proc or deliveries. */
    cpu_by_thread: RoleFigures | null;
    rss_mb: number | null;
    rss_peak_mb: number | null;
  };
  client: {
    cpu_s: number;
    /** Share of the machine's cores this process used over the window (0..1). */
    cpu_util: number;
    cores_used: number;
    worker_elu: number[];
    worker_elu_max: number;
    lag_max_ms: number;
    saturated: boolean;
    lagging: boolean;
  };
  dropped: number;
  /** Mode-specific counts (churn cycles, resumed...), summed over the workers. */
  counters?: Record<string, number>;
  timeline: TimelinePoint[];
}

/** Modes whose connections are opened and joined at set-up (the others connect after `go`). */
const inPlace = (mode: CohortMode | undefined) => mode === undefined || mode === 'load' || mode === 'mixed';

/** The worker entry next to this module (see `siblingEntry`). */
function cohortWorkerUrl(): URL {
  return siblingEntry('cohort-worker');
}

interface Sample {
  at: number;
  proc: ProcSample | null;
  cpu: NodeJS.CpuUsage;
  /** The server's threads: read at the window's bounds only (a few dozen files a reading). */
  threads?: Map<string, ThreadSample> | null;
}

function takeSample(pid: number | undefined, threads = false): Sample {
  const s: Sample = { at: nowMs(), proc: pid === undefined ? null : readProc(pid), cpu: process.cpuUsage() };
  if (threads) s.threads = pid === undefined ? null : readThreads(pid);
  return s;
}

const cpuSeconds = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user - a.user + b.system - a.system) / 1e6;

/** One second of the run, all workers' ticks for it together. */
function mergeTicks(list: readonly TickMessage[]): { latency: Histogram; sent: number; delivered: number; acks: number; open: number; elu: number } {
  const out = { latency: new Histogram(), sent: 0, delivered: 0, acks: 0, open: 0, elu: 0 };
  for (const tk of list) {
    out.latency.merge(tk.latency);
    out.sent += tk.sent;
    out.delivered += tk.delivered;
    out.acks += tk.acks;
    out.open += tk.open;
    out.elu = Math.max(out.elu, tk.elu);
  }
  return out;
}

/** The phase a second ending at `end` (ms) belongs to. */
const phaseOf = (end: number, mFrom: number, mTo: number): 'warmup' | 'measure' | 'drain' =>
  end <= mFrom ? 'warmup' : end <= mTo + 1 ? 'measure' : 'drain';

export async function runLoad(plan: LoadPlan, opts: RunOptions = {}): Promise<LoadOutcome> {
  const n = plan.rooms.length;
  if (n === 0) throw new RangeError('a plan needs at least one connection');
  const warmupMs = plan.warmupMs ?? 1000;
  const drainMs = plan.drainMs ?? 3000;
  const quietMs = plan.quietMs ?? 300;
  const W = Math.max(1, Math.min(opts.workers ?? availableParallelism(), n));
  const log = opts.log ?? (() => undefined);
  const senders = new Set(plan.senders);
  for (const s of senders) if (!(s >= 0 && s < n)) throw new RangeError(`sender ${s} is not a connection`);
  const churners = new Set(plan.churners ?? []);
  if (plan.wire === 'socketio' && ((plan.protocol ?? 'veza.json') !== 'veza.json' || (plan.auth ?? 'none') !== 'none')) {
    // Socket.IO's default parser is JSON, and its token rides in the connect packet.
    throw new RangeError('the socketio wire takes neither a protocol nor an auth mode (JSON, token in the connect packet)');
  }

  // Connection i goes to worker i % W: senders and room members end up spread over all workers.
  const shares: WorkerConnPlan[][] = Array.from({ length: W }, () => []);
  for (let i = 0; i < n; i++) {
    const token = plan.tokens && plan.tokens.length > 0 ? plan.tokens[i % plan.tokens.length] : undefined;
    const cp: WorkerConnPlan = { index: i, rooms: plan.rooms[i] ?? [], sends: senders.has(i) };
    if (token !== undefined) cp.token = token;
    const peer = plan.dmPeers?.[i];
    if (peer !== undefined) cp.dmPeer = peer;
    const pos = plan.positions?.[i];
    if (pos !== undefined) cp.positions = pos;
    const exp = plan.expectEvents?.[i];
    if (exp !== undefined) cp.expectEvents = exp;
    if (churners.has(i)) cp.churns = true;
    (shares[i % W] as WorkerConnPlan[]).push(cp);
  }

  const workers: Worker[] = [];
  const ready: ReadyMessage[] = [];
  const done: DoneMessage[] = [];
  const ticks = new Map<number, TickMessage[]>();
  let closed = 0;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const until = async (cond: () => boolean) => {
    while (!cond()) {
      if (failure) throw failure;
      await new Promise<void>((r) => (wake = r));
    }
    if (failure) throw failure;
  };
  const fail = (e: Error) => {
    failure ??= e;
    notify();
  };
  const progress = new Map<number, { connected: number; failed: number }>();
  // Set once the run starts; the per-second summary reads them.
  let startAt = 0;
  let mFrom = 0;
  let mTo = 0;
  const samples: Sample[] = [];
  const summarise = (k: number, list: TickMessage[]) => {
    const m = mergeTicks(list);
    const end = startAt + (k + 1) * 1000;
    const a = samples[k];
    const b = samples[k + 1] ?? takeSample(opts.serverPid);
    const dt = a ? (b.at - a.at) / 1000 : 0;
    opts.onTick?.({
      t: k + 1,
      phase: phaseOf(end, mFrom, mTo),
      sent: m.sent,
      delivered: m.delivered,
      acks: m.acks,
      p99_ms: m.latency.percentile(99) / 1000,
      open: m.open,
      elu_max: m.elu,
      server_cpu: a?.proc && b.proc && dt > 0 ? (b.proc.cpuS - a.proc.cpuS) / dt : null,
      server_rss_mb: b.proc ? b.proc.rssMb : null,
    });
  };

  const url = cohortWorkerUrl();
  for (let w = 0; w < W; w++) {
    const worker = new Worker(url, { execArgv: workerExecArgv(url) });
    worker.on('message', (m: WorkerToMain) => {
      switch (m.type) {
        case 'progress':
          progress.set(m.worker, { connected: m.connected, failed: m.failed });
          break;
        case 'ready':
          ready.push(m);
          break;
        case 'tick': {
          const list = ticks.get(m.k) ?? [];
          list.push(m);
          ticks.set(m.k, list);
          if (list.length === W && opts.onTick) summarise(m.k, list);
          break;
        }
        case 'done':
          done.push(m);
          break;
        case 'closed':
          closed++;
          break;
        case 'fatal':
          fail(new Error(`cohort worker ${m.worker}: ${m.message}`));
          break;
      }
      notify();
    });
    worker.on('error', (e) => fail(e));
    worker.on('exit', (code) => {
      if (closed < W) fail(new Error(`cohort worker ${w} exited with ${code} before the end`));
    });
    workers.push(worker);
  }
  const postAll = (m: MainToWorker) => {
    for (const w of workers) w.postMessage(m);
  };

  const perWorkerConcurrency = Math.max(1, Math.floor((plan.connectConcurrency ?? 128) / W));
  try {
    workers.forEach((worker, w) => {
      const start: StartMessage = {
        type: 'start',
        worker: w,
        url: plan.url,
        wire: plan.wire ?? 'veza',
        protocol: plan.protocol ?? 'veza.json',
        auth: plan.auth ?? 'none',
        conns: shares[w] as WorkerConnPlan[],
        ratePerSender: plan.ratePerSender,
        payloadBytes: plan.payloadBytes ?? 64,
        ack: plan.ack ?? true,
        clientIds: plan.clientIds ?? false,
        mode: plan.mode ?? 'load',
        send: plan.send ?? 'room',
        window: plan.window ?? 0,
        connectConcurrency: perWorkerConcurrency,
        handshakeTimeoutMs: plan.handshakeTimeoutMs ?? 15_000,
        setupTimeoutMs: plan.setupTimeoutMs ?? 60_000,
        ...(plan.mix ? { mix: plan.mix } : {}),
        ...(plan.churnOnlineMs ? { churnOnlineMs: plan.churnOnlineMs } : {}),
      };
      worker.postMessage(start);
    });
    log(`bench: ${n} ${inPlace(plan.mode) ? 'connections' : 'clients'} on ${W} worker threads`);
    const progressTimer = setInterval(() => {
      let c = 0;
      let f = 0;
      for (const p of progress.values()) {
        c += p.connected;
        f += p.failed;
      }
      log(`bench: connected ${c}/${n}${f > 0 ? `, ${f} failed` : ''}`);
    }, 2000);
    try {
      await until(() => ready.length === W);
    } finally {
      clearInterval(progressTimer);
    }

    const members = new Map<number, number>();
    const errors: Record<string, number> = {};
    const addErrors = (e: Record<string, number>) => {
      for (const [k, v] of Object.entries(e)) errors[k] = (errors[k] ?? 0) + v;
    };
    const connectHist = new Histogram();
    let connected = 0;
    let failed = 0;
    let joined = 0;
    let setupMs = 0;
    for (const r of ready) {
      r.rooms.forEach((room, i) => members.set(room, (members.get(room) ?? 0) + (r.members[i] ?? 0)));
      connected += r.connected;
      failed += r.failed;
      joined += r.joined;
      setupMs = Math.max(setupMs, r.setupMs);
      connectHist.merge(r.connectUs);
    }
    if (inPlace(plan.mode)) log(`bench: ${connected}/${n} connected, ${joined} joined, set-up ${Math.round(setupMs)} ms`);
    else log(`bench: ${n} ${plan.mode === 'churn' ? 'churn slots' : 'clients'} start together`);

    // Start a little ahead so every worker has the `go` before the first send is due.
    startAt = nowMs() + 200;
    mFrom = startAt + warmupMs;
    mTo = mFrom + plan.durationMs;
    let atFrom: Sample | undefined;
    let atTo: Sample | undefined;
    let sampling = true;
    let sampleTimer: NodeJS.Timeout | undefined;
    const boundary = (k: number) => startAt + k * 1000;
    const sampleAt = (k: number) => {
      sampleTimer = setTimeout(() => {
        if (!sampling) return;
        samples[k] = takeSample(opts.serverPid);
        sampleAt(k + 1);
      }, Math.max(0, boundary(k) - nowMs()));
    };
    sampleAt(0);
    const fromTimer = setTimeout(() => (atFrom = takeSample(opts.serverPid, true)), Math.max(0, mFrom - nowMs()));
    const toTimer = setTimeout(() => (atTo = takeSample(opts.serverPid, true)), Math.max(0, mTo - nowMs()));
    postAll({ type: 'go', startAt, warmupMs, durationMs: plan.durationMs, drainMs, quietMs });
    try {
      await until(() => done.length === W);
    } finally {
      sampling = false;
      clearTimeout(sampleTimer);
      clearTimeout(fromTimer);
      clearTimeout(toTimer);
    }
    atFrom ??= takeSample(opts.serverPid, true);
    atTo ??= takeSample(opts.serverPid, true);

    // Totals.
    const latency = new Histogram();
    const ackLatency = new Histogram();
    const opLatency: Partial<Record<MixedOp, Histogram>> = {};
    const sentByRoom = new Map<number, number>();
    let sent = 0;
    let delivered = 0;
    let acks = 0;
    let lagMax = 0;
    let dropped = 0;
    let selfExpected: number | null = null;
    const counters: Record<string, number> = {};
    const elus: number[] = [];
    for (const d of done) {
      if (d.expected !== null) selfExpected = (selfExpected ?? 0) + d.expected;
      for (const [key, v] of Object.entries(d.counters)) counters[key] = (counters[key] ?? 0) + v;
      d.sentRooms.forEach((room, i) => sentByRoom.set(room, (sentByRoom.get(room) ?? 0) + (d.sentCounts[i] ?? 0)));
      sent += d.sent;
      delivered += d.delivered;
      acks += d.acks;
      latency.merge(d.latency as HistogramSnapshot);
      ackLatency.merge(d.ackLatency as HistogramSnapshot);
      for (const [op, h] of Object.entries(d.opLatency ?? {}) as Array<[MixedOp, HistogramSnapshot]>) (opLatency[op] ??= new Histogram()).merge(h);
      lagMax = Math.max(lagMax, d.lagMaxMs);
      dropped += d.dropped;
      elus[d.worker] = d.elu;
    }
    // Worker errors are cumulative (set-up included): the last report of each is the total.
    for (const d of done) addErrors(d.errors);
    const own = plan.senderReceivesOwn ?? true;
    let expected = 0;
    for (const [room, count] of sentByRoom) expected += count * Math.max(0, (members.get(room) ?? 0) - (own ? 0 : 1));
    if (selfExpected !== null) expected = selfExpected;

    const windowS = (atTo.at - atFrom.at) / 1000 || plan.durationMs / 1000;
    const clientCpu = cpuSeconds(atFrom.cpu, atTo.cpu);
    const cpus = availableParallelism();
    const serverCpu = atFrom.proc && atTo.proc ? atTo.proc.cpuS - atFrom.proc.cpuS : null;
    const threadCpu = atFrom.threads && atTo.threads ? byRole(threadCpuByName(atFrom.threads, atTo.threads)) : null;
    const eluMax = elus.length ? Math.max(...elus.map((e) => e ?? 0)) : 0;

    // Timeline.
    const timeline: TimelinePoint[] = [];
    const lastK = Math.max(-1, ...ticks.keys());
    for (let k = 0; k <= lastK; k++) {
      const m = mergeTicks(ticks.get(k) ?? []);
      const a = samples[k];
      const b = samples[k + 1];
      const dt = a && b ? (b.at - a.at) / 1000 : 0;
      const end = boundary(k + 1);
      timeline.push({
        t: k + 1,
        phase: phaseOf(end, mFrom, mTo),
        sent: m.sent,
        throughput: m.delivered,
        acks: m.acks,
        p50_ms: m.latency.percentile(50) / 1000,
        p99_ms: m.latency.percentile(99) / 1000,
        server_cpu: a?.proc && b?.proc && dt > 0 ? (b.proc.cpuS - a.proc.cpuS) / dt : null,
        server_rss_mb: b?.proc ? b.proc.rssMb : null,
        client_cpu: a && b && dt > 0 ? cpuSeconds(a.cpu, b.cpu) / dt : 0,
        elu_max: m.elu,
        open: m.open,
      });
    }
    const rssPeak = samples.reduce((m, s) => Math.max(m, s?.proc?.rssMb ?? 0), atTo.proc?.rssMb ?? 0);

    const outcome: LoadOutcome = {
      workers: W,
      connections: { planned: n, connected, failed, joined, setup_ms: setupMs, connect_ms: scale(connectHist.percentiles(), 1e-3) },
      window_s: windowS,
      sent,
      delivered,
      expected,
      delivery_ratio: expected === 0 ? null : delivered / expected,
      sent_per_s: sent / windowS,
      throughput_per_s: delivered / windowS,
      acks,
      latency,
      ackLatency,
      ...(plan.mode === 'mixed' ? { opLatency } : {}),
      errors,
      server: {
        cpu_s: serverCpu,
        cpu_us_per_delivery: serverCpu !== null && delivered > 0 ? (serverCpu * 1e6) / delivered : null,
        cpu_by_thread: threadCpu !== null && delivered > 0 ? mapRoles(threadCpu, (s) => (s * 1e6) / delivered) : null,
        rss_mb: atTo.proc ? atTo.proc.rssMb : null,
        rss_peak_mb: opts.serverPid === undefined ? null : rssPeak,
      },
      client: {
        cpu_s: clientCpu,
        cpu_util: clientCpu / windowS / cpus,
        cores_used: clientCpu / windowS,
        worker_elu: elus.map((e) => e ?? 0),
        worker_elu_max: eluMax,
        lag_max_ms: lagMax,
        saturated: eluMax >= 0.9,
        lagging: lagMax > 50,
      },
      dropped,
      counters,
      timeline,
    };

    postAll({ type: 'close' });
    await until(() => closed === W);
    return outcome;
  } finally {
    // Cohort workers hold no uWS App, so terminating them is safe.
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function scale(p: Percentiles, f: number): Percentiles {
  return { p50: p.p50 * f, p90: p.p90 * f, p99: p.p99 * f, p999: p.p999 * f, max: p.max * f };
}

/* ---------- plan shapes ---------- */

export interface ShapeCommon {
  url: string;
  durationMs: number;
  warmupMs?: number;
  payloadBytes?: number;
  wire?: WireName;
  protocol?: Codec;
  auth?: AuthMode;
  tokens?: string[];
}

/** One room of `members`, the first `senders` connections sending `totalRate` msg/s together. */
export function fanoutPlan(o: ShapeCommon & { members: number; senders: number; totalRate: number; roomId?: number }): LoadPlan {
  const room = o.roomId ?? 1;
  return {
    ...o,
    rooms: Array.from({ length: o.members }, () => [room]),
    senders: Array.from({ length: Math.min(o.senders, o.members) }, (_, i) => i),
    ratePerSender: o.totalRate / Math.min(o.senders, o.members),
  };
}

/** `conns` connections in rooms of `roomSize` (consecutive connections share a room), all sending. */
export function roomsPlan(o: ShapeCommon & { conns: number; roomSize: number; totalRate: number; roomIds?: number[] }): LoadPlan {
  const roomOf = (i: number) => {
    const r = Math.floor(i / o.roomSize);
    return o.roomIds ? (o.roomIds[r] as number) : r + 1;
  };
  return {
    ...o,
    rooms: Array.from({ length: o.conns }, (_, i) => [roomOf(i)]),
    senders: Array.from({ length: o.conns }, (_, i) => i),
    ratePerSender: o.totalRate / o.conns,
  };
}

/** `conns` connections that join nothing and send nothing: memory per idle connection. */
export function idlePlan(o: ShapeCommon & { conns: number }): LoadPlan {
  return { ...o, rooms: Array.from({ length: o.conns }, () => []), senders: [], ratePerSender: 0, ack: false };
}

/**
 * Pairs over direct conversations: connection i opens (`create_dm`) the conversation with
 * `userIds[i ^ 1]` at set-up, and every connection sends `send_dm` there; both sides of a pair
 * get each message. `userIds[i]` is connection i's own user (its token's).
 */
export function dmPlan(o: ShapeCommon & { userIds: number[]; totalRate: number }): LoadPlan {
  const n = o.userIds.length - (o.userIds.length % 2);
  if (n < 2) throw new RangeError('dmPlan needs at least one pair of users');
  return {
    ...o,
    rooms: Array.from({ length: n }, () => []),
    senders: Array.from({ length: n }, (_, i) => i),
    ratePerSender: o.totalRate / n,
    send: 'dm',
    dmPeers: Array.from({ length: n }, (_, i) => o.userIds[i ^ 1] as number),
  };
}

/** Closed-loop ingest: `conns` senders in rooms of `roomSize`, each keeping `window` sends in flight. */
export function ingestPlan(o: ShapeCommon & { conns: number; roomSize: number; window: number; roomIds?: number[] }): LoadPlan {
  return { ...roomsPlan({ ...o, totalRate: 0 }), window: Math.max(1, o.window) };
}

/** `slots` connections that connect, authenticate and close in a loop (churn). */
export function churnPlan(o: ShapeCommon & { slots: number }): LoadPlan {
  return { ...o, rooms: Array.from({ length: o.slots }, () => []), senders: [], ratePerSender: 0, ack: false, mode: 'churn' };
}

/** A reconnect storm: connection i connects at `go` and resumes `positions[i]`, expecting `expectEvents[i]` events. */
export function resumePlan(o: ShapeCommon & { positions: Array<Record<string, number>>; expectEvents: number[] }): LoadPlan {
  return {
    ...o,
    rooms: o.positions.map(() => []),
    senders: [],
    ratePerSender: 0,
    ack: false,
    mode: 'resume',
    warmupMs: 0,
  };
}

/**
 * The realistic mix (issue 16), per 100 operations: 60 messages, 15 typing, 10 reactions, 10 read
 * markers, 3 edits, 2 deletes.
 */
export const DEFAULT_MIX: Readonly<Record<MixedOp, number>> = {
  send_message: 60,
  typing: 15,
  add_reaction: 10,
  mark_read: 10,
  edit_message: 3,
  delete_message: 2,
};

/** Where `conns` connections sit in a mixed workload: `rooms[r]` lists room r's members, `connRooms[i]` connection i's rooms (indices into `rooms`). */
export interface MixedLayout {
  rooms: number[][];
  connRooms: number[][];
}

/** A small deterministic PRNG (mulberry32): the same layout for the same size on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Rooms of mixed sizes for `conns` connections, each in 1 to 3 rooms (half in 1, 30 % in 2, 20 % in
 * 3): three large rooms of 30 %, 20 % and 10 % of the connections (hundreds of members from 1,000
 * connections), a long tail of mid-sized rooms (11 to 60 members, smaller ones likelier) taking
 * about a quarter of the memberships, and small rooms of 2 to 10 for the rest. Deterministic for a
 * given `conns` and `seed`; every room has at least 2 members (when `conns` ≥ 2).
 */
export function mixedLayout(conns: number, seed = 16): MixedLayout {
  const rand = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const want = Array.from({ length: conns }, () => {
    const x = rand();
    return Math.min(conns > 1 ? 3 : 1, x < 0.5 ? 1 : x < 0.8 ? 2 : 3);
  });
  const slots = want.reduce((a, k) => a + k, 0);
  const sizes: number[] = [];
  for (const share of [0.3, 0.2, 0.1]) {
    const size = Math.floor(conns * share);
    if (size >= 2) sizes.push(size);
  }
  let used = sizes.reduce((a, v) => a + v, 0);
  // The long tail: sizes ∝ 1/size between 11 and 60 (as many as fit in a quarter of the memberships).
  const tailMax = Math.min(60, Math.floor(conns / 4));
  if (tailMax > 11) {
    const tailEnd = used + Math.floor(slots * 0.25);
    while (used < tailEnd) {
      const size = Math.min(tailMax, Math.round(11 * (tailMax / 11) ** rand()));
      sizes.push(size);
      used += size;
    }
  }
  while (used < slots) {
    const size = Math.min(int(2, 10), Math.max(2, slots - used));
    sizes.push(size);
    used += size;
  }
  // Fill the rooms from the largest, each with distinct connections that still want a room, the
  // ones wanting the most first (random among equals): nobody ends up in no room.
  const left = [...want];
  const rooms: number[][] = [];
  const connRooms: number[][] = Array.from({ length: conns }, () => []);
  const order = Array.from({ length: conns }, (_, i) => i);
  sizes.sort((a, b) => b - a);
  for (const size of sizes) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    const pick = order
      .filter((c) => (left[c] as number) > 0)
      .sort((a, b) => (left[b] as number) - (left[a] as number))
      .slice(0, size);
    if (pick.length < 2) break;
    const r = rooms.length;
    rooms.push(pick);
    for (const c of pick) {
      left[c] = (left[c] as number) - 1;
      (connRooms[c] as number[]).push(r);
    }
  }
  // Whoever is still in no room (a tiny `conns`): into the smallest room.
  for (let c = 0; c < conns; c++) {
    if ((connRooms[c] as number[]).length > 0 || rooms.length === 0) continue;
    let smallest = 0;
    for (let r = 1; r < rooms.length; r++) if ((rooms[r] as number[]).length < (rooms[smallest] as number[]).length) smallest = r;
    (rooms[smallest] as number[]).push(c);
    (connRooms[c] as number[]).push(smallest);
  }
  return { rooms, connRooms };
}

/**
 * The mixed workload: `conns` connections in the rooms of `layout` (room r's id is `roomIds[r]`),
 * `churnShare` of them (at least one) closing and reconnecting during the run, the others sending
 * the `mix` of operations at `totalRate` operations per second together. Deliveries counted are
 * `message` events to the other members (not the sender's own copy).
 */
export function mixedPlan(
  o: ShapeCommon & { conns: number; totalRate: number; layout: MixedLayout; roomIds: number[]; mix?: MixWeights; churnShare?: number; churnOnlineMs?: [number, number] },
): LoadPlan {
  const share = o.churnShare ?? 0.02;
  const nChurn = o.conns < 4 || share <= 0 ? 0 : Math.max(1, Math.round(o.conns * share));
  // Spread the churners over the connection indices (and so over the rooms and the workers).
  const churners = Array.from({ length: nChurn }, (_, k) => Math.floor(((k + 0.5) * o.conns) / nChurn));
  const churning = new Set(churners);
  const senders = Array.from({ length: o.conns }, (_, i) => i).filter((i) => !churning.has(i));
  const { layout, roomIds, mix, churnShare: _share, churnOnlineMs, ...common } = o;
  return {
    ...common,
    rooms: layout.connRooms.map((rs) => rs.map((r) => roomIds[r] as number)),
    senders,
    ratePerSender: senders.length > 0 ? o.totalRate / senders.length : 0,
    mode: 'mixed',
    senderReceivesOwn: false,
    mix: { ...(mix ?? DEFAULT_MIX) },
    churners,
    ...(churnOnlineMs ? { churnOnlineMs } : {}),
  };
}

/** The operations a mix sends (weight > 0), in MIXED_OPS's order. */
export const mixedOps = (mix: MixWeights): MixedOp[] => MIXED_OPS.filter((op) => (mix[op] ?? 0) > 0);
