/**
 * scrypt password hashes in a self-describing format:
 *
 *   scrypt$<logN>$<r>$<p>$<salt base64>$<hash base64>
 *
 * so the cost can be raised later without invalidating stored hashes. Pure (node:crypto only):
 * this module also runs inside the CPU pool's worker threads.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** N = 2^logN. */
  logN: number;
  r: number;
  p: number;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds on what a stored hash may ask for, so a corrupt row cannot ask for gigabytes. */
const LIMITS = { logN: [1, 24], r: [1, 64], p: [1, 16] } as const;

function checkParams({ logN, r, p }: ScryptParams): void {
  const ok = (v: number, [lo, hi]: readonly [number, number]) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!ok(logN, LIMITS.logN) || !ok(r, LIMITS.r) || !ok(p, LIMITS.p)) {
    throw new RangeError(`scrypt parameters out of range: logN=${logN} r=${r} p=${p}`);
  }
}

function derive(password: string, salt: Buffer, { logN, r, p }: ScryptParams, keylen: number): Promise<Buffer> {
  const N = 2 ** logN;
  // Node refuses when 128*N*r exceeds maxmem (32 MiB by default, less than logN 17 with r 8 needs).
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * 2 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: ScryptParams): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return ['scrypt', params.logN, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface Decoded extends ScryptParams {
  salt: Buffer;
  key: Buffer;
}

export function decodeHash(encoded: string): Decoded | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [logN, r, p] = parts.slice(1, 4).map((s) => (/^\d{1,3}$/.test(s) ? Number(s) : NaN)) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length === 0 || key.length < 16 || key.length > 64) return null;
  try {
    checkParams({ logN, r, p });
  } catch {
    return null; // out of bounds: treated as a hash that matches nothing
  }
  return { logN, r, p, salt, key };
}

/** False for a wrong password and for a hash this module cannot read (never throws on input). */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const d = decodeHash(encoded);
  if (!d) return false;
  const key = await derive(password, d.salt, d, d.key.length);
  return timingSafeEqual(key, d.key);
}
