/**
 * The thread `initdbApart` (./pglite-initdb.ts) starts: creates the database under `workerData.dir`
 * (PGlite runs initdb when the directory is empty), closes it, reports, and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const { dir } = workerData as { dir: string };
try {
  const db = await PGlite.create(dir);
  await db.close();
  parentPort?.postMessage({ ok: true });
} catch (e) {
  parentPort?.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
}
