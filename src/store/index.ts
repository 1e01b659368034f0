/** The store: one interface, PostgreSQL and embedded PGlite behind one pg-based implementation. */
export type { Store } from './store.js';
export type * from './types.js';
export { openStore, openBackend, storeKind, type OpenedStore, type OpenOptions, type StoreKind } from './open.js';
export { PgStore, type PgStoreOptions } from './pg-store.js';
export { remoteStore, serveStore, type StoreCall, type StoreReply } from './pglite/remote.js';
export { StoreLock, StoreLockedError, LOCK_FILE, type LockInfo } from './pglite/lock.js';
export {
  migrate,
  status as migrationStatus,
  readMigrations,
  MigrationError,
  MIGRATIONS_DIR,
  MIGRATION_LOCK_KEY,
  type MigrationStatus,
  type AppliedMigration,
} from './migrate.js';
