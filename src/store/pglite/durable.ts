/**
 * Durable commits for embedded PGlite: a commit is on disk, not only in the operating system's
 * cache, before it is acknowledged.
 *
 * PGlite starts PostgreSQL with `-F` (fsync off), and the Emscripten file system it mounts on the
 * data directory (NODEFS) has no `fsync`: the call reaches `stream_ops.fsync`, finds none, and
 * reports success. An acknowledged message then survived a crash of the process (the write had
 * reached the kernel) but not a crash of the machine or a power loss.
 *
 * `DurableNodeFS` mounts the same NODEFS and gives it an `fsync` that calls the real one on the
 * host file descriptor, before PostgreSQL starts (an Emscripten `preRun`), so recovery at start-up
 * and every later fsync are real. PostgreSQL is then started without `-F` and with
 * `wal_sync_method=fsync`: its default, `fdatasync`, goes to an Emscripten syscall that does
 * nothing and cannot be replaced, while `fsync` goes through `stream_ops.fsync`. A commit costs one
 * fsync of its WAL segment (0.2–0.3 ms measured on this machine's disk; group commit makes that
 * one per batch of messages); checkpoints fsync the data files they wrote, as PostgreSQL does.
 *
 * This reaches into PGlite's internals (the Emscripten module's NODEFS); `installFsync` checks
 * what it relies on and refuses to start otherwise, so a PGlite upgrade that moves them fails
 * loudly instead of silently losing durability.
 */
import { closeSync, fsyncSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

/** What `installFsync` needs of the Emscripten module. */
interface EmscriptenStream {
  nfd?: number;
}
interface NodeFsType {
  stream_ops?: Record<string, unknown> & { fsync?: (stream: EmscriptenStream) => number };
  tryFSOperation?: (fn: () => unknown) => unknown;
}

/** Counts the fsyncs that reached the host (tests read it; so could metrics). */
export interface FsyncCounter {
  syncs: number;
}

/**
 * Gives the module's NODEFS a real `fsync`. Errors of the host call become the errno PostgreSQL
 * sees (through NODEFS's own `tryFSOperation`); PostgreSQL treats a failed fsync as fatal, as it
 * should.
 */
export function installFsync(mod: unknown, counter: FsyncCounter): void {
  const nodefs = (mod as { NODEFS?: NodeFsType } | null)?.NODEFS;
  const ops = nodefs?.stream_ops;
  const tryOp = nodefs?.tryFSOperation;
  if (!ops || typeof ops.open !== 'function' || typeof tryOp !== 'function') {
    throw new Error('store: this PGlite build has no NODEFS stream operations to give fsync to; refusing to run without durable commits (database.pgliteFsync false accepts that)');
  }
  const existing = ops.fsync;
  if (existing !== undefined && !(existing as { veza?: boolean }).veza) {
    throw new Error('store: this PGlite build already has a NODEFS fsync; review src/store/pglite-durable.ts before upgrading');
  }
  const fsync = (stream: EmscriptenStream): number => {
    const fd = stream.nfd;
    if (typeof fd !== 'number') return 0; // not a host file (never the case under NODEFS)
    tryOp.call(nodefs, () => fsyncSync(fd));
    counter.syncs++;
    return 0;
  };
  (fsync as { veza?: boolean }).veza = true;
  ops.fsync = fsync;
}

/** NODEFS on `dataDir`, with a real fsync (see the module comment). */
export class DurableNodeFS extends NodeFS implements FsyncCounter {
  syncs = 0;

  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]): ReturnType<NodeFS['init']> {
    const { emscriptenOpts } = await super.init(pg, opts);
    const preRun = [...(emscriptenOpts.preRun ?? []), (mod: unknown) => installFsync(mod, this)];
    return { emscriptenOpts: { ...emscriptenOpts, preRun } };
  }
}

/** PGlite's start parameters without `-F` (fsync off), with the one WAL sync method that reaches NODEFS. */
export function durableStartParams(): string[] {
  const base = (PGlite as unknown as { defaultStartParams?: string[] }).defaultStartParams;
  if (!Array.isArray(base)) throw new Error('store: this PGlite build has no defaultStartParams; review src/store/pglite-durable.ts');
  return [...base.filter((p) => p !== '-F'), '-c', 'fsync=on', '-c', 'wal_sync_method=fsync'];
}

/**
 * fsync every file and directory under `dir`, then `dir` itself: for a database initdb wrote with
 * fsync off, before it is renamed into place (about 1,000 entries, 0.3 s here).
 */
export function syncTree(dir: string): number {
  let n = 0;
  const visit = (path: string, isDir: boolean) => {
    if (isDir) {
      for (const entry of readdirSync(path, { withFileTypes: true })) {
        if (entry.isDirectory() || entry.isFile()) visit(join(path, entry.name), entry.isDirectory());
      }
    }
    // Contents first, then the directory that names them.
    syncPath(path);
    n++;
  };
  visit(dir, true);
  return n;
}

/** fsync one file or directory by path (a directory's fsync makes its entries durable). */
export function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
