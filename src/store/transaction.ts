/**
 * Transactions on a `pg.Pool` (PostgreSQL, or PGlite behind its adapter), for the store and its
 * maintenance alike.
 */
import type pg from 'pg';
import { log } from '../log.js';

/** BEGIN … COMMIT on one pooled connection; ROLLBACK on any error. Only `c` may be used inside. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken: unknown;
  try {
    await c.query('BEGIN');
    const value = await fn(c);
    await c.query('COMMIT');
    return value;
  } catch (e) {
    await rollback(c, e).catch((re: unknown) => {
      broken = re;
    });
    throw e;
  } finally {
    // A connection whose ROLLBACK failed is in an unknown state: destroy it, do not reuse it.
    c.release(broken as Error | undefined);
  }
}

/** ROLLBACK after `cause`; a failure is logged and thrown (the caller then drops the connection). */
export async function rollback(c: pg.PoolClient, cause: unknown): Promise<void> {
  try {
    await c.query('ROLLBACK');
  } catch (e) {
    log.error('store: ROLLBACK failed; dropping the connection', {
      err: e instanceof Error ? e : new Error(String(e)),
      cause: cause instanceof Error ? cause.message : String(cause),
    });
    throw e;
  }
}
