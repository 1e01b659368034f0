/**
 * The suites of `veza-chat bench` and the session they run in.
 *
 * A `BenchSession` owns the target's life: for a server it starts itself (no `--url`), a temp
 * directory with the bench configuration (bench/server.ts) and the data directory, the users
 * seeded once for the whole invocation (bench/users.ts), and one fresh server process per
 * suite run (so each run starts from an idle server and its RSS and CPU are its own); for
 * `--url`, the users come from a tokens file or are registered through REST once. The reference
 * servers are a child process per run: the uWS baseline (bench/uws-baseline.ts, veza's
 * frames) and the Socket.IO server (bench/socketio-server.ts, spoken to over Socket.IO's
 * wire, bench/socketio-frames.ts); their users are made up (`t<N>` tokens nobody checks).
 *
 * Each suite returns BenchResults (result.ts). Shapes:
 * - fanout: one room of `conns` members, the first `senders` sending `rate` msg/s in total;
 * - rooms / latency: `conns` connections in `rooms` rooms (consecutive connections share one),
 *   all sending, `rate` msg/s in total (latency: a low rate, for the distribution);
 * - dm: `conns` connections in pairs, each pair's direct conversation made with `create_dm`,
 *   everyone sending `send_dm`, `rate` msg/s in total;
 * - ingest: `conns` senders in `rooms` rooms, each with `window` sends in flight (closed loop):
 *   the durable messages per second the server sustains;
 * - connections: `conns` idle authenticated connections; RSS per connection above the idle server;
 * - churn: `conns` slots connecting, authenticating and closing in a loop;
 * - resume: `conns` clients, members of `roomsPerConn` of `rooms` rooms, away while `missed`
 *   messages go to each room, then all reconnect at once and `resume`;
 * - mixed: `conns` connections in rooms of mixed sizes (cohort.ts `mixedLayout`), the realistic
 *   mix of operations (messages, typing, reactions, read markers, edits, deletes) at `rate`
 *   operations/s, 2 % of the connections closing and reconnecting (bench/README.md, "mixed");
 * - ring: the runtime's ring micro-benchmark (no server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRingBench } from './ring-bench.js';
import { nowUs } from './clock.js';
import {
  churnPlan,
  DEFAULT_MIX,
  dmPlan,
  mixedLayout,
  mixedOps,
  mixedPlan,
  fanoutPlan,
  idlePlan,
  ingestPlan,
  resumePlan,
  roomsPlan,
  runLoad,
  type LoadOutcome,
  type LoadPlan,
  type TickSummary,
} from './cohort.js';
import type { AuthMode } from './cohort-messages.js';
import { benchContent, decodeEnvelope, envelopeFrame, sendMessageFrame, type Codec, type Envelope } from './frames.js';
import { FLOOD_P99_RATIO, FLOOD_RSS_MB, floodServerConfig, floodUsers, runFlood } from './flood.js';
import { readProc, settledRss } from './proc.js';
import { emptyOutcome, makeResult, planSummary, type BenchResult, type SuiteFigures } from './result.js';
import { BENCH_PER_MINUTE, benchServerConfig, mergeConfig, newJwtSecret, spawnVeza, writeBenchConfig, type VezaServer } from './server.js';
import type { ChildServer } from './child-server.js';
import { SOCKETIO_PATH } from './socketio-frames.js';
import { spawnSocketIoServer } from './socketio-server.js';
import { socketIoVersion } from './socketio-package.js';
import { spawnBaseline } from './uws-baseline.js';
import { createRooms, pool, registerUsers, runPrefix, seedUsers, tokensFromFile, type BenchUser } from './users.js';
import type { WireName } from './wire.js';
import { WsConnection } from './ws-client.js';

import { COMPARABLE_SUITES, unsupported, type ReferenceTarget, type Suite, type TargetKind } from './suite-names.js';

export { COMPARABLE_SUITES, SUITES, TARGET_SUITES, TARGETS, unsupported, type ReferenceTarget, type Suite, type TargetKind } from './suite-names.js';

export interface SuiteParams {
  durationS: number;
  warmupS: number;
  conns: number;
  rooms: number;
  senders: number;
  rate: number;
  size: number;
  window: number;
  missed: number;
  roomsPerConn: number;
  envelopes: number;
  /** ring: round trips timed at the steady rate. */
  roundTrips: number;
}

/** `mixed`'s default rate, operations per second (see bench/README.md for how it was found). */
export const MIXED_RATE = 800;

export const DEFAULTS: Readonly<Record<Suite, Readonly<Partial<SuiteParams>>>> = {
  fanout: { conns: 1000, rooms: 1, senders: 10, rate: 300, durationS: 10, warmupS: 2 },
  rooms: { conns: 2000, rooms: 1000, rate: 10_000, durationS: 10, warmupS: 2 },
  dm: { conns: 200, rate: 1000, durationS: 10, warmupS: 2 },
  latency: { conns: 100, rooms: 50, rate: 100, durationS: 10, warmupS: 2 },
  ingest: { conns: 50, rooms: 10, window: 8, durationS: 10, warmupS: 2 },
  connections: { conns: 15_000, durationS: 3, warmupS: 1 },
  churn: { conns: 20, durationS: 10, warmupS: 1 },
  resume: { conns: 500, rooms: 50, roomsPerConn: 2, missed: 20, durationS: 30 },
  // `rate`: operations per second, the load this 2-core machine sustains within p99 ≤ 50 ms with
  // the load generator beside the server (bench/README.md, "mixed").
  mixed: { conns: 1000, rate: MIXED_RATE, durationS: 10, warmupS: 3 },
  // The victims: the `latency` shape. `durationS`: the flood (the issue's minute).
  flood: { conns: 100, rooms: 50, rate: 100, durationS: 60, warmupS: 2 },
  ring: { envelopes: 1_000_000 },
};

const COMMON: SuiteParams = {
  durationS: 10,
  warmupS: 2,
  conns: 100,
  rooms: 1,
  senders: 1,
  rate: 100,
  size: 64,
  window: 8,
  missed: 20,
  roomsPerConn: 2,
  envelopes: 1_000_000,
  roundTrips: 20_000,
};

