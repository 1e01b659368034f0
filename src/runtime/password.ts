/**
 * Password hashing with scrypt, in a self-describing format so the cost can rise later without
 * breaking stored hashes: `scrypt$<log2 N>$<r>$<p>$<salt, base64>$<key, base64>`. Verification
 * re-derives with the stored parameters and compares with `timingSafeEqual`.
 *
 * These run synchronously on purpose: they are called inside the CPU pool's worker threads
 * (cpu-tasks.ts), where blocking is the job; the async `crypto.scrypt` would move the work onto
 * libuv's small shared thread pool instead, outside the pool's bounds.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { ChatError } from '../errors.js';

export interface ScryptParams {
  /** N = 2^logN. */
  logN: number;
  r: number;
  p: number;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/**
 * What a stored hash may ask for: the same bounds as src/auth/scrypt.ts (hashes made there, e.g.
 * at a low cost in tests, verify here), plus a cap on scrypt's memory (128·N·r) so a corrupt row
 * cannot make a pool thread allocate more than 1 GiB.
 */
const LIMITS = { logN: [1, 24], r: [1, 64], p: [1, 16] } as const;
const MAX_MEMORY = 2 ** 30;

function paramsOk(params: ScryptParams): boolean {
  for (const key of ['logN', 'r', 'p'] as const) {
    const v = params[key];
    const [min, max] = LIMITS[key];
    if (!Number.isInteger(v) || v < min || v > max) return false;
  }
  return 128 * 2 ** params.logN * params.r <= MAX_MEMORY;
}

/** scrypt needs 128·N·r bytes for its table plus 128·r·p for its blocks; OpenSSL refuses below that. */
export function scryptMaxmem(params: ScryptParams): number {
  return 128 * params.r * (2 ** params.logN + params.p + 2) + 1024 * 1024;
}

function derive(password: string, salt: Buffer, params: ScryptParams, keyBytes: number): Buffer {
  return scryptSync(password.normalize('NFC'), salt, keyBytes, {
    N: 2 ** params.logN,
    r: params.r,
    p: params.p,
    maxmem: scryptMaxmem(params),
  });
}

export function hashPasswordSync(password: string, params: ScryptParams, salt: Buffer = randomBytes(SALT_BYTES)): string {
  if (!paramsOk(params)) {
    throw new ChatError('internal', `scrypt parameters out of range: logN=${params.logN} r=${params.r} p=${params.p}`);
  }
  const key = derive(password, salt, params, KEY_BYTES);
  return `scrypt$${params.logN}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

/** Parse a stored hash; null when it is not one this module can verify. */
export function parsePasswordHash(encoded: string): ParsedHash | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const num = (s: string | undefined) => (s !== undefined && /^\d{1,3}$/.test(s) ? Number(s) : NaN);
  const params = { logN: num(parts[1]), r: num(parts[2]), p: num(parts[3]) };
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const key = Buffer.from(parts[5] ?? '', 'base64');
  if (!paramsOk(params) || salt.length === 0 || key.length < 16 || key.length > 64) return null;
  return { params, salt, key };
}

/** False for a wrong password, and for a hash it cannot read (never throws on its input). */
export function verifyPasswordSync(password: string, encoded: string): boolean {
  const parsed = parsePasswordHash(encoded);
  if (!parsed) return false;
  const got = derive(password, parsed.salt, parsed.params, parsed.key.length);
  return timingSafeEqual(got, parsed.key);
}

/** True when a stored hash used weaker parameters than `params`, or cannot be read (rehash at the next login). */
export function needsRehash(encoded: string, params: ScryptParams): boolean {
  const parsed = parsePasswordHash(encoded);
  if (!parsed) return true;
  const old = parsed.params;
  return old.logN < params.logN || old.r < params.r || old.p < params.p;
}
