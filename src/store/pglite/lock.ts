import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { log } from '../../log.js';

/**
 * The single-owner lock of a data directory (`<dataDir>/veza.lock`). Nothing stops two PGlite
 * instances from opening one directory (ECOSYSTEM.md), and two would corrupt it; this file does.
 *
 * Publication is atomic: the content is written to a private temporary file first and then
 * hard-linked to the lock name, which fails with EEXIST if the name exists (the O_EXCL guarantee,
 * without a window where another process could read a half-written file).
 */
export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Distinguishes two owners that happened to have the same pid (pid reuse). */
  token: string;
  /** The admin API address, once the node listens (see StoreLock.update). */
  admin?: string;
}

export class StoreLockedError extends Error {
  readonly pid: number;
  readonly lockPath: string;
  constructor(lockPath: string, holder: LockInfo) {
    super(
      `data directory is in use by process ${holder.pid} on ${holder.hostname} (lock ${lockPath}` +
        `${holder.admin ? `, admin ${holder.admin}` : ''}); stop it first, or remove the file if no such process is a veza-chat node`,
    );
    this.name = 'StoreLockedError';
    this.pid = holder.pid;
    this.lockPath = lockPath;
  }
}

export const LOCK_FILE = 'veza.lock';
const MAX_ATTEMPTS = 5;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readInfo(path: string): LockInfo | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    if (typeof info.pid === 'number' && typeof info.token === 'string') return info;
  } catch {
    // Not ours or damaged: reported below as held by an unknown process.
  }
  return { pid: -1, hostname: 'unknown', startedAt: '', token: `unparsable:${text.length}` };
}

function writeTemp(dir: string, info: LockInfo): string {
  const tmp = join(dir, `${LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(tmp, JSON.stringify(info) + '\n', { flag: 'wx', mode: 0o644 });
  return tmp;
}

export class StoreLock {
  readonly path: string;
  readonly #dir: string;
  #info: LockInfo;
  #released = false;

  private constructor(dir: string, info: LockInfo) {
    this.#dir = dir;
    this.path = join(dir, LOCK_FILE);
    this.#info = info;
  }

  get info(): Readonly<LockInfo> {
    return this.#info;
  }

  /**
   * Takes the lock of `dir` (which must exist). A lock left by a dead process on this host is taken
   * over with a warning; a live holder, or one on another host (its pid cannot be checked from
   * here), is a StoreLockedError naming it.
   */
  static acquire(dir: string): StoreLock {
    const info: LockInfo = {
      pid: process.pid,
      hostname: hostname(),
      startedAt: new Date().toISOString(),
      token: randomBytes(8).toString('hex'),
    };
    const lock = new StoreLock(dir, info);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const tmp = writeTemp(dir, info);
      try {
        linkSync(tmp, lock.path);
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      } finally {
        unlinkSync(tmp);
      }
      const holder = readInfo(lock.path);
      if (holder === null) continue; // released meanwhile: try again
      if (holder.hostname !== info.hostname || holder.pid <= 0 || isAlive(holder.pid)) {
        throw new StoreLockedError(lock.path, holder);
      }
      lock.#takeOver(holder);
    }
    throw new Error(`could not take the lock ${lock.path}: it kept changing hands`);
  }

  /**
   * Removes a stale lock without ever removing a live one. Another process may be taking the same
   * stale lock over at the same moment: the file is first renamed aside (atomic, so only one
   * process gets it), then checked to be the stale one that was judged; if it is not, a live
   * owner's lock was caught and is put back.
   */
  #takeOver(stale: LockInfo): void {
    const aside = join(this.#dir, `${LOCK_FILE}.stale.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      renameSync(this.path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else moved it: retry
      throw e;
    }
    const caught = readInfo(aside);
    if (caught !== null && caught.token !== stale.token) {
      try {
        linkSync(aside, this.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      unlinkSync(aside);
      return;
    }
    unlinkSync(aside);
    log.warn('store: took over a stale data directory lock', { lock: this.path, deadPid: stale.pid, since: stale.startedAt });
  }

  /** Adds fields (the admin address) to the lock file, atomically (write aside, rename over). */
  update(fields: { admin?: string }): void {
    if (this.#released) throw new Error('lock already released');
    this.#info = { ...this.#info, ...fields };
    const tmp = writeTemp(this.#dir, this.#info);
    renameSync(tmp, this.path);
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const current = readInfo(this.path);
    if (current?.token !== this.#info.token) {
      log.warn('store: the data directory lock was replaced by someone else; leaving it', { lock: this.path });
      return;
    }
    unlinkSync(this.path);
  }
}
