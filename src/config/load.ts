import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { configSchema, type Config } from './schema.js';

/** A configuration problem: names the key and what was expected. Start-up stops on it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Tree = { [key: string]: unknown };

/** Environment variable → configuration path, and how to read its text. One table, no magic. */
const ENV: ReadonlyArray<readonly [name: string, path: string, kind: 'string' | 'int' | 'list' | 'bool']> = [
  ['DATABASE_URL', 'database.url', 'string'],
  ['DATABASE_REPLICA_URL', 'database.replicaUrl', 'string'],
  ['REDIS_URL', 'redis.url', 'string'],
  ['JWT_SECRET', 'auth.jwtSecret', 'string'],
  ['VEZA_HOST', 'server.host', 'string'],
  ['VEZA_PORT', 'server.port', 'int'],
  ['VEZA_FRONTS', 'server.fronts', 'int'],
  ['VEZA_SHARDS', 'server.shards', 'int'],
  ['VEZA_ORIGIN_ALLOWLIST', 'server.originAllowlist', 'list'],
  ['VEZA_DATA_DIR', 'dataDir', 'string'],
  ['VEZA_DB_POOL_SIZE', 'database.poolSize', 'int'],
  ['VEZA_SCRYPT_LOG_N', 'auth.scryptLogN', 'int'],
  ['VEZA_MAX_FRAME_BYTES', 'limits.maxFrameBytes', 'int'],
  ['VEZA_MAX_CONTENT_CHARS', 'limits.maxContentChars', 'int'],
  ['VEZA_HEARTBEAT_MS', 'ws.heartbeatMs', 'int'],
  ['VEZA_IDLE_TIMEOUT_MS', 'ws.idleTimeoutMs', 'int'],
  ['VEZA_AUTH_TIMEOUT_MS', 'ws.authTimeoutMs', 'int'],
  ['VEZA_COMMIT_WINDOW_MS', 'runtime.commitWindowMs', 'int'],
  ['VEZA_COMMIT_INTERVAL_MS', 'runtime.commitIntervalMs', 'int'],
  ['VEZA_SHARD_NAP_MS', 'runtime.shardNapMs', 'int'],
  ['VEZA_WORKER_YOUNG_GENERATION_MB', 'runtime.workerYoungGenerationMb', 'int'],
  ['VEZA_PGLITE_CHECKPOINT_MB', 'database.pgliteCheckpointMb', 'int'],
  ['VEZA_PGLITE_FSYNC', 'database.pgliteFsync', 'bool'],
  ['VEZA_LOG_LEVEL', 'log.level', 'string'],
  ['VEZA_LOG_PRETTY', 'log.pretty', 'bool'],
  ['VEZA_METRICS_LISTEN', 'metrics.listen', 'string'],
  ['VEZA_ADMIN_TOKEN', 'admin.token', 'string'],
];

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Later layers win key by key; arrays and scalars replace. */
function mergeLayers(...layers: Tree[]): Tree {
  const out: Tree = {};
  for (const layer of layers) mergeInto(out, layer);
  return out;
}

function mergeInto(target: Tree, src: Tree): void {
  for (const [key, value] of Object.entries(src)) {
    if (value === undefined) continue;
    const cur = target[key];
    if (isTree(value)) {
      const base = isTree(cur) ? cur : {};
      target[key] = base;
      mergeInto(base, value);
    } else {
      target[key] = value;
    }
  }
}

function envLayer(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  for (const [name, path, kind] of ENV) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (kind === 'int') {
      const n = Number(raw);
      // Leave a non-number as text: the schema then names the key and says a number was expected.
      setPath(tree, path, /^-?\d+$/.test(raw.trim()) ? n : raw);
    } else if (kind === 'bool') {
      // true/false (or 1/0); anything else stays text, and the schema names the key.
      const v = raw.trim().toLowerCase();
      setPath(tree, path, v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : raw);
    } else if (kind === 'list') {
      setPath(tree, path, raw.split(',').map((s) => s.trim()).filter(Boolean));
    } else {
      setPath(tree, path, raw);
    }
  }
  return tree;
}

function fileLayer(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`configuration file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isTree(parsed)) throw new ConfigError(`configuration file ${file} must hold a JSON object`);
  return parsed;
}

function describe(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${key}.` : '';
    return `unknown key ${issue.keys.map((k) => prefix + k).join(', ')}`;
  }
  return `${key}: ${issue.message}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export interface LoadOptions {
  /** Path given with --config. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, already shaped as the configuration tree. */
  flags?: Tree;
}

/** Validate the layers once; the result is frozen. Throws ConfigError naming every bad key. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const layers: Tree[] = [];
  if (opts.file) layers.push(fileLayer(opts.file));
  layers.push(envLayer(opts.env ?? process.env));
  if (opts.flags) layers.push(opts.flags);
  const result = configSchema.safeParse(mergeLayers(...layers));
  if (!result.success) {
    throw new ConfigError(`invalid configuration: ${result.error.issues.map(describe).join('; ')}`);
  }
  const config = result.data;
  config.dataDir = resolve(config.dataDir);
  return deepFreeze(config);
}

export const embedded = (config: Config): boolean => config.database.url === undefined;

export interface SecretResolution {
  secret: string;
  /** Set when a new secret was generated and written to the data directory. */
  generatedAt?: string;
}

/**
 * The JWT secret. With PostgreSQL every node must share one: a missing or short secret is refused.
 * Embedded, a random 256-bit secret is created once and kept in the data directory.
 */
export function resolveJwtSecret(config: Config): SecretResolution {
  const given = config.auth.jwtSecret;
  if (!embedded(config)) {
    if (given === undefined) throw new ConfigError('auth.jwtSecret (JWT_SECRET): required when database.url is set');
    if (Buffer.byteLength(given) < 32) {
      throw new ConfigError('auth.jwtSecret (JWT_SECRET): expected at least 32 bytes when database.url is set');
    }
    return { secret: given };
  }
  if (given !== undefined) return { secret: given };
  const file = join(config.dataDir, 'jwt-secret');
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept.length >= 43) return { secret: kept };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return { secret, generatedAt: file };
}

/** The configuration for display: secrets and passwords in URLs redacted. */
export function redactedConfig(config: Config): unknown {
  const redactUrl = (u: string | undefined) => {
    if (u === undefined) return undefined;
    try {
      const url = new URL(u);
      if (url.password) url.password = '***';
      return url.toString();
    } catch {
      return '***';
    }
  };
  return {
    ...config,
    database: { ...config.database, url: redactUrl(config.database.url), replicaUrl: redactUrl(config.database.replicaUrl) },
    redis: { ...config.redis, url: redactUrl(config.redis.url) },
    auth: { ...config.auth, jwtSecret: config.auth.jwtSecret === undefined ? undefined : '***' },
    admin: { ...config.admin, token: config.admin.token === undefined ? undefined : '***' },
  };
}
