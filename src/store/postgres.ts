import pg from 'pg';
import { log } from '../log.js';
import { migrate as runMigrations } from './migrate.js';
import type { OpenedStore } from './open.js';
import { PgStore } from './pg-store.js';
import { storeTypes } from './pg-types.js';

/**
 * PostgreSQL: a pool on the primary and, when configured, one on a read replica for reads that may
 * lag (history). Migrations run at start-up under their advisory lock, so nodes starting together
 * are safe.
 */
export interface PostgresOptions {
  url: string;
  replicaUrl?: string | undefined;
  poolSize: number;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
}

function makePool(connectionString: string, max: number, role: 'primary' | 'replica'): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    types: storeTypes(),
    application_name: `veza-chat ${role}`,
    // Never wait forever for a connection: a database that does not answer is an error to report.
    connectionTimeoutMillis: role === 'primary' ? 10_000 : 2_000,
  });
  // An idle connection that fails (server restart) emits here; without a listener it would crash.
  pool.on('error', (err) => log.error('store: idle database connection failed', { role, err }));
  return pool;
}

export async function openPostgres(opts: PostgresOptions): Promise<OpenedStore> {
  const pool = makePool(opts.url, opts.poolSize, 'primary');
  const replica = opts.replicaUrl ? makePool(opts.replicaUrl, opts.poolSize, 'replica') : null;
  try {
    if (opts.migrate ?? true) await runMigrations(pool);
  } catch (e) {
    await Promise.allSettled([pool.end(), replica?.end()]);
    throw e;
  }
  const store = new PgStore({ backend: 'postgres', pool, replica });
  return { kind: 'postgres', store, pool, lock: null, close: () => store.close() };
}
