/**
 * initdb for a new embedded data directory, in a thread of its own. PGlite's WebAssembly memory
 * only grows, and initdb is the hungriest thing it ever does: measured here, a process that ran
 * initdb and opened the database held 818 MiB resident, against 318 once that instance was closed
 * (the node then kept ~900 MiB for its whole life after a first start, ~360 after any later one).
 * A worker's memory goes with the worker, so the node's own instance opens an existing directory
 * and starts at its usual size.
 */
import { Worker } from 'node:worker_threads';
import { siblingModule, workerExecArgv } from '../runtime/entry.js';

export async function initdbApart(dir: string): Promise<void> {
  const entry = siblingModule('pglite-initdb-worker', import.meta.url);
  const worker = new Worker(entry, { workerData: { dir }, execArgv: workerExecArgv(entry) });
  let outcome: { ok: boolean; error?: string } | undefined;
  worker.on('message', (m: { ok: boolean; error?: string }) => (outcome = m));
  const code = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  if (outcome?.ok && code === 0) return;
  throw new Error(`store: creating the embedded database in ${dir} failed: ${outcome?.error ?? `its thread exited with code ${code}`}`);
}
