/**
 * Thread names for the operating system: a node's threads all start as `node`, so `top -H`, perf
 * and /proc/<pid>/task/* cannot tell a front from a shard. Linux lets a thread rename itself by
 * writing /proc/thread-self/comm; the bench reads those names back to split the server's CPU by
 * role (bench/proc.ts). Names: `veza-main`, `veza-front-<i>`, `veza-shard-<i>`, `veza-cpu`.
 */
import { writeFileSync } from 'node:fs';

/** The kernel keeps 15 bytes of a thread name (TASK_COMM_LEN less its NUL). */
const MAX_BYTES = 15;

/**
 * Name the calling thread; false where that is not possible (not Linux, /proc not mounted or
 * read-only). A name is a diagnostic: failing to set one never stops a thread.
 */
export function nameThisThread(name: string): boolean {
  try {
    // Synchronous on purpose: an async write runs on a libuv pool thread, and `thread-self` would
    // then name that thread instead of this one.
    writeFileSync('/proc/thread-self/comm', Buffer.from(name).subarray(0, MAX_BYTES));
    return true;
  } catch {
    return false;
  }
}
