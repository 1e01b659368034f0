/**
 * Structured logs through pino: one JSON object per line on stderr, with `level` (as a word),
 * `time`, `thread` (main, front-0, shard-1…), and the bindings of each logger (`role`, `index`,
 * `component`, and where they apply the request, connection, user and actor ids the call sites
 * pass). The call sites keep this module's small interface: `log.info(msg, fields)`, `child()`.
 *
 * Secrets are redacted twice, by configuration (`configureLogging`): by field (pino's `redact`,
 * the paths below plus `log.redact`) and by value (the secrets the configuration holds: the JWT
 * secret, the admin token, passwords in database and Redis URLs are replaced wherever they appear
 * in a line, an error message included). Tested in test/live-observability.ts.
 *
 * Each thread writes synchronously to fd 2 (`pino.destination({ sync: true })`): no transport
 * thread per worker, and a line is out before a crash. `log.pretty` prints for a terminal through
 * pino-pretty, a devDependency (a developer's checkout has it; a production install logs JSON and
 * says so once): no hand-written formatter to keep up with pino's output.
 */
import { createRequire } from 'node:module';
import { threadId } from 'node:worker_threads';
import { pino, type DestinationStream, type Logger as Pino } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: Infinity };

/** Fields redacted wherever they are (top level, or one object down: `fields.user.password`). */
export const REDACT_PATHS: readonly string[] = [
  'password',
  'new_password',
  'newPassword',
  'token',
  'access_token',
  'refresh_token',
  'accessToken',
  'refreshToken',
  'jwtSecret',
  'secret',
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
].flatMap((p) => [p, `*.${p}`]);

export interface LogSettings {
  level: Level;
  pretty?: boolean;
  /** More pino paths to redact. */
  redact?: readonly string[];
  /** Values never to print (secrets from the configuration). */
  secrets?: readonly string[];
}

let threshold = RANK[(process.env.VEZA_LOG_LEVEL as Level | undefined) ?? 'info'] ?? RANK.info;
let threadName = threadId === 0 ? 'main' : `thread-${threadId}`;
let settings: LogSettings = { level: 'info' };
let root: Pino | null = null;
/** Bumped when the root changes: loggers made before re-derive their pino child. */
let generation = 0;
let warnedPretty = false;

export function setLogLevel(level: Level): void {
  threshold = RANK[level];
}

/** Name this thread in every line (`front-0`); the supervisor's names. */
export function setLogThread(name: string): void {
  threadName = name;
  root = null;
  generation++;
}

/** Level, redaction and format from the configuration (`log.*`), and the secrets never to print. */
export function configureLogging(next: LogSettings): void {
  settings = { ...next, secrets: (next.secrets ?? []).filter((s) => s.length >= 4) };
  setLogLevel(next.level);
  root = null;
  generation++;
}

/** The secrets a configuration holds, for `configureLogging`. */
export function configSecrets(config: { auth: { jwtSecret?: string | undefined }; admin?: { token?: string | undefined }; database: { url?: string | undefined; replicaUrl?: string | undefined }; redis: { url?: string | undefined } }): string[] {
  const out: string[] = [];
  if (config.auth.jwtSecret) out.push(config.auth.jwtSecret);
  if (config.admin?.token) out.push(config.admin.token);
  for (const url of [config.database.url, config.database.replicaUrl, config.redis.url]) {
    if (!url) continue;
    try {
      const u = new URL(url);
      if (u.password) out.push(decodeURIComponent(u.password), u.password);
    } catch {
      // not a URL: the schema refuses those anyway
    }
  }
  return out;
}

function scrub(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[Redacted]');
  // The same secret as JSON escapes it (a `"` or `\` in it): look for that form too.
  for (const s of secrets) {
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s && out.includes(escaped)) out = out.split(escaped).join('[Redacted]');
  }
  return out;
}

function prettyStream(): DestinationStream | null {
  try {
    const pretty = createRequire(import.meta.url)('pino-pretty') as (opts: object) => DestinationStream;
    return pretty({ sync: true, destination: 2, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,thread', messageFormat: '[{thread}] {msg}' });
  } catch {
    return null;
  }
}

function makeRoot(): Pino {
  const secrets = settings.secrets ?? [];
  let dest: DestinationStream | null = settings.pretty ? prettyStream() : null;
  const fellBack = settings.pretty === true && dest === null;
  dest ??= pino.destination({ dest: 2, sync: true });
  const p = pino(
    {
      level: 'trace', // filtering is ours (`threshold`), shared by every logger of the thread
      base: { thread: threadName },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS, ...(settings.redact ?? [])], censor: '[Redacted]' },
      serializers: { err: pino.stdSerializers.err },
      ...(secrets.length > 0 ? { hooks: { streamWrite: (s: string) => scrub(s, secrets) } } : {}),
    },
    dest,
  );
  if (fellBack && !warnedPretty) {
    warnedPretty = true;
    p.warn('log.pretty is set but pino-pretty is not installed (a devDependency): logging JSON');
  }
  return p;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

class PinoLogger implements Logger {
  readonly #bindings: Record<string, unknown>;
  #pino: Pino | null = null;
  #generation = -1;

  constructor(bindings: Record<string, unknown>) {
    this.#bindings = bindings;
  }

  #p(): Pino {
    if (this.#pino === null || this.#generation !== generation) {
      root ??= makeRoot();
      this.#pino = Object.keys(this.#bindings).length > 0 ? root.child(this.#bindings) : root;
      this.#generation = generation;
    }
    return this.#pino;
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    if (threshold > RANK.debug) return;
    if (fields === undefined) this.#p().debug(msg);
    else this.#p().debug(fields, msg);
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    if (threshold > RANK.info) return;
    if (fields === undefined) this.#p().info(msg);
    else this.#p().info(fields, msg);
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    if (threshold > RANK.warn) return;
    if (fields === undefined) this.#p().warn(msg);
    else this.#p().warn(fields, msg);
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    if (threshold > RANK.error) return;
    if (fields === undefined) this.#p().error(msg);
    else this.#p().error(fields, msg);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new PinoLogger({ ...this.#bindings, ...bindings });
  }
}

export function createLogger(bindings: Record<string, unknown> = {}): Logger {
  return new PinoLogger(bindings);
}

export const log = createLogger();
