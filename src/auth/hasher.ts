/**
 * How the auth service hashes and checks passwords. scrypt at a real cost takes ~100 ms of CPU, so
 * the node runs it in the CPU pool (src/runtime/cpu-pool.ts, a piscina pool with a bounded queue,
 * which implements this interface); `inlineHasher` runs it on libuv's thread pool in this process,
 * for the CLI and tests.
 */
import { hashPassword, verifyPassword, type ScryptParams } from './scrypt.js';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or an unreadable hash; rejects only when the hasher itself fails (pool full). */
  verify(password: string, encoded: string): Promise<boolean>;
}

export function inlineHasher(params: ScryptParams): PasswordHasher {
  return {
    hash: (password) => hashPassword(password, params),
    verify: (password, encoded) => verifyPassword(password, encoded),
  };
}
