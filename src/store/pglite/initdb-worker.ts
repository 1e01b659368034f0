/**
 * The thread `initdbApart` (./pglite-initdb.ts) starts: creates the database under `workerData.dir`
 * (PGlite runs initdb when the directory is empty), closes it, reports, and exits.
 */
import { workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { reportOutcome } from './thread.js';

const { dir } = workerData as { dir: string };
await reportOutcome(async () => {
  const db = await PGlite.create(dir);
  await db.close();
});
