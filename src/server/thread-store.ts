/**
 * How a worker thread reaches the store. With PostgreSQL every thread opens its own pool (the
 * database serialises them); embedded, the main thread owns the one PGlite instance and threads
 * call it through a MessagePort (src/store/remote.ts).
 */
import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { openStore } from '../store/open.js';
import { remoteStore } from '../store/pglite/remote.js';
import type { Store } from '../store/store.js';
import { instrumentStore, watchPool } from '../metrics/store.js';

/** What the supervisor hands every worker in `data`. */
export interface ThreadData {
  jwtSecret: string;
  /** The port for the port the listen sockets bind (already resolved from 0). */
  port: number;
  /** Every thread: the node's revoked sessions (src/auth/revocations.ts), filled at start from the store. */
  revocations?: SharedArrayBuffer;
  /** Fronts: the login throttles' counts they share (src/auth/throttle.ts). */
  loginThrottle?: SharedArrayBuffer;
  /** Fronts: the per-user token buckets they share (src/limits/shared-buckets.ts). */
  rateLimits?: SharedArrayBuffer;
  /** Fronts: open sockets per user and source (src/limits/connection-counts.ts). */
  connections?: SharedArrayBuffer;
  /** Fronts: the start-up barrier (start-gate.ts); absent, a front serves as soon as it listens. */
  startGate?: SharedArrayBuffer;
}

export async function threadStore(config: Config, ports: Readonly<Record<string, MessagePort>>, poolSize: number): Promise<Store> {
  if (config.database.url) {
    const opened = await openStore({ ...config, database: { ...config.database, poolSize } }, { migrate: false });
    watchPool(opened.pool);
    return instrumentStore(opened.store);
  }
  const port = ports.store;
  if (!port) throw new Error('embedded store: no store port was handed to this thread');
  return instrumentStore(remoteStore(port));
}