/** The suite's defaults under the caller's values. */
export function resolveParams(suite: Suite, given: Partial<SuiteParams>): SuiteParams {
  const p = { ...COMMON, ...DEFAULTS[suite] } as SuiteParams;
  for (const [k, v] of Object.entries(given)) if (v !== undefined) (p as unknown as Record<string, unknown>)[k] = v;
  return p;
}

/** Users a suite run needs (one per connection; churn: one per slot). */
export function usersNeeded(suite: Suite, p: SuiteParams): number {
  return suite === 'ring' ? 0 : suite === 'flood' ? floodUsers(p) : p.conns;
}

export interface RunSettings {
  /** veza's encoding, on veza and the uWS baseline (Socket.IO speaks its JSON parser). */
  protocol: Codec;
  /** Authentication for veza; the baseline ignores tokens, Socket.IO gets its token in the connect packet. Default header. */
  auth: AuthMode;
  workers?: number;
  connectConcurrency?: number;
  /** Every send carries a fresh `client_id` (cohort.ts). Default false. */
  clientIds?: boolean;
}

/* ---------- the session ---------- */

export interface SessionOptions {
  /** A running server (`http://host:port`); unset: the bench starts its own. */
  url?: string;
  tokensFile?: string;
  createUsers?: number;
  /** pid of the `--url` server on this machine, for its CPU and RSS. */
  serverPid?: number;
  databaseUrl?: string;
  fronts?: number;
  shards?: number;
  /** Node flags for a self-started server (e.g. --cpu-prof). */
  serverNodeArgs?: string[];
  /** Configuration merged into the self-started server's (JSON object). */
  serverConfig?: Record<string, unknown>;
  /** Keep the temp directory (data, configuration) at the end. */
  keepData?: boolean;
  /** Operator messages (stderr). */
  log: (line: string) => void;
  /** The one-line progress display (stderr; overwritten on a TTY). */
  progress: (line: string) => void;
  /** End the progress line. */
  progressDone: () => void;
}

export interface RunningTarget {
  kind: TargetKind;
  /** How the cohorts speak to it (wire.ts). */
  wire: WireName;
  httpUrl: string;
  /** The WebSocket URL the cohorts connect to (Socket.IO: its websocket transport's). */
  wsUrl: string;
  pid: number | undefined;
  users: BenchUser[];
  /** Rooms for a suite: created through REST by `owners[r]` (veza), plain numbers (reference servers). */
  rooms(count: number, owners: readonly BenchUser[]): Promise<number[]>;
  describe: Record<string, unknown>;
  /** What a self-started server logged at warn and error level since it started. */
  serverLog?: ServerLog;
}

export interface ServerLog {
  errors: number;
  warnings: number;
  /** The first distinct messages (error level first). */
  samples: string[];
}

/** Count a server's JSON log lines by level and keep a few distinct messages. */
function serverLogCollector(): { log: ServerLog; onLine: (line: string) => void } {
  const log: ServerLog = { errors: 0, warnings: 0, samples: [] };
  const seen = new Set<string>();
  return {
    log,
    onLine(line) {
      let level = 'error';
      let msg = line;
      try {
        const v = JSON.parse(line) as { level?: string; msg?: string; err?: { message?: string } };
        level = v.level ?? 'info';
        msg = `${v.msg ?? ''}${v.err?.message ? `: ${v.err.message}` : ''}`;
      } catch {
        // Not a log line (a crash trace): counted as an error.
      }
      if (level === 'error') log.errors++;
      else if (level === 'warn') log.warnings++;
      else return;
      const key = `${level}: ${msg}`.slice(0, 300);
      if (!seen.has(key) && seen.size < 5) {
        seen.add(key);
        log.samples.push(key);
      }
    },
  };
}

export class BenchSession {
  readonly opts: SessionOptions;
  readonly prefix = runPrefix();
  #dir: string | null = null;
  #configFile = '';
  #secret = newJwtSecret();
  #users: BenchUser[] = [];
  #children = new Set<{ pid: number; stop(): Promise<number | null> }>();
  #roomsMade = 0;

  constructor(opts: SessionOptions) {
    this.opts = opts;
  }

  get external(): boolean {
    return this.opts.url !== undefined;
  }

