/** The store: one interface, PostgreSQL and embedded PGlite behind one pg-based implementation. */
export type { Store } from './store.js';
export { openStore, type OpenedStore } from './open.js';
export { StoreLock, StoreLockedError } from './pglite/lock.js';
export { migrate, status as migrationStatus } from './migrate.js';
