/**
 * scrypt password hashes in a self-describing format:
 *
 *   scrypt$<logN>$<r>$<p>$<salt base64>$<hash base64>
 *
 * so the cost can be raised later without invalidating stored hashes. Pure (node:crypto only),
 * the one place the format lives. Two ways to run it: the synchronous pair runs inside the CPU
 * pool's worker threads (src/runtime/cpu-tasks.ts), where blocking is the job; the async pair runs
 * on libuv's thread pool for callers without a CPU pool (the CLI, tests).
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** N = 2^logN. */
  logN: number;
  r: number;
  p: number;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/**
 * What a stored hash may ask for, and a cap on scrypt's memory (128·N·r) so a corrupt row cannot
 * make a thread allocate more than 1 GiB.
 */
const LIMITS = { logN: [1, 24], r: [1, 64], p: [1, 16] } as const;
const MAX_MEMORY = 2 ** 30;

function paramsOk({ logN, r, p }: ScryptParams): boolean {
  const ok = (v: number, [lo, hi]: readonly [number, number]) => Number.isInteger(v) && v >= lo && v <= hi;
  return ok(logN, LIMITS.logN) && ok(r, LIMITS.r) && ok(p, LIMITS.p) && 128 * 2 ** logN * r <= MAX_MEMORY;
}

function checkParams(params: ScryptParams): void {
  if (!paramsOk(params)) {
    throw new RangeError(`scrypt parameters out of range: logN=${params.logN} r=${params.r} p=${params.p}`);
  }
}

/** scrypt needs 128·N·r bytes for its table plus 128·r·p for its blocks; OpenSSL refuses below that. */
function scryptMaxmem({ logN, r, p }: ScryptParams): number {
  return 128 * r * (2 ** logN + p + 2) + 1024 * 1024;
}

const options = (params: ScryptParams): ScryptOptions => ({ N: 2 ** params.logN, r: params.r, p: params.p, maxmem: scryptMaxmem(params) });

function format(params: ScryptParams, salt: Buffer, key: Buffer): string {
  return ['scrypt', params.logN, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export interface Decoded extends ScryptParams {
  salt: Buffer;
  key: Buffer;
}

/** A stored hash's parts; null when it is not one this module can verify. */
export function decodeHash(encoded: string): Decoded | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [logN, r, p] = parts.slice(1, 4).map((s) => (/^\d{1,3}$/.test(s) ? Number(s) : NaN)) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length === 0 || key.length < 16 || key.length > 64 || !paramsOk({ logN, r, p })) return null;
  return { logN, r, p, salt, key };
}

export async function hashPassword(password: string, params: ScryptParams): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options(params), (err, k) => (err ? reject(err) : resolve(k))),
  );
  return format(params, salt, key);
}

/** False for a wrong password and for a hash this module cannot read (never throws on input). */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const d = decodeHash(encoded);
  if (!d) return false;
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFC'), d.salt, d.key.length, options(d), (err, k) => (err ? reject(err) : resolve(k))),
  );
  return timingSafeEqual(key, d.key);
}

export function hashPasswordSync(password: string, params: ScryptParams): string {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  return format(params, salt, scryptSync(password.normalize('NFC'), salt, KEY_BYTES, options(params)));
}

export function verifyPasswordSync(password: string, encoded: string): boolean {
  const d = decodeHash(encoded);
  if (!d) return false;
  return timingSafeEqual(scryptSync(password.normalize('NFC'), d.salt, d.key.length, options(d)), d.key);
}