  /** Self-started: the users (seeded once, more only when a later suite needs more). */
  async prepare(users: number): Promise<void> {
    if (this.external || users <= this.#users.length) return;
    if (this.#dir === null) {
      this.#dir = mkdtempSync(join(tmpdir(), 'veza-bench-'));
      this.#configFile = join(this.#dir, 'config.json');
      writeBenchConfig(
        this.#configFile,
        benchServerConfig({ jwtSecret: this.#secret, ...(this.opts.serverConfig ? { extra: this.opts.serverConfig } : {}) }),
      );
    }
    const more = users - this.#users.length;
    this.opts.log(`bench: creating ${more} users (store rows with one scrypt hash, tokens signed with the server's secret)`);
    const seeded = await seedUsers({
      configFile: this.#configFile,
      dataDir: join(this.#dir, 'data'),
      ...(this.opts.databaseUrl ? { databaseUrl: this.opts.databaseUrl } : {}),
      count: more,
      prefix: `${this.prefix}${this.#users.length > 0 ? `x${this.#users.length}` : ''}`,
      jwtSecret: this.#secret,
      log: this.opts.log,
    });
    this.#users.push(...seeded);
  }

  async #externalUsers(need: number): Promise<BenchUser[]> {
    if (this.#users.length === 0) {
      if (this.opts.tokensFile) this.#users = tokensFromFile(this.opts.tokensFile);
      else if (this.opts.createUsers && this.opts.createUsers > 0) {
        this.#users = await registerUsers(this.opts.url as string, this.opts.createUsers, this.prefix, this.opts.log);
      } else throw new Error('--url needs --tokens-file FILE or --create-users N (the server checks tokens)');
      if (this.#users.length === 0) throw new Error('no users: the tokens file is empty');
    }
    if (this.#users.length < need) {
      this.opts.log(`bench: warning: ${need} connections share ${this.#users.length} users (connection i uses user i mod ${this.#users.length})`);
    }
    return this.#users;
  }

  /**
   * Run `fn` against a target: started for it and stopped after, or the `--url` server.
   * `serverConfig`: a self-started veza server's configuration over the bench's (the operator's
   * `--server-config` still on top).
   */
  async withTarget<T>(kind: TargetKind, need: number, fn: (t: RunningTarget) => Promise<T>, serverConfig?: Record<string, unknown>): Promise<T> {
    if (kind !== 'veza') return this.#withReference(kind, need, fn);
    if (this.external) {
      const base = (this.opts.url as string).replace(/\/+$/, '');
      const users = await this.#externalUsers(need);
      return fn({
        kind: 'veza',
        wire: 'veza',
        httpUrl: base,
        wsUrl: `${base.replace(/^http/, 'ws')}/ws`,
        pid: this.opts.serverPid,
        users,
        rooms: (count, owners) => createRooms(base, owners, count, `${this.prefix}r${this.#nextRoomBatch()}`),
        describe: { server: base, server_pid: this.opts.serverPid ?? null },
      });
    }
    await this.prepare(need);
    const dir = this.#dir as string;
    const collector = serverLogCollector();
    const server: VezaServer = await spawnVeza({
      onLog: collector.onLine,
      dataDir: join(dir, 'data'),
      configFile: serverConfig ? this.#configWith(serverConfig) : this.#configFile,
      ...(this.opts.databaseUrl ? { databaseUrl: this.opts.databaseUrl } : {}),
      ...(this.opts.fronts !== undefined ? { fronts: this.opts.fronts } : {}),
      ...(this.opts.shards !== undefined ? { shards: this.opts.shards } : {}),
      ...(this.opts.serverNodeArgs ? { nodeArgs: this.opts.serverNodeArgs } : {}),
    });
    this.#children.add(server);
    let failed = false;
    try {
      return await fn({
        kind: 'veza',
        wire: 'veza',
        httpUrl: server.url,
        wsUrl: server.wsUrl,
        pid: server.pid,
        users: this.#users,
        rooms: (count, owners) => createRooms(server.url, owners, count, `${this.prefix}r${this.#nextRoomBatch()}`),
        serverLog: collector.log,
        describe: {
          server: 'self-started (bin/veza-chat.js start)',
          store: this.opts.databaseUrl ? 'postgres' : 'pglite (embedded)',
          fronts: this.opts.fronts ?? 'default',
          shards: this.opts.shards ?? 'default',
        },
      });
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      this.#children.delete(server);
      const code = await server.stop();
      if (code !== 0) {
        const tail = server.logTail().slice(-10);
        this.opts.log(`bench: the server exited with ${code}${failed ? '' : ' after the run'}${tail.length ? `; its last lines:\n  ${tail.join('\n  ')}` : ''}`);
      }
    }
  }

  /**
   * A reference server in a child process, with made-up users (`t<N>` tokens: the baseline
   * ignores them, the Socket.IO server takes N as the user's id) and rooms as plain numbers.
   */
  async #withReference<T>(kind: ReferenceTarget, need: number, fn: (t: RunningTarget) => Promise<T>): Promise<T> {
    const child: ChildServer = kind === 'socketio' ? await spawnSocketIoServer({ port: 0 }) : await spawnBaseline({ port: 0 });
    this.#children.add(child);
    const url = `http://127.0.0.1:${child.port}`;
    const fake: BenchUser[] = Array.from({ length: Math.max(1, need) }, (_, i) => ({ id: i + 1, username: `u${i + 1}`, token: `t${i + 1}` }));
    try {
      return await fn({
        kind,
        wire: kind === 'socketio' ? 'socketio' : 'veza',
        httpUrl: url,
        wsUrl: kind === 'socketio' ? `ws://127.0.0.1:${child.port}${SOCKETIO_PATH}` : `ws://127.0.0.1:${child.port}/ws`,
        pid: child.pid,
        users: fake,
        rooms: async (count) => {
          const base = this.#roomsMade;
          this.#roomsMade += count;
          return Array.from({ length: count }, (_, r) => base + r + 1);
        },
        describe:
          kind === 'socketio'
            ? { server: `socket.io ${socketIoVersion()} on node:http (child process; websocket transport, in-memory adapter)` }
            : { server: 'uws-baseline (child process)' },
      });
    } finally {
      this.#children.delete(child);
      await child.stop();
    }
  }

  /** A configuration file: the bench's, then `overlay`, then the operator's `--server-config`. */
  #configWith(overlay: Record<string, unknown>): string {
    const file = join(this.#dir as string, `config-${++this.#configs}.json`);
    const extra = this.opts.serverConfig ? mergeConfig(overlay, this.opts.serverConfig) : overlay;
    writeBenchConfig(file, benchServerConfig({ jwtSecret: this.#secret, extra }));
    return file;
  }
  #configs = 0;

  /** A child of a suite's (the flooder): killed with the servers on a signal. Returns its release. */
  track(child: { pid: number; stop(): Promise<unknown> }): () => void {
    const c = { pid: child.pid, stop: async () => ((await child.stop()), null) };
    this.#children.add(c);
    return () => this.#children.delete(c);
  }

  #batch = 0;
  #nextRoomBatch(): number {
    return ++this.#batch;
  }

  /** Stop whatever is still running and remove the temp directory. */
  async close(): Promise<void> {
    await Promise.all([...this.#children].map((c) => c.stop()));
    this.#children.clear();
    if (this.#dir !== null && !this.opts.keepData) rmSync(this.#dir, { recursive: true, force: true });
    else if (this.#dir !== null) this.opts.log(`bench: kept ${this.#dir}`);
  }

  /** For a signal: kill the children now (synchronously). */
  killNow(): void {
    for (const c of this.#children) {
      try {
        process.kill(c.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  }
}

/* ---------- running suites ---------- */

export interface SuiteContext {
  session: BenchSession;
  settings: RunSettings;
}

/**
 * Run one suite on one target and, for each reference server of `compareWith` (the target itself
 * excepted), on the same shape just before and just after it: the target's result first, with its
 * server CPU per delivery against the mean of each reference's two runs
 * (`server_cpu_ratio_vs_baseline`, `..._vs_socketio`), then each reference's second run. The
 * machine's speed drifts (the baseline alone ranged over ±15% within an hour on the 2-core VM),
 * and one reference run after the target put that drift into the ratio; when the two runs differ
 * by more than DRIFT the result says so.
 */
export async function runSuite(
  suite: Suite,
  target: TargetKind,
  given: Partial<SuiteParams>,
  ctx: SuiteContext,
  compareWith: readonly ReferenceTarget[] = [],
): Promise<BenchResult[]> {
  const p = resolveParams(suite, given);
  if (suite === 'ring') return [await runRing(p, ctx)];
  const refused = unsupported(target, suite);
  if (refused !== null) throw new Error(refused);
  if (target === 'socketio' && ctx.settings.protocol !== 'veza.json') {
    throw new Error(`the socketio target speaks Socket.IO's JSON parser: --protocol ${ctx.settings.protocol.replace('veza.', '')} does not apply`);
  }
  const need = usersNeeded(suite, p);
  // The flood runs against the default limits (the bench raises them all otherwise).
  const config = suite === 'flood' ? floodServerConfig(BENCH_PER_MINUTE) : undefined;
  const run = (kind: TargetKind) => ctx.session.withTarget(kind, need, (t) => runOn(suite, t, p, ctx), config);
  const refs = COMPARABLE_SUITES.has(suite) ? compareWith.filter((ref) => ref !== target) : [];
  const before = new Map<ReferenceTarget, number | null>();
  for (const ref of refs) before.set(ref, (await run(ref)).figures.server.cpu_us_per_delivery);
  const main = await run(target);
  const results = [main];
  for (const ref of refs) {
    const r = await run(ref);
    const runs = [before.get(ref) ?? null, r.figures.server.cpu_us_per_delivery];
    const known = runs.filter((v): v is number => v !== null && v > 0);
    const b = known.length > 0 ? round(known.reduce((x, y) => x + y, 0) / known.length, 3) : null;
    const a = main.figures.server.cpu_us_per_delivery;
    const ratio = a !== null && b !== null ? round(a / b, 3) : null;
    if (known.length === 2 && Math.abs(known[0]! - known[1]!) / b! > DRIFT) {
      (main.notes ??= []).push(
        `the ${ref} runs before and after this one used ${known[0]} and ${known[1]} µs per delivery: the machine's speed drifted; the ratio uses their mean`,
      );
    }
    if (ref === 'uws-baseline') {
      main.figures.baseline_cpu_us_per_delivery = b;
      main.figures.baseline_cpu_us_per_delivery_runs = runs;
      main.figures.server_cpu_ratio_vs_baseline = ratio;
    } else {
      main.figures.socketio_cpu_us_per_delivery = b;
      main.figures.socketio_cpu_us_per_delivery_runs = runs;
      main.figures.server_cpu_ratio_vs_socketio = ratio;
    }
    results.push(r);
  }
  return results;
}

/** Relative difference between a reference's two runs past which the result notes the drift. */
const DRIFT = 0.15;

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

async function runOn(suite: Exclude<Suite, 'ring'>, t: RunningTarget, p: SuiteParams, ctx: SuiteContext): Promise<BenchResult> {
  const veza = t.kind === 'veza';
  const sio = t.wire === 'socketio';
  const users = t.users;
  const tokens = users.map((u) => u.token);
  const common = {
    url: t.wsUrl,
    durationMs: Math.round(p.durationS * 1000),
    warmupMs: Math.round(p.warmupS * 1000),
    payloadBytes: p.size,
    wire: t.wire,
    // Socket.IO: JSON, and the token in the connect packet (it names the user for DMs).
    ...(sio ? {} : { protocol: ctx.settings.protocol }),
    auth: veza ? ctx.settings.auth : ('none' as AuthMode),
    ...(veza || sio ? { tokens } : {}),
    ...(ctx.settings.connectConcurrency ? { connectConcurrency: ctx.settings.connectConcurrency } : {}),
    ...(ctx.settings.clientIds ? { clientIds: true } : {}),
  };
  const userAt = (i: number) => users[i % users.length] as BenchUser;
  const log = ctx.session.opts.log;
  const label = `${suite}/${t.kind}`;

  switch (suite) {
    case 'fanout': {
      const [roomId] = await t.rooms(1, [userAt(0)]);
      const plan = fanoutPlan({ ...common, members: p.conns, senders: p.senders, totalRate: p.rate, roomId: roomId as number });
      return execute(suite, t, plan, ctx, label, { members: p.conns });
    }
    case 'rooms':
    case 'latency': {
      const size = Math.max(1, Math.ceil(p.conns / Math.max(1, p.rooms)));
      const count = Math.ceil(p.conns / size);
      log(`bench: ${label}: creating ${count} rooms`);
      const roomIds = await t.rooms(count, Array.from({ length: count }, (_, r) => userAt(r * size)));
      const plan = roomsPlan({ ...common, conns: p.conns, roomSize: size, totalRate: p.rate, roomIds });
      return execute(suite, t, plan, ctx, label, { room_size: size });
    }
    case 'ingest': {
      const size = Math.max(1, Math.ceil(p.conns / Math.max(1, p.rooms)));
      const count = Math.ceil(p.conns / size);
      const roomIds = await t.rooms(count, Array.from({ length: count }, (_, r) => userAt(r * size)));
      const plan = ingestPlan({ ...common, conns: p.conns, roomSize: size, window: p.window, roomIds });
      return execute(suite, t, plan, ctx, label, { room_size: size }, (out) => ({ ingest_per_s: round(out.acks / out.window_s, 1) }));
    }
    case 'dm': {
      const n = p.conns - (p.conns % 2);
      if (users.length < n) throw new Error(`dm needs ${n} distinct users, there are ${users.length}`);
      const plan = dmPlan({ ...common, userIds: users.slice(0, n).map((u) => u.id), totalRate: p.rate });
      return execute(suite, t, plan, ctx, label, { pairs: n / 2 });
    }
    case 'connections': {
      // The idle RSS of a freshly started server, once it stopped growing (see settledRss).
      const idle = t.pid === undefined ? null : await settledRss(t.pid);
      const plan = idlePlan({ ...common, conns: p.conns });
      return execute(suite, t, plan, ctx, label, {}, (out) => {
        const after = out.server.rss_mb;
        const n = out.connections.connected;
        return {
          rss_idle_mb: idle === null ? null : round(idle, 1),
          rss_kb_per_connection: idle !== null && after !== null && n > 0 ? round(((after - idle) * 1024) / n, 3) : null,
        };
      });
    }
    case 'churn': {
      const plan = churnPlan({
        ...common,
        slots: p.conns,
        // The baseline answers `authenticate` frames (and ignores the token); Socket.IO's
        // namespace connect carries the token, and its acknowledgement is the `authenticated`.
        auth: veza ? ctx.settings.auth : sio ? 'none' : 'frame',
        tokens: veza || sio ? tokens : ['t'],
      });
      return execute(suite, t, plan, ctx, label, {}, (out) => ({ churn_per_s: round((out.counters?.churn_cycles ?? 0) / out.window_s, 1) }));
    }
    case 'resume':
      return runResume(t, p, ctx, common, label);
    case 'mixed':
      return runMixed(t, p, ctx, common, label);
    case 'flood':
      return runFlood(t, p, ctx, common, label);
  }
}

/** Run a plan, print progress, and make the result (with loud notes when the client limited it). */
async function execute(
  suite: Suite,
  t: RunningTarget,
  plan: LoadPlan,
  ctx: SuiteContext,
  label: string,
  config: Record<string, unknown>,
  extra?: (out: LoadOutcome) => SuiteFigures,
): Promise<BenchResult> {
  const { log } = ctx.session.opts;
  const startedAt = new Date();
  const outcome = await loadWithProgress(plan, t, ctx, label);
  const notes = clientNotes(outcome);
  const sl = t.serverLog;
  if (sl && sl.errors + sl.warnings > 0) {
    notes.push(`the server logged ${sl.errors} errors and ${sl.warnings} warnings since it started; first: ${sl.samples.join(' | ')}`);
  }
  for (const n of notes) log(`bench: ${label}: !!! ${n}`);
  return makeResult({
    suite,
    target: t.kind,
    startedAt,
    config: { ...planSummary(plan, { workers: outcome.workers }), ...config, ...t.describe },
    outcome,
    ...(extra ? { extra: extra(outcome) } : {}),
    notes,
  });
}

/** Run a plan against `t` with the session's workers, printing a progress line a second (`onTick` sees each tick first). */
export async function loadWithProgress(plan: LoadPlan, t: RunningTarget, ctx: SuiteContext, label: string, onTick?: (tick: TickSummary) => void): Promise<LoadOutcome> {
  const { log, progress, progressDone } = ctx.session.opts;
  try {
    return await runLoad(plan, {
      ...(ctx.settings.workers ? { workers: ctx.settings.workers } : {}),
      ...(t.pid !== undefined ? { serverPid: t.pid } : {}),
      log,
      onTick: (tick) => {
        onTick?.(tick);
        progress(progressLine(label, tick));
      },
    });
  } finally {
    progressDone();
  }
}

export function clientNotes(out: LoadOutcome): string[] {
  const notes: string[] = [];
  if (out.client.saturated) {
    notes.push(
      `CLIENT BOTTLENECK: the load generator was saturated (busiest cohort thread ${(out.client.worker_elu_max * 100).toFixed(0)} % busy): the figures describe the client as much as the server`,
    );
  }
  if (out.client.lagging) {
    notes.push(
      `CLIENT LAGGING: the send schedule ran up to ${out.client.lag_max_ms.toFixed(0)} ms late while the client threads were not that busy: the CPUs were oversubscribed (server and client share ${out.client.worker_elu.length > 0 ? 'this machine' : 'the machine'}), tail latency includes time the threads were not scheduled`,
    );
  }
  if (out.dropped > 0) notes.push(`${out.dropped} connections closed during the run (see errors)`);
  // Acked sends (ack mode, open loop): a server that fell behind the offered rate.
  if (out.sent > 0 && out.acks > 0 && out.acks < out.sent * 0.95) {
    notes.push(
      `SERVER BEHIND: only ${out.acks} of the ${out.sent} messages sent in the window were acked by the end of the drain (${out.sent_per_s.toFixed(0)} msg/s offered)`,
    );
  }
  // Per second, while sending: deliveries that fell short of what the offered rate implies.
  // (Whole seconds inside the window only: the first and last may straddle its edges.)
  const measure = out.timeline.filter((p) => p.phase === 'measure').slice(1, -1);
  const expectedPerS = out.window_s > 0 ? out.expected / out.window_s : 0;
  if (measure.length >= 2 && expectedPerS > 0) {
    const mean = measure.reduce((a, p) => a + p.throughput, 0) / measure.length;
    if (mean < expectedPerS * 0.9) {
      notes.push(
        `SERVER BEHIND: ${mean.toFixed(0)} deliveries/s arrived while sending, below the ${expectedPerS.toFixed(0)}/s the offered rate implies: a backlog built up (see latency over time)`,
      );
    }
  }
  const last = out.timeline[out.timeline.length - 1];
  if (out.delivery_ratio !== null && out.delivery_ratio < 1 && last && last.phase === 'drain' && last.throughput > 0) {
    notes.push(`deliveries were still arriving when the drain ended (${last.throughput} in its last second): the missing ones were late, not necessarily lost`);
  }
  return notes;
}

const fmtN = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(0));

export function progressLine(label: string, t: TickSummary): string {
  const server = t.server_cpu === null ? '' : ` | server ${t.server_cpu.toFixed(2)} cores ${t.server_rss_mb?.toFixed(0) ?? '?'} MiB`;
  return (
    `${label} ${String(t.t).padStart(3)}s ${t.phase.padEnd(7)} sent ${fmtN(t.sent)}/s delivered ${fmtN(t.delivered)}/s ` +
    `acks ${fmtN(t.acks)}/s p99 ${t.p99_ms.toFixed(1)} ms open ${t.open}${server} | client loop ${(t.elu_max * 100).toFixed(0)} %`
  );
}

/* ---------- mixed ---------- */

async function runMixed(
  t: RunningTarget,
  p: SuiteParams,
  ctx: SuiteContext,
  common: Omit<LoadPlan, 'rooms' | 'senders' | 'ratePerSender'>,
  label: string,
): Promise<BenchResult> {
  const layout = mixedLayout(p.conns);
  const sizes = layout.rooms.map((r) => r.length).sort((a, b) => b - a);
  const memberships = sizes.reduce((a, v) => a + v, 0);
  ctx.session.opts.log(
    `bench: ${label}: creating ${sizes.length} rooms (largest ${sizes.slice(0, 3).join(', ')}; ${sizes.filter((v) => v <= 10).length} of 2..10), ${memberships} memberships`,
  );
  // Each room's owner is its first member's user: the owner is a member anyway.
  const roomIds = await t.rooms(
    layout.rooms.length,
    layout.rooms.map((m) => t.users[(m[0] as number) % t.users.length] as BenchUser),
  );
  const plan = mixedPlan({ ...common, conns: p.conns, totalRate: p.rate, layout, roomIds, mix: DEFAULT_MIX });
  const mix = plan.mix ?? DEFAULT_MIX;
  const shape = {
    mix,
    rooms_total: sizes.length,
    room_sizes: { largest: sizes.slice(0, 3), over_10: sizes.filter((v) => v > 10).length, '2_to_10': sizes.filter((v) => v <= 10).length, memberships },
    churning_connections: plan.churners?.length ?? 0,
  };
  return execute('mixed', t, plan, ctx, label, shape, (out) => {
    const c = out.counters ?? {};
    const ops: NonNullable<SuiteFigures['ops']> = {};
    for (const op of mixedOps(mix)) {
      const h = out.opLatency?.[op];
      const q = h && h.count > 0 ? h.percentiles() : null;
      const ms = (v: number | undefined) => (v === undefined ? null : round(v / 1000, 3));
      let errors = 0;
      for (const [k, v] of Object.entries(out.errors)) if (k.startsWith(`server:${op}:`)) errors += v;
      ops[op] = {
        sent: c[`sent:${op}`] ?? 0,
        acked: c[`acked:${op}`] ?? 0,
        errors,
        substituted: c[`substituted:${op}`] ?? 0,
        p50_ms: ms(q?.p50),
        p99_ms: ms(q?.p99),
        max_ms: ms(q?.max),
      };
    }
    return { ops_per_s: round(out.acks / out.window_s, 1), ops, churn_reconnects: c.churn_reconnects ?? 0 };
  });
}

/* ---------- resume ---------- */

async function runResume(
  t: RunningTarget,
  p: SuiteParams,
  ctx: SuiteContext,
  common: Omit<LoadPlan, 'rooms' | 'senders' | 'ratePerSender'>,
  label: string,
): Promise<BenchResult> {
  const { log } = ctx.session.opts;
  const users = t.users;
  const userAt = (i: number) => users[i % users.length] as BenchUser;
  const R = Math.max(1, p.rooms);
  const perConn = Math.max(1, Math.min(p.roomsPerConn, R));
  log(`bench: ${label}: ${R} rooms, ${p.conns} clients in ${perConn} rooms each, ${p.missed} messages missed per room`);
  const roomIds = await t.rooms(R, Array.from({ length: R }, (_, r) => userAt(r)));
  const memberRooms = Array.from({ length: p.conns }, (_, i) => Array.from({ length: perConn }, (_, k) => roomIds[(i + k) % R] as number));

  // 1. The clients were connected once: they join their rooms (membership), then go away.
  const joined = await runLoad(
    { ...common, rooms: memberRooms, senders: [], ratePerSender: 0, durationMs: 0, warmupMs: 0, drainMs: 200, quietMs: 50, ack: false },
    { ...(ctx.settings.workers ? { workers: ctx.settings.workers } : {}), log },
  );
  // 2. While they are away, each room gets `missed` messages (from its owner), all acked.
  const before = await sendMissed(t.wsUrl, ctx.settings.protocol, roomIds.map((_, r) => userAt(r)), roomIds, p.missed, p.size);
  // 3. Everyone reconnects at once and resumes from where they were.
  const positions = memberRooms.map((rooms) => Object.fromEntries(rooms.map((r) => [String(r), before.get(r) ?? 0])));
  const plan = resumePlan({
    ...common,
    durationMs: Math.round(p.durationS * 1000),
    positions,
    expectEvents: memberRooms.map((rooms) => rooms.length * p.missed),
  });
  // "At once": many more handshakes in flight than a load run's set-up uses.
  plan.connectConcurrency = ctx.settings.connectConcurrency ?? 1024;
  plan.drainMs = 0;
  const r = await execute('resume', t, plan, ctx, label, { rooms_total: R, rooms_per_conn: perConn, missed_per_room: p.missed }, (out) => ({
    resume_clients: p.conns,
    resume_complete: out.counters?.resume_complete ?? 0,
    resumed: out.counters?.resumed ?? 0,
    resumed_recovered: out.counters?.resumed_recovered ?? 0,
    recovered_events: out.delivered,
  }));
  // What went wrong while the clients joined their rooms belongs to the result too.
  for (const [k, v] of Object.entries(joined.errors)) r.errors[`join_phase:${k}`] = v;
  if (joined.connections.joined < p.conns) {
    (r.notes ??= []).push(`only ${joined.connections.joined} of ${p.conns} clients joined all their rooms before going away`);
  }
  return r;
}

/**
 * Send `missed` messages to each room from its owner (a connection of the main thread), waiting
 * for every ack. Returns each room's last seq before them: the position its members resume from.
 */
async function sendMissed(
  wsUrl: string,
  protocol: Codec,
  owners: readonly BenchUser[],
  roomIds: readonly number[],
  missed: number,
  size: number,
): Promise<Map<number, number>> {
  const before = new Map<number, number>();
  const padding = 'x'.repeat(size);
  await pool(roomIds.length, 16, async (r) => {
    const room = roomIds[r] as number;
    const owner = owners[r] as BenchUser;
    const waiters = new Map<string, (env: Envelope) => void>();
    const ws = await WsConnection.connect({
      url: wsUrl,
      protocols: [protocol],
      headers: { Authorization: `Bearer ${owner.token}` },
      onMessage: (buf, isBinary) => {
        const env = decodeEnvelope(protocol, buf, isBinary);
        if (env?.reply_to === undefined) return;
        const w = waiters.get(env.reply_to);
        if (w) {
          waiters.delete(env.reply_to);
          w(env);
        }
      },
    });
    const ask = (id: string, frame: string | Buffer) =>
      new Promise<Envelope>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${id} in room ${room}`)), 30_000);
        waiters.set(id, (env) => {
          clearTimeout(timer);
          resolve(env);
        });
        ws.send(frame);
      });
    try {
      const joined = await ask('j', envelopeFrame(protocol, 'join_room', { room_id: room }, 'j'));
      if (joined.type === 'error') throw new Error(`join room ${room}: ${JSON.stringify(joined.data)}`);
      before.set(room, Number(joined.data?.last_seq ?? 0));
      const replies = await Promise.all(
        Array.from({ length: missed }, (_, k) => ask(`m${k}`, sendMessageFrame(protocol, room, benchContent(r, k + 1, nowUs(), padding), `m${k}`))),
      );
      const bad = replies.find((e) => e.type !== 'ack');
      if (bad) throw new Error(`send to room ${room}: ${JSON.stringify(bad.data)}`);
    } finally {
      ws.close(1000);
    }
  });
  return before;
}

/* ---------- ring ---------- */

async function runRing(p: SuiteParams, ctx: SuiteContext): Promise<BenchResult> {
  const startedAt = new Date();
  ctx.session.opts.progress(`ring: ${p.envelopes.toLocaleString('en-US')} envelopes each way, then round trips...`);
  let r;
  try {
    r = await runRingBench({ envelopes: p.envelopes, roundTrips: p.roundTrips });
  } finally {
    ctx.session.opts.progressDone();
  }
  return makeResult({
    suite: 'ring',
    target: 'runtime',
    startedAt,
    config: { envelopes: r.envelopes, envelope_bytes: r.envelope_bytes, rtt_rate_per_s: r.rtt_rate_per_s, round_trips: p.roundTrips },
    outcome: emptyOutcome(),
    extra: {
      ring_per_s: r.ring_per_s,
      postmessage_per_s: r.postmessage_per_s,
      ratio: r.ratio,
      rtt_us: r.rtt_us,
      counters: {
        rtt_pingpong_p50_us: r.rtt_pingpong_us.p50,
        rtt_pingpong_p99_us: r.rtt_pingpong_us.p99,
        wake_pingpong_p50_us: r.wake_pingpong_us.p50,
        wake_pingpong_p99_us: r.wake_pingpong_us.p99,
      },
    },
  });
}

/* ---------- targets and the summary ---------- */

export interface Verdict {
  what: string;
  ok: boolean;
  detail: string;
}

/**
 * A figure for the summary and the verdicts alike, so the two never round one value differently
 * (`toFixed` rounds the binary value: 2.925 gave 2.92 there and 2.93 in the table).
 */
const n = (v: number | null | undefined, d = 1): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: d });

/** A difference with its sign (+1.5, -0.3). */
const signed = (v: number | null | undefined, d = 1): string => (v === null || v === undefined ? '—' : `${v >= 0 ? '+' : ''}${n(v, d)}`);

/** The issue's targets this result can be held to. */
export function verdicts(r: BenchResult): Verdict[] {
  const f = r.figures;
  const out: Verdict[] = [];
  const p99 = f.latency_ms.p99;
  if (r.target === 'veza' && (r.suite === 'fanout' || r.suite === 'rooms')) {
    if (r.suite === 'fanout') {
      const ratio = f.delivery_ratio;
      out.push({ what: 'fan-out delivery ratio ≥ 0.999', ok: ratio !== null && ratio >= 0.999, detail: ratio === null ? '—' : ratio.toFixed(4) });
    }
    out.push({ what: `${r.suite} p99 ≤ 50 ms`, ok: f.delivered > 0 && p99 <= 50, detail: `${p99} ms` });
    if (f.server_cpu_ratio_vs_baseline !== undefined) {
      const c = f.server_cpu_ratio_vs_baseline;
      out.push({ what: `${r.suite} server CPU/delivery ≤ 1.5× baseline`, ok: c !== null && c <= 1.5, detail: c === null ? '—' : `${n(c, 2)}×` });
    }
  }
  if (r.suite === 'mixed' && r.target === 'veza') {
    out.push({ what: 'mixed delivery p99 ≤ 50 ms', ok: f.delivered > 0 && p99 <= 50, detail: `${p99} ms at ${n(f.ops_per_s, 0)} ops/s` });
    // All acks together: the rarer operations (edits, deletes: a few hundred acks a run) have a
    // p99 made of their 2 or 3 slowest replies, which one stalled second decides. Their own
    // p99s are in `ops`; the worst is named.
    const ops = Object.entries(f.ops ?? {}).filter(([, o]) => o.p99_ms !== null);
    const worst = ops.reduce<[string, number, number] | null>(
      (w, [op, o]) => (w === null || (o.p99_ms as number) > w[1] ? [op, o.p99_ms as number, o.acked] : w),
      null,
    );
    const ackP99 = f.ack_latency_ms.p99;
    out.push({
      what: 'mixed ack p99 ≤ 50 ms, all operations',
      ok: (f.acks ?? 0) > 0 && ackP99 <= 50,
      detail: `${ackP99} ms${worst === null ? '' : ` (worst alone: ${worst[0]} ${worst[1]} ms over ${worst[2]} acks)`}`,
    });
    // Each operation of the mix answered: acked, or (typing, until built) `not_implemented`.
    const missing = Object.entries(f.ops ?? {})
      .filter(([op, o]) => o.acked === 0 && !(op === 'typing' && (r.errors['server:typing:not_implemented'] ?? 0) > 0))
      .map(([op]) => op);
    out.push({ what: 'mixed: every operation acked', ok: missing.length === 0 && Object.keys(f.ops ?? {}).length > 0, detail: missing.length === 0 ? 'all' : `none for ${missing.join(', ')}` });
  }
  if (r.suite === 'connections' && r.target === 'veza') {
    const k = f.rss_kb_per_connection ?? null;
    out.push({
      what: `≤ 4 KB RSS per idle connection (${f.connections.connected} open)`,
      ok: k !== null && k <= 4 && f.connections.connected >= 15_000,
      detail: k === null ? '—' : `${n(k, 2)} KiB`,
    });
  }
  if (r.suite === 'flood' && r.target === 'veza' && f.flood) {
    const fl = f.flood;
    const quiet = (q: { quiet_before: number; quiet_after: number }) => `quiet ${n(q.quiet_before)} and ${n(q.quiet_after)} ms`;
    out.push({
      what: `flood: other users' ack p99 ≤ ${FLOOD_P99_RATIO}× quiet`,
      ok: fl.ack_p99_ratio !== null && fl.ack_p99_ratio <= FLOOD_P99_RATIO && (f.acks ?? 0) > 0,
      detail: `${n(fl.ack_p99_ms.flooded)} ms flooded, ${quiet(fl.ack_p99_ms)}: ${n(fl.ack_p99_ratio, 2)}×`,
    });
    out.push({
      what: `flood: other users' delivery p99 ≤ ${FLOOD_P99_RATIO}× quiet`,
      ok: fl.delivery_p99_ratio !== null && fl.delivery_p99_ratio <= FLOOD_P99_RATIO && f.delivered > 0,
      detail: `${n(fl.delivery_p99_ms.flooded)} ms flooded, ${quiet(fl.delivery_p99_ms)}: ${n(fl.delivery_p99_ratio, 2)}×`,
    });
    out.push({
      what: `flood: server RSS left within ${FLOOD_RSS_MB} MiB of its start`,
      ok: fl.rss_growth_mb !== null && fl.rss_growth_mb <= FLOOD_RSS_MB,
      detail:
        fl.rss_growth_mb === null
          ? '—'
          : `${n(fl.rss_mb.start, 0)} MiB, ${n(fl.rss_mb.end, 0)} after (${signed(fl.rss_growth_mb)}); peak ${n(fl.rss_mb.peak, 0)} (${signed(fl.rss_peak_growth_mb)}), ${n(fl.rss_mb.final, 0)} after the last quiet run`,
    });
    out.push({ what: 'flood: the flooder flooded', ok: (fl.flooder?.sent ?? 0) > 0, detail: `${fl.flooder?.sent ?? 0} frames` });
  }
  if (r.suite === 'ring') {
    out.push({ what: 'ring ≥ 3× postMessage', ok: (f.ratio ?? 0) >= 3, detail: `${f.ratio}×` });
    out.push({ what: 'ring RTT p99 < 100 µs', ok: (f.rtt_us?.p99 ?? Infinity) < 100, detail: `${f.rtt_us?.p99} µs` });
  }
  return out;
}

/** The summary table of a set of results: a header row, then one row per result. */
export function summaryRows(results: readonly BenchResult[]): string[][] {
  const rows = [['suite', 'target', 'throughput/s', 'delivery', 'p50 ms', 'p99 ms', 'srv µs/deliv', 'srv RSS MiB', 'client', 'suite figures']];
  for (const r of results) {
    const f = r.figures;
    const extra: string[] = [];
    if (f.ring_per_s !== undefined) extra.push(`ring ${n(f.ring_per_s, 0)}/s, postMessage ${n(f.postmessage_per_s, 0)}/s, ratio ${f.ratio}, RTT p50 ${f.rtt_us?.p50} µs p99 ${f.rtt_us?.p99} µs`);
    if (f.ingest_per_s !== undefined) extra.push(`ingest ${n(f.ingest_per_s)}/s`);
    if (f.rss_kb_per_connection !== undefined) extra.push(`connections ${f.connections.connected}, ${n(f.rss_kb_per_connection, 2)} KiB/conn (idle ${n(f.rss_idle_mb)} MiB)`);
    if (f.churn_per_s !== undefined) extra.push(`churn ${n(f.churn_per_s)}/s`);
    if (f.ops_per_s !== undefined) {
      const ops = Object.entries(f.ops ?? {}).map(([op, o]) => `${op} ${o.acked}${o.p99_ms === null ? '' : ` ${n(o.p99_ms, 1)}`}`);
      extra.push(`ops ${n(f.ops_per_s, 0)}/s, acked and ack p99 ms: ${ops.join(', ')}; reconnects ${f.churn_reconnects ?? 0}`);
    }
    if (f.flood !== undefined) {
      const fl = f.flood;
      const fs = fl.flooder;
      extra.push(
        `flooded/quiet p99: ack ${n(fl.ack_p99_ms.flooded)}/${n(fl.ack_p99_ms.quiet_before)},${n(fl.ack_p99_ms.quiet_after)} ms (${n(fl.ack_p99_ratio, 2)}×), ` +
          `delivery ${n(fl.delivery_p99_ms.flooded)}/${n(fl.delivery_p99_ms.quiet_before)},${n(fl.delivery_p99_ms.quiet_after)} ms (${n(fl.delivery_p99_ratio, 2)}×); ` +
          `RSS ${signed(fl.rss_growth_mb)} MiB after (peak ${signed(fl.rss_peak_growth_mb)}); flooder ${fs ? `${n(fs.sent, 0)} frames, ${fs.replies} replies (${fs.limited} rate_limited), ${fs.opened} sockets, closes ${JSON.stringify(fs.closes)}, refused ${JSON.stringify(fs.refused)}` : '—'}`,
      );
    }
    if (f.resumed !== undefined) extra.push(`resumed ${f.resumed} (${f.resumed_recovered} recovered), complete ${f.resume_complete}/${f.resume_clients}, events ${f.recovered_events}`);
    const runs = (v: readonly (number | null)[] | undefined) => (v ? ` (runs before and after: ${v.map((x) => n(x, 2)).join(', ')} µs)` : '');
    if (f.server_cpu_ratio_vs_baseline !== undefined) extra.push(`CPU vs baseline ${n(f.server_cpu_ratio_vs_baseline, 2)}×${runs(f.baseline_cpu_us_per_delivery_runs)}`);
    if (f.server_cpu_ratio_vs_socketio !== undefined) extra.push(`CPU vs socket.io ${n(f.server_cpu_ratio_vs_socketio, 2)}×${runs(f.socketio_cpu_us_per_delivery_runs)}`);
    const ring = f.ring_per_s !== undefined;
    const client = f.client.saturated ? 'SATURATED' : f.client.lagging ? 'LAGGING' : ring ? '' : `${(f.client.cpu_util * 100).toFixed(0)} %`;
    rows.push([
      r.suite,
      r.target,
      ring ? '—' : n(f.throughput_per_s, 0),
      f.delivery_ratio === null ? '—' : f.delivery_ratio.toFixed(4),
      ring ? '—' : n(f.latency_ms.p50, 2),
      ring ? '—' : n(f.latency_ms.p99, 2),
      n(f.server.cpu_us_per_delivery, 2),
      n(f.server.rss_mb, 0),
      client,
      extra.join('; '),
    ]);
  }
  return rows;
}

export function formatTable(rows: readonly string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd()).join('\n');
}
