import type pg from 'pg';
import type { Config } from '../config/index.js';
import type { StoreLock } from './pglite/lock.js';
import { openPglite } from './pglite/pglite.js';
import { openPostgres } from './postgres.js';
import type { Store } from './store.js';

/**
 * Opening the store: one factory over the backends, chosen by the configuration (PostgreSQL when
 * `database.url` is set, embedded PGlite under `dataDir` otherwise). An unknown kind throws; there
 * is no silent fallback. Worker threads do not open a store: they get ./remote.ts over a port.
 */
export type StoreKind = 'postgres' | 'pglite';

export interface OpenedStore {
  kind: StoreKind;
  store: Store;
  /** The primary pool (for PGlite, the pool over the embedded instance). */
  pool: pg.Pool;
  /** The data directory lock (PGlite only): `lock.update({ admin })` once the admin API listens. */
  lock: StoreLock | null;
  /** Closes the store, its pools, PGlite and the lock. Same as `store.close()`. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Apply pending migrations at start-up (default true). */
  migrate?: boolean;
  /** PGlite only: a snapshot to start a new data directory from (see ./pglite.ts). */
  template?: Blob;
}

/** What opening a store reads of the configuration (tunables optional: their defaults apply). */
type StoreConfig = Pick<Config, 'dataDir'> & {
  database: Omit<Config['database'], 'pgliteCheckpointMb' | 'pgliteFsync'> &
    Partial<Pick<Config['database'], 'pgliteCheckpointMb' | 'pgliteFsync'>>;
};

const BACKENDS: Readonly<Record<StoreKind, (config: StoreConfig, opts: OpenOptions) => Promise<OpenedStore>>> = {
  postgres: (config, opts) => {
    const url = config.database.url;
    if (!url) throw new Error('store: the postgres backend needs database.url (DATABASE_URL)');
    const migrate = opts.migrate ?? true;
    return openPostgres({ url, replicaUrl: config.database.replicaUrl, poolSize: config.database.poolSize, migrate });
  },
  pglite: (config, opts) => {
    const { pgliteCheckpointMb: walMb, pgliteFsync: fsync } = config.database;
    return openPglite({
      dataDir: config.dataDir,
      ...(walMb !== undefined ? { checkpoint: { walMb } } : {}),
      ...(fsync !== undefined ? { fsync } : {}),
      ...opts,
    });
  },
};

function storeKind(config: StoreConfig): StoreKind {
  return config.database.url ? 'postgres' : 'pglite';
}

export async function openBackend(kind: string, config: StoreConfig, opts: OpenOptions = {}): Promise<OpenedStore> {
  const open = Object.hasOwn(BACKENDS, kind) ? BACKENDS[kind as StoreKind] : undefined;
  if (!open) throw new Error(`store: unknown backend "${kind}" (expected ${Object.keys(BACKENDS).join(' or ')})`);
  return open(config, opts);
}

export function openStore(config: StoreConfig, opts: OpenOptions = {}): Promise<OpenedStore> {
  return openBackend(storeKind(config), config, opts);
}
