/**
 * initdb for a new embedded data directory, in a thread of its own. PGlite's WebAssembly memory
 * only grows, and initdb is the hungriest thing it ever does: measured here, a process that ran
 * initdb and opened the database held 818 MiB resident, against 318 once that instance was closed
 * (the node then kept ~900 MiB for its whole life after a first start, ~360 after any later one).
 * A worker's memory goes with the worker, so the node's own instance opens an existing directory
 * and starts at its usual size.
 *
 * The database is created in a sibling directory and renamed into place once complete, so `dir`
 * either does not exist or holds a whole database: a first start killed during initdb (seconds)
 * leaves no half-made directory for the next start to fail on. The caller holds the data
 * directory's lock, so a leftover sibling is a dead process's and is removed.
 */
import { readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { syncPath, syncTree } from './durable.js';
import { runInThread } from './thread.js';

/** The prefix of `dir`'s work-in-progress siblings. */
export const initdbPrefix = (dir: string): string => `${basename(dir)}.initdb-`;

/** Removes a work directory; one that cannot be (or never was) made is no concern here. */
function discard(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // ENOTDIR and the like: there is nothing there to remove.
  }
}

/**
 * With `sync` (durable commits, the default), the new database is fsynced, file by file, before
 * the rename and the parent directory after it: initdb writes with fsync off, and a database that
 * later commits durably must not sit on files still only in the operating system's cache.
 */
export async function initdbApart(dir: string, opts: { sync?: boolean } = {}): Promise<void> {
  const parent = dirname(dir);
  const prefix = initdbPrefix(dir);
  let leftovers: string[] = [];
  try {
    leftovers = readdirSync(parent).filter((name) => name.startsWith(prefix));
  } catch {
    // No parent directory: the worker's error below says where.
  }
  for (const name of leftovers) discard(join(parent, name));

  const work = join(parent, `${prefix}${process.pid}`);
  let error = await runInThread('initdb-worker', { dir: work }).catch((e: unknown) => {
    discard(work);
    throw e;
  });
  if (error === undefined && (opts.sync ?? true)) {
    try {
      syncTree(work);
    } catch (e) {
      error = `it could not be flushed to disk (${(e as Error).message})`;
    }
  }
  if (error === undefined) {
    try {
      // Atomic; replaces `dir` only if it is an empty directory.
      renameSync(work, dir);
    } catch (e) {
      error = `it could not be moved into place (${(e as Error).message})`;
    }
  }
  if (error === undefined && (opts.sync ?? true)) {
    // The rename itself is durable once the directory that names it is.
    try {
      syncPath(parent);
    } catch (e) {
      throw new Error(`store: the embedded database in ${dir} was created but its directory could not be flushed to disk: ${(e as Error).message}`);
    }
  }
  if (error === undefined) return;
  discard(work);
  throw new Error(`store: creating the embedded database in ${dir} failed: ${error}`);
}
