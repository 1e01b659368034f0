/**
 * The veza-chat server under test, as the bench starts it: a child process of the built CLI
 * (`node bin/veza-chat.js start`), on a loopback port chosen by the server, with a data directory
 * and a configuration file the bench writes (rate limits raised, cheap scrypt, a known JWT secret
 * so the bench can sign tokens for the users it seeds). Its pid is what /proc is read for.
 *
 * The child is the real server: same entry, same threads, same store. Nothing is stubbed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { PACKAGE_ROOT } from '../src/paths.js';

/** bin/veza-chat.js of this package (from bench/ or dist/bench/ alike). */
function cliEntry(): string {
  return join(PACKAGE_ROOT, 'bin', 'veza-chat.js');
}

/** The bench's per-user budget for every rate-limited action: no limit in practice. */
export const BENCH_PER_MINUTE = 100_000_000;

export interface BenchConfigOptions {
  jwtSecret: string;
  /** Default 10, the lowest the schema accepts: users are made fast; logins are not what is measured. */
  scryptLogN?: number;
  /** Per-user operations per minute for every rate-limited action. Default 100,000,000 (no limit in practice). */
  perMinute?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Extra configuration merged on top (e.g. from the operator's --server-config). */
  extra?: Record<string, unknown>;
}

/**
 * The server configuration the bench runs with. Only what stands between a load generator and
 * the server changes: per-user rate limits (a bench user sends thousands a minute), scrypt cost,
 * the rooms-per-user cap, token lifetime; everything else is the default configuration.
 */
export function benchServerConfig(o: BenchConfigOptions): Record<string, unknown> {
  const n = o.perMinute ?? BENCH_PER_MINUTE;
  const base: Record<string, unknown> = {
    // The bench registers its users from one address: no per-source login budget.
    auth: { jwtSecret: o.jwtSecret, scryptLogN: o.scryptLogN ?? 10, accessTtlS: 86_400, sourceAttemptsPerMinute: 100_000_000, hashPerSource: 100_000, hashMaxQueued: 100_000 },
    limits: {
      perMinute: Object.fromEntries(Object.keys(configSchema.parse({}).limits.perMinute).map((k) => [k, n])),
      roomsPerUser: 10_000,
      // A bench socket sends far more than a person's client (ingest keeps 8 in flight, closed loop).
      framesPerSecond: 100_000_000,
      // Thousands of bench sockets come from one address, and many of its users are minutes old.
      connectionsPerUser: 1_000_000,
      connectionsPerSource: 1_000_000,
      adaptive: { newAccountFactor: 1 },
    },
    // Bench senders repeat their texts: not spam to detect here.
    content: { repeatLimit: 1_000_000 },
    log: { level: o.logLevel ?? 'warn' },
  };
  return o.extra ? mergeConfig(base, o.extra) : base;
}

export function writeBenchConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
}

export const newJwtSecret = (): string => randomBytes(48).toString('base64url');

/** `b` over `a`, objects merged key by key (arrays and values replaced). */
export function mergeConfig(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? mergeConfig(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export interface VezaServerOptions {
  dataDir: string;
  configFile: string;
  databaseUrl?: string;
  fronts?: number;
  shards?: number;
  /** Node flags for the server process (e.g. `--cpu-prof --cpu-prof-dir=DIR`). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  /** Every line the server writes on stderr (its logs). */
  onLog?: (line: string) => void;
}

export interface VezaServer {
  readonly pid: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `ws://127.0.0.1:<port>/ws` */
  readonly wsUrl: string;
  /** The server's last stderr lines (for a failure message). */
  logTail(): string[];
  /** SIGTERM (graceful), SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

const TAIL = 40;

export function spawnVeza(o: VezaServerOptions): Promise<VezaServer> {
  const args = [...(o.nodeArgs ?? []), cliEntry(), 'start', '--port', '0', '--host', '127.0.0.1', '--data-dir', o.dataDir, '--config', o.configFile];
  if (o.databaseUrl) args.push('--database-url', o.databaseUrl);
  if (o.fronts !== undefined) args.push('--fronts', String(o.fronts));
  if (o.shards !== undefined) args.push('--shards', String(o.shards));
  // The configuration file says everything: environment variables of the operator's shell that
  // the server reads (VEZA_*, DATABASE_URL, JWT_SECRET) would silently override it.
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env) };
  for (const k of Object.keys(env)) if (k.startsWith('VEZA_') || k === 'DATABASE_URL' || k === 'JWT_SECRET' || k === 'REDIS_URL') delete env[k];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const tail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
    o.onLog?.(line);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`veza-chat did not start within ${o.startTimeoutMs ?? 60_000} ms${tailText(tail)}`));
    }, o.startTimeoutMs ?? 60_000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(line);
      if (!m || child.pid === undefined) return;
      clearTimeout(timer);
      const url = (m[1] as string).replace(/\/$/, '');
      const port = Number(new URL(url).port);
      let stopping: Promise<number | null> | null = null;
      resolve({
        pid: child.pid,
        port,
        url,
        wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
        logTail: () => [...tail],
        stop(graceMs = 20_000) {
          stopping ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGTERM');
              const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
              const code = await exited;
              clearTimeout(t);
              return code;
            }
            return exited;
          })();
          return stopping;
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`veza-chat exited with ${code} before listening${tailText(tail)}`));
    });
  });
}

const tailText = (tail: string[]) => (tail.length ? `; its last lines:\n  ${tail.slice(-10).join('\n  ')}` : '');
