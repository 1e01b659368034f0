/**
 * Bench users and their tokens, three ways:
 *
 * - `seedUsers`: for a server the bench starts itself, before it starts. The users are real rows
 *   (`Store.createUser`, the path registration takes after validation), all with one real scrypt
 *   hash of the bench password (so they can log in), and their access tokens are signed with the
 *   server's own secret by `AccessTokens` (src/auth/jwt.ts), the very code `login` uses. What this
 *   skips is one scrypt per user (at logN 10 still ~2 ms of CPU each on the server, twice with
 *   the login: minutes for 15,000 users), not any check the server makes on a connection.
 * - `registerUsers`: against a running server (`--url --create-users N`): REST register + login.
 * - `tokensFromFile`: one access token per line; the user id is read from the token's claims.
 */
import { readFileSync } from 'node:fs';
import { AccessTokens } from '../src/auth/jwt.js';
import { inlineHasher } from '../src/auth/hasher.js';
import { loadConfig } from '../src/config/index.js';
import { setLogLevel } from '../src/log.js';
import { openStore } from '../src/store/index.js';

export interface BenchUser {
  id: number;
  username: string;
  token: string;
}

export const BENCH_PASSWORD = 'bench-password-not-secret';

/** A short prefix unique to this run, so runs against one database never collide on usernames. */
export function runPrefix(): string {
  return `b${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`;
}

export interface SeedOptions {
  /** The configuration file the server will get (the store and the secret come from it). */
  configFile: string;
  dataDir: string;
  databaseUrl?: string;
  count: number;
  prefix: string;
  jwtSecret: string;
  /** Token lifetime, seconds. Default 6 hours. */
  ttlS?: number;
  concurrency?: number;
  log?: (line: string) => void;
}

/** Create `count` users in the store (the server must not be running on an embedded data dir). */
export async function seedUsers(o: SeedOptions): Promise<BenchUser[]> {
  // Migration notices of the store are info logs: not the bench's output.
  setLogLevel('warn');
  const config = loadConfig({
    file: o.configFile,
    env: {},
    flags: { dataDir: o.dataDir, database: o.databaseUrl ? { url: o.databaseUrl } : {} },
  });
  const hash = await inlineHasher({ logN: config.auth.scryptLogN, r: config.auth.scryptR, p: config.auth.scryptP }).hash(BENCH_PASSWORD);
  const opened = await openStore(config);
  const rows: Array<{ id: number; username: string }> = new Array(o.count);
  try {
    let next = 0;
    let done = 0;
    const t0 = Date.now();
    let lastLog = t0;
    const worker = async () => {
      while (next < o.count) {
        const i = next++;
        const username = `${o.prefix}_${i}`;
        const u = await opened.store.createUser({ username, email: `${username}@bench.invalid`, passwordHash: hash });
        rows[i] = { id: Number(u.id), username: u.username };
        done++;
        if (o.log && Date.now() - lastLog > 2000) {
          lastLog = Date.now();
          o.log(`bench: ${done}/${o.count} users created`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 8) }, worker));
    o.log?.(`bench: ${o.count} users created in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await opened.close();
  }
  const tokens = new AccessTokens(o.jwtSecret, { ttlS: o.ttlS ?? 6 * 3600 });
  const out: BenchUser[] = [];
  for (const r of rows) {
    const signed = await tokens.sign({ id: r.id, username: r.username, role: 'user' });
    out.push({ ...r, token: signed.token });
  }
  return out;
}

/* ---------- REST ---------- */

interface RestReply {
  status: number;
  /** Parsed JSON (or the text when it is not JSON). */
  body: any;
}

async function rest(base: string, method: string, path: string, body?: unknown, token?: string): Promise<RestReply> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: kept as text for the error message.
  }
  return { status: res.status, body: parsed };
}

const restError = (what: string, r: RestReply) => new Error(`${what}: HTTP ${r.status} ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`);

/** Run `fn(i)` for i in [0, n) with at most `concurrency` at a time; results in order. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/** Register and log in `count` users through the REST API of a running server. */
export async function registerUsers(base: string, count: number, prefix: string, log?: (line: string) => void): Promise<BenchUser[]> {
  let done = 0;
  const t0 = Date.now();
  let lastLog = t0;
  const users = await pool(count, 16, async (i) => {
    const username = `${prefix}_${i}`;
    const reg = await rest(base, 'POST', '/api/v1/auth/register', { username, email: `${username}@bench.invalid`, password: BENCH_PASSWORD });
    if (reg.status !== 201) throw restError(`register ${username}`, reg);
    const login = await rest(base, 'POST', '/api/v1/auth/login', { username, password: BENCH_PASSWORD });
    if (login.status !== 200) throw restError(`login ${username}`, login);
    done++;
    if (log && Date.now() - lastLog > 2000) {
      lastLog = Date.now();
      log(`bench: ${done}/${count} users registered`);
    }
    return { id: Number(reg.body.user.id), username, token: String(login.body.access_token) };
  });
  log?.(`bench: ${count} users registered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return users;
}

/** Public rooms through the REST API; room r is created by `owners[r % owners.length]` (its first member). */
export async function createRooms(base: string, owners: readonly BenchUser[], count: number, prefix: string): Promise<number[]> {
  if (owners.length === 0) throw new Error('createRooms needs at least one user');
  return pool(count, 16, async (r) => {
    const owner = owners[r % owners.length] as BenchUser;
    const reply = await rest(base, 'POST', '/api/v1/rooms', { name: `${prefix}-room-${r}`, is_public: true }, owner.token);
    if (reply.status !== 201) throw restError(`create room ${r}`, reply);
    return Number(reply.body.id ?? reply.body.room?.id);
  });
}

/** Access tokens, one per line (blank lines and `#` comments skipped); users from their claims. */
export function tokensFromFile(path: string): BenchUser[] {
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  return lines.map((token, i) => {
    const claims = decodeClaims(token);
    if (!claims) throw new Error(`${path}:${i + 1}: not a veza-chat access token`);
    return { id: claims.user_id, username: claims.username, token };
  });
}

/** The payload of a JWT, unverified (the server verifies; the bench only needs the user id). */
function decodeClaims(token: string): { user_id: number; username: string } | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { user_id?: unknown; username?: unknown };
    if (typeof v.user_id !== 'number' || typeof v.username !== 'string') return null;
    return { user_id: v.user_id, username: v.username };
  } catch {
    return null;
  }
}
