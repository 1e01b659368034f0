/**
 * Supervision strategies as named values (Akka's vocabulary): what to do after a failure. The
 * same values serve actors (restart the actor with reloaded state) and worker threads (restart the
 * thread). `failures` counts consecutive failures, from 1; the answer is how long to wait before
 * the restart.
 */
export interface SupervisionStrategy {
  readonly name: string;
  delayMs(failures: number): number;
}

/** Restart at once. */
export const restart: SupervisionStrategy = Object.freeze({ name: 'restart', delayMs: () => 0 });

/**
 * Restart after min·2^(failures-1) ms, capped at max, each delay spread by ±jitter (a fraction, so
 * several failing actors or threads do not come back in lockstep).
 */
export function restartWithBackoff(
  minMs: number,
  maxMs: number,
  jitter = 0.2,
  random: () => number = Math.random,
): SupervisionStrategy {
  if (!(minMs >= 0 && maxMs >= minMs && jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`restartWithBackoff(${minMs}, ${maxMs}, ${jitter}): need 0 <= min <= max and 0 <= jitter <= 1`);
  }
  return Object.freeze({
    name: `restartWithBackoff(${minMs}, ${maxMs}, ${jitter})`,
    delayMs(failures: number): number {
      const base = Math.min(maxMs, minMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
      return Math.max(0, Math.round(base * (1 + jitter * (random() * 2 - 1))));
    },
  });
}
