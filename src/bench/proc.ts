/**
 * CPU time and memory of another process, from Linux's /proc. The bench reads its target server
 * this way so server CPU is never mixed with the load generator's.
 */
import { readFileSync } from 'node:fs';
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
export function clockTicks(): number {
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

/** Parse /proc/<pid>/stat text: CPU seconds. The command name may hold spaces and parentheses. */
export function parseStat(text: string, ticks = clockTicks()): { cpuS: number; threads: number } {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('malformed /proc stat');
  // Fields after "(comm)" start at field 3 (state); utime is field 14, stime 15, num_threads 20.
  const f = text.slice(close + 2).split(' ');
  const utime = Number(f[14 - 3]);
  const stime = Number(f[15 - 3]);
  const threads = Number(f[20 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('malformed /proc stat');
  return { cpuS: (utime + stime) / ticks, threads };
}

/** Parse /proc/<pid>/status text: VmRSS and VmHWM in MiB. */
export function parseStatus(text: string): { rssMb: number; rssPeakMb: number } {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) / 1024 : 0;
  };
  return { rssMb: kb('VmRSS'), rssPeakMb: kb('VmHWM') };
}

/** One reading of `pid`, or null when the process is gone (or /proc is not there). */
export function readProc(pid: number): ProcSample | null {
  try {
    const s = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const m = parseStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS: s.cpuS, threads: s.threads, ...m };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw e;
  }
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
