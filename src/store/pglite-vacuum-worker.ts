/**
 * The thread `freezeOtherDatabases` (./pglite-vacuum.ts) starts: opens the PGlite directory
 * `workerData.dir` once per database of `workerData.databases`, runs `VACUUM (FREEZE)` there,
 * closes it, reports, and exits. With `workerData.fsync`, commits are durable as in ./pglite.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { DurableNodeFS, durableStartParams } from './pglite-durable.js';

const { dir, databases, fsync } = workerData as { dir: string; databases: string[]; fsync: boolean };
try {
  for (const database of databases) {
    const db = await PGlite.create({ ...(fsync ? { fs: new DurableNodeFS(dir), startParams: durableStartParams() } : { dataDir: dir }), database });
    try {
      await db.exec('VACUUM (FREEZE)');
    } finally {
      await db.close();
    }
  }
  parentPort?.postMessage({ ok: true });
} catch (e) {
  parentPort?.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
}
