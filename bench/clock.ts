/**
 * One monotonic clock for every thread of the process.
 *
 * `performance.now()` counts from each thread's own `timeOrigin`, so values from two worker
 * threads are not comparable, and `performance.timeOrigin` is wall-clock based (NTP can move it).
 * Node derives `performance.now()` from the same `uv_hrtime()` (CLOCK_MONOTONIC) as
 * `process.hrtime`, so the offset between the two is a per-thread constant: measured once here,
 * `performance.now() + offset` is the system's monotonic clock in ms, shared by all threads (and
 * processes) of this machine, without allocating a BigInt per reading.
 */
import { performance } from 'node:perf_hooks';

function calibrate(): number {
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 16; i++) {
    const a = performance.now();
    const h = Number(process.hrtime.bigint()) / 1e6;
    const b = performance.now();
    if (b - a < best) {
      best = b - a;
      offset = h - (a + b) / 2;
    }
  }
  return offset;
}

const OFFSET_MS = calibrate();

/** Monotonic milliseconds (fractional), comparable across threads of this machine. */
export function nowMs(): number {
  return performance.now() + OFFSET_MS;
}

/** Monotonic whole microseconds, comparable across threads of this machine. */
export function nowUs(): number {
  return Math.round((performance.now() + OFFSET_MS) * 1000);
}
