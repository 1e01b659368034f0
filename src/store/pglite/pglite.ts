import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import pg from 'pg';
import { log } from '../../log.js';
import { StoreLock } from './lock.js';
import { migrate as runMigrations } from '../migrate.js';
import { COPY_MESSAGES } from '../message-copy.js';
import { PgliteCheckpointer, type CheckpointOptions } from './checkpoint.js';
import { DurableNodeFS, durableStartParams } from './durable.js';
import { ANALYZE_EVERY_MS, freezeOtherDatabases, PgliteVacuumer, staleDatabases, type VacuumDone, type VacuumOptions } from './vacuum.js';
import { initdbApart } from './initdb.js';
import { batchExtendedQueries } from './wire.js';
import type { OpenedStore } from '../open.js';
import { PgStore } from '../pg-store.js';
import { storeTypes } from '../pg-types.js';

/**
 * Embedded PGlite under `<dataDir>/pglite`, owned by this thread, behind a `pg.Pool` so the same
 * PgStore runs on it. Other threads reach it through ./remote.ts.
 *
 * The directory lock is taken before PGlite opens anything, and released after it has closed.
 */
export interface PgliteOptions {
  dataDir: string;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /**
   * A snapshot (`PGlite#dumpDataDir`) to start from when the directory holds no database yet,
   * instead of running initdb (seconds). Tests use one with the migrations applied.
   */
  template?: Blob;
  /**
   * Checkpoints (see ./pglite-checkpoint.ts): `walMb` defaults to 64, `maxAgeMs` to 5 minutes,
   * `checkEveryMs` to 2 s.
   */
  checkpoint?: Partial<CheckpointOptions>;
  /**
   * Commits are fsynced before they are acknowledged (default true; see ./pglite-durable.ts).
   * False leaves them in the operating system's cache: safe from a crash of the process, not of
   * the machine.
   */
  fsync?: boolean;
  /**
   * VACUUM, ANALYZE and freezing (see ./pglite-vacuum.ts): `checkEveryMs` defaults to 5 s,
   * `freezeAge` to 100 million transactions, `analyzeEveryMs` to a minute.
   */
  vacuum?: Partial<VacuumOptions>;
}

/** An opened PGlite store, with what only this backend has. */
export interface OpenedPglite extends OpenedStore {
  /** Host fsyncs so far (0 forever with `fsync: false`). */
  fsyncs(): number;
  /** One maintenance look now (what the vacuumer does every `vacuum.checkEveryMs`). */
  maintain(): Promise<VacuumDone | null>;
}

const CHECKPOINT_DEFAULTS: CheckpointOptions = { walMb: 64, maxAgeMs: 5 * 60_000, checkEveryMs: 2000 };
const VACUUM_DEFAULTS: VacuumOptions = { checkEveryMs: 5000, freezeAge: 100_000_000, analyzeEveryMs: ANALYZE_EVERY_MS };

export async function openPglite(opts: PgliteOptions): Promise<OpenedPglite> {
  mkdirSync(opts.dataDir, { recursive: true });
  const lock = StoreLock.acquire(opts.dataDir);
  let db: PGlite | undefined;
  try {
    const dir = join(opts.dataDir, 'pglite');
    const fresh = !existsSync(join(dir, 'PG_VERSION'));
    // A new directory is created in a thread of its own (./pglite-initdb.ts), so initdb's memory
    // is not this thread's for the rest of its life; a template is only unpacked, no initdb.
    const durable = opts.fsync ?? true;
    const vacuum = { ...VACUUM_DEFAULTS, ...opts.vacuum };
    if (fresh && !opts.template) await initdbApart(dir, { sync: durable });
    // Host fsyncs of the instances opened so far (a start-up freeze closes and reopens one).
    let syncsBefore = 0;
    let fs: DurableNodeFS | null = null;
    const create = async (loadDataDir?: Blob) => {
      syncsBefore += fs?.syncs ?? 0;
      fs = durable ? new DurableNodeFS(dir) : null;
      return PGlite.create({
        ...(fs ? { fs, startParams: durableStartParams() } : { dataDir: dir }),
        ...(loadDataDir ? { loadDataDir } : {}),
      });
    };
    db = await create(fresh ? opts.template : undefined);
    // The databases this session cannot reach age with every transaction too: freeze them, each in
    // an instance of its own, while nothing else has the directory open (see ./pglite-vacuum.ts).
    const stale = await staleDatabases((text, values) => (db as PGlite).query(text, values), vacuum.freezeAge);
    if (stale.length > 0) {
      log.info('store: freezing old transaction ids', { databases: stale });
      await db.close();
      db = undefined;
      await freezeOtherDatabases(dir, stale, { fsync: durable });
      db = await create();
    }
    const pglite = db;
    // PostgreSQL fills every new 16 MB WAL segment with zeros before using it. Here that is 16 MB
    // of writes through WebAssembly on the thread that owns PGlite, and it stalled every commit
    // queued behind it: at 10,000 messages a second a new segment comes every few seconds, and
    // the rooms bench's p99 jumped from ~20 to 60-80 ms in each of those seconds (a COPY of 100
    // rows: 40-85 ms worst case with zero-filling, 3-5 ms without). Recovery does not depend on
    // the zeros (every WAL page carries its address and every record its CRC); the setting exists
    // for file systems where pre-allocation does not help, and a file extended by write() is one.
    await pglite.exec('SET wal_init_zero = off');
    const pool = new pg.Pool({
      // Through batchExtendedQueries: without it an SQL error desynchronises the connection.
      ...createPgConfig(batchExtendedQueries(pglite)),
      // The adapter gives every client the same connection to the one PGlite session: more than
      // one client would interleave their protocol messages. One client, so transactions queue.
      max: 1,
      // Keep that client: ending it tears down the adapter's connection listeners for nothing.
      idleTimeoutMillis: 0,
      types: storeTypes(),
    });
    pool.on('error', (err) => log.error('store: PGlite connection failed', { err }));
    try {
      if (opts.migrate ?? true) await runMigrations(pool);
    } catch (e) {
      await pool.end();
      throw e;
    }
    const checkpointer = new PgliteCheckpointer(pool, { ...CHECKPOINT_DEFAULTS, ...opts.checkpoint });
    const vacuumer = new PgliteVacuumer(pool, vacuum);
    const store = new PgStore({
      backend: 'pglite',
      pool,
      copyMessages: async (data, then) => {
        // Holding the pool's one client keeps every other statement (and any open transaction of
        // another caller) out until the COPY has committed.
        const client = await pool.connect();
        try {
          const blob = new Blob([data]);
          if (then === null) await pglite.query(COPY_MESSAGES, [], { blob });
          else {
            await pglite.transaction(async (tx) => {
              await tx.query(COPY_MESSAGES, [], { blob });
              await tx.query(then.text, then.values);
            });
          }
        } finally {
          client.release();
        }
      },
      beforeClose: async () => {
        await vacuumer.stop();
        await checkpointer.stop();
      },
      onClose: async () => {
        try {
          await pglite.close();
        } finally {
          lock.release();
        }
      },
    });
    checkpointer.start();
    vacuumer.start();
    return {
      kind: 'pglite',
      store,
      pool,
      lock,
      close: () => store.close(),
      fsyncs: () => syncsBefore + ((fs as DurableNodeFS | null)?.syncs ?? 0),
      maintain: () => vacuumer.check(),
    };
  } catch (e) {
    try {
      await db?.close();
    } finally {
      lock.release();
    }
    throw e;
  }
}
