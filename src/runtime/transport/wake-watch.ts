/**
 * A watchdog for a thread that sleeps on a doorbell (./doorbell.ts) until rung: should a wake-up
 * ever be lost, it ends the sleep itself, and counts it.
 *
 * Why: the doorbell's protocol cannot lose a ring (see `Doorbell.sleep`), but the promise
 * `Atomics.waitAsync` returns is settled by a task V8 posts to the sleeping thread, and a sleep that
 * never ends has no cure of its own. On a ring the stakes are a deadlock: a producer waiting for
 * space behind a full ring whose consumer sleeps would wait for ever, and so would everything
 * queued behind it. The suite once saw test/ring.ts's two-thread stress run (a million records)
 * hang with no error, and 30 runs since did not reproduce it; whether a wake-up was lost is not
 * known. Should one be, this turns it into a delay of at most two looks, a counter and a log line
 * instead of a frozen thread.
 *
 * How: the owner says when it falls asleep and when it wakes (two field writes: a sleep is on
 * the hot path of every ring). Every `WATCH_EVERY_MS` the watch looks. A sleep that has work ready
 * (`ready`) at two looks in a row is stalled: a wake-up still in flight is delivered between two
 * looks, since the event loop runs the tasks V8 posts before it runs timers again. The watch then
 * counts it, moves to a new `generation` and calls `rescue`, which restarts the owner's loop; the
 * stalled loop, should its wake-up come after all, sees the generation it started in has passed
 * and ends. The timer is unref'd (it never keeps a
 * thread alive) and runs from the first sleep until `stop()`.
 */
export const WATCH_EVERY_MS = 250;

export class WakeWatch {
  readonly #ready: () => boolean;
  readonly #rescue: () => void;
  #timer: NodeJS.Timeout | null = null;
  #asleep = false;
  /** Sleeps begun so far: two looks at the same number saw the same sleep. */
  #sleeps = 0;
  /** The sleep the last look found with work ready, or -1. */
  #suspect = -1;
  #stalls = 0;

  /**
   * `ready`: the sleeper has work now. `rescue`: end a stalled sleep (restart the owner's loop).
   * Both are called on the sleeper's own thread.
   */
  constructor(ready: () => boolean, rescue: () => void) {
    this.#ready = ready;
    this.#rescue = rescue;
  }

  /** Sleeps the watch had to end. */
  get stalls(): number {
    return this.#stalls;
  }

  /**
   * Moves on at each stall, before `rescue` (it is the stall count): a loop that started in an
   * older generation was replaced.
   */
  get generation(): number {
    return this.#stalls;
  }

  /** The owner starts waiting for its doorbell. */
  asleep(): void {
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#look(), WATCH_EVERY_MS);
      this.#timer.unref();
    }
    this.#sleeps++;
    this.#asleep = true;
  }

  /** The owner's doorbell woke it. */
  awake(): void {
    this.#asleep = false;
  }

  /** No more sleeps to watch (until the next `asleep`). */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#asleep = false;
    this.#suspect = -1;
  }

  #look(): void {
    if (!this.#asleep || !this.#ready()) {
      this.#suspect = -1;
      return;
    }
    if (this.#suspect !== this.#sleeps) {
      // First sight: the ring that ends this sleep may be on its way.
      this.#suspect = this.#sleeps;
      return;
    }
    this.#suspect = -1;
    this.#asleep = false;
    this.#stalls++;
    this.#rescue();
  }
}
