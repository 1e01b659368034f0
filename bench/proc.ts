/**
 * CPU time and memory of another process, from Linux's /proc. The bench reads its target server
 * this way so server CPU is never mixed with the load generator's; and per thread, where veza's
 * threads carry their role in their names (src/runtime/thread-name.ts), to say which role used it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface ProcSample {
  /** utime + stime, seconds (all threads). */
  cpuS: number;
  /** Resident set size now, MiB. */
  rssMb: number;
  /** Peak resident set size (VmHWM), MiB. */
  rssPeakMb: number;
  threads: number;
}

let clkTck: number | undefined;

/** Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, almost always 100). */
function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clkTck = Number.isFinite(v) && v > 0 ? v : 100;
    } catch {
      // No getconf (minimal images): Linux has used USER_HZ = 100 on every mainstream arch.
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface StatFields {
  /** The process's or thread's name (comm), as the kernel keeps it: at most 15 bytes. */
  comm: string;
  /** utime + stime, seconds. */
  cpuS: number;
  /** Threads of the process (a thread's stat gives its process's count). */
  threads: number;
  /** When it started, in clock ticks since boot: with the id, it tells a reused id from the old thread. */
  startTicks: number;
}

/**
 * Parse /proc/<pid>/stat (or /proc/<pid>/task/<tid>/stat) text. The name may hold spaces and
 * parentheses: it runs from the first "(" to the last ")", and nothing after that can hold one.
 */
export function parseStat(text: string, ticks = clockTicks()): StatFields {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('malformed /proc stat');
  // Fields after "(comm)" start at field 3 (state); utime is field 14, stime 15, num_threads 20,
  // starttime 22.
  const f = text.slice(close + 2).split(' ');
  const utime = Number(f[14 - 3]);
  const stime = Number(f[15 - 3]);
  const threads = Number(f[20 - 3]);
  const startTicks = Number(f[22 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('malformed /proc stat');
  return { comm: text.slice(open + 1, close), cpuS: (utime + stime) / ticks, threads, startTicks };
}

/** Parse /proc/<pid>/status text: VmRSS and VmHWM in MiB. */
export function parseStatus(text: string): { rssMb: number; rssPeakMb: number } {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) / 1024 : 0;
  };
  return { rssMb: kb('VmRSS'), rssPeakMb: kb('VmHWM') };
}

/** A /proc read failed because the process or thread is no longer there. */
function gone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** One reading of `pid`, or null when the process is gone (or /proc is not there). */
export function readProc(pid: number): ProcSample | null {
  try {
    const s = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const m = parseStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS: s.cpuS, threads: s.threads, ...m };
  } catch (e) {
    if (gone(e)) return null;
    throw e;
  }
}

/** What a veza server's threads are for, from their names (src/runtime/thread-name.ts). */
export const THREAD_ROLES = ['main', 'front', 'shard', 'cpu', 'other'] as const;
export type ThreadRole = (typeof THREAD_ROLES)[number];
export type RoleFigures = Record<ThreadRole, number>;

/**
 * The role a thread name stands for. Anything veza did not name (V8's and libuv's helpers, still
 * `node`; a process that names nothing, like the reference servers) is `other`.
 */
export function threadRole(name: string): ThreadRole {
  if (name === 'veza-main') return 'main';
  if (name === 'veza-cpu') return 'cpu';
  if (name.startsWith('veza-front-')) return 'front';
  if (name.startsWith('veza-shard-')) return 'shard';
  return 'other';
}

/** One thread at one reading. */
export interface ThreadSample {
  name: string;
  cpuS: number;
}

/**
 * Every thread of `pid` now, keyed by thread id and start time (a thread id can be reused by a
 * thread started later). Null when the process is gone or /proc is not there. The name comes from
 * the same stat line as the times, so one read gives both.
 */
export function readThreads(pid: number): Map<string, ThreadSample> | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch (e) {
    if (gone(e)) return null;
    throw e;
  }
  const out = new Map<string, ThreadSample>();
  for (const tid of tids) {
    let s: StatFields;
    try {
      s = parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    } catch (e) {
      // The thread exited between the listing and the read.
      if (gone(e)) continue;
      throw e;
    }
    out.set(`${tid}@${s.startTicks}`, { name: s.comm, cpuS: s.cpuS });
  }
  return out;
}

/**
 * CPU seconds per thread name between two readings, threads of one name summed. A thread absent
 * from `from` started in between: all its time counts. One absent from `to` exited in between: its
 * time since `from` is lost (the kernel adds it to the process's total only), so the names sum to
 * a little less than the process's CPU when threads come and go within the window.
 */
export function threadCpuByName(from: ReadonlyMap<string, ThreadSample>, to: ReadonlyMap<string, ThreadSample>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, end] of to) {
    const used = end.cpuS - (from.get(key)?.cpuS ?? 0);
    out.set(end.name, (out.get(end.name) ?? 0) + used);
  }
  return out;
}

/** Per-name figures summed by role. */
export function byRole(perName: ReadonlyMap<string, number>): RoleFigures {
  const out: RoleFigures = { main: 0, front: 0, shard: 0, cpu: 0, other: 0 };
  for (const [name, v] of perName) out[threadRole(name)] += v;
  return out;
}

/** `f` applied to each role's figure. */
export function mapRoles(v: Readonly<RoleFigures>, f: (x: number) => number): RoleFigures {
  const out = { ...v };
  for (const role of THREAD_ROLES) out[role] = f(v[role]);
  return out;
}

/**
 * The resident set of `pid` once it stops moving: read every `everyMs` until two readings a
 * second apart differ by at most `toleranceMb`, or `maxMs` passed (then the last reading). A server
 * that just started still touches pages for a few seconds (thread stacks, the JIT, PGlite's
 * caches); a reading taken during that time made "RSS per idle connection" vary by a whole KiB
 * from run to run. Null when the process is gone.
 */
export async function settledRss(pid: number, opts: { toleranceMb?: number; maxMs?: number; everyMs?: number } = {}): Promise<number | null> {
  const tolerance = opts.toleranceMb ?? 0.5;
  const every = opts.everyMs ?? 250;
  const deadline = performance.now() + (opts.maxMs ?? 15_000);
  const history: number[] = [];
  const span = Math.max(1, Math.round(1000 / every));
  for (;;) {
    const rss = readProc(pid)?.rssMb;
    if (rss === undefined) return null;
    history.push(rss);
    const before = history.length > span ? history[history.length - 1 - span]! : undefined;
    if ((before !== undefined && Math.abs(rss - before) <= tolerance) || performance.now() >= deadline) return rss;
    await new Promise((r) => setTimeout(r, every));
  }
}
