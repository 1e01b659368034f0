/**
 * The thread `freezeOtherDatabases` (./pglite-vacuum.ts) starts: opens the PGlite directory
 * `workerData.dir` once per database of `workerData.databases`, runs `VACUUM (FREEZE)` there,
 * closes it, reports, and exits. With `workerData.fsync`, commits are durable as in ./pglite.ts.
 */
import { workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { DurableNodeFS, durableStartParams } from './durable.js';
import { reportOutcome } from './thread.js';

const { dir, databases, fsync } = workerData as { dir: string; databases: string[]; fsync: boolean };
await reportOutcome(async () => {
  for (const database of databases) {
    const db = await PGlite.create({ ...(fsync ? { fs: new DurableNodeFS(dir), startParams: durableStartParams() } : { dataDir: dir }), database });
    try {
      await db.exec('VACUUM (FREEZE)');
    } finally {
      await db.close();
    }
  }
});
