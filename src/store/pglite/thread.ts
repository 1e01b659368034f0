/**
 * Short PGlite jobs in a thread of their own (initdb, freezing the databases a session cannot
 * reach): PGlite's WebAssembly memory only grows, and a worker's goes with the worker.
 */
import { parentPort, Worker } from 'node:worker_threads';
import { siblingModule, workerExecArgv } from '../../runtime/threads/entry.js';

interface Outcome {
  ok: boolean;
  error?: string;
}

/**
 * Runs the sibling module `name` in a thread with `data` and waits for it to exit. Resolves with
 * why the job failed (its own error, or how its thread ended), or undefined when it succeeded;
 * rejects only when the thread could not run at all.
 */
export async function runInThread(name: string, data: unknown): Promise<string | undefined> {
  const entry = siblingModule(name, import.meta.url);
  const worker = new Worker(entry, { workerData: data, execArgv: workerExecArgv(entry) });
  let outcome: Outcome | undefined;
  worker.on('message', (m: Outcome) => (outcome = m));
  const code = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  return outcome?.ok && code === 0 ? undefined : (outcome?.error ?? `its thread exited with code ${code}`);
}

/** The thread's side: runs `job` and reports how it went to `runInThread`. */
export async function reportOutcome(job: () => Promise<void>): Promise<void> {
  try {
    await job();
    parentPort?.postMessage({ ok: true } satisfies Outcome);
  } catch (e) {
    parentPort?.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) } satisfies Outcome);
  }
}
