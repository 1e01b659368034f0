/**
 * A doorbell in shared memory: one thread sleeps on it with `Atomics.waitAsync`, another rings it
 * only when the sleeper may actually be asleep. A ring uses two: "data" (the consumer sleeps, the
 * producer rings after publishing) and "space" (the producer sleeps while its overflow queue waits,
 * the consumer rings after freeing space).
 *
 * Why two words: `seq` is what the sleeper waits on (a ring bumps it, so a ring that lands between
 * "look" and "wait" makes the wait return at once); `sleeping` is how the ringer knows whether a
 * notify is needed at all. A busy consumer never sets it, so a busy producer never calls
 * `Atomics.notify` (which takes a lock inside V8): one notify per sleep, not one per message.
 *
 * Never `Atomics.wait`: the threads that sleep here also serve sockets and timers.
 */
/** `Atomics.waitAsync` (Node 16+) is typed from lib ES2024 on; the project targets ES2023. */
interface WaitAsync {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
    timeout?: number,
  ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}
export const waitAsync: WaitAsync['waitAsync'] = (Atomics as unknown as WaitAsync).waitAsync;

/** Values of the `sleeping` word. */
const AWAKE = 0;
/** Asleep until rung: a ringer must notify. */
const ASLEEP = 1;
/** Napping: the sleeper wakes by itself within its nap, so a ringer need not notify (see `sleep`). */
const NAPPING = 2;

export class Doorbell {
  readonly #i32: Int32Array;
  readonly #seq: number;
  readonly #sleeping: number;

  /** `seq` and `sleeping` are indices of two Int32 words of `i32`, owned by this doorbell. */
  constructor(i32: Int32Array, seq: number, sleeping: number) {
    this.#i32 = i32;
    this.#seq = seq;
    this.#sleeping = sleeping;
  }

  /**
   * Sleeper side. Returns null when `hasWork()` is already true (nothing to wait for), else a
   * promise that settles when the bell rings, or, with `napMs`, at the latest after that long.
   *
   * The order prevents a lost wake-up: the sleeper announces itself (`sleeping = 1`) BEFORE its
   * last look at the shared state, and the ringer publishes its data BEFORE it looks at `sleeping`.
   * Atomics are sequentially consistent, so either the last look sees the data, or the ringer sees
   * `sleeping = 1` and rings. Checking first and announcing second would let a producer publish and
   * skip the notify in between, leaving the consumer asleep with data in the ring.
   *
   * A nap (`napMs` > 0) announces `sleeping = 2` and sleeps on a timer: ringers skip the notify
   * altogether, since the sleeper comes back by itself (`wake()` does not shorten a nap). Under
   * steady traffic that trades at most `napMs` of latency for no `Atomics.notify` per publish on
   * the producer's side and one wake-up per nap, however many records arrived, on the consumer's.
   */
  sleep(hasWork: () => boolean, napMs = 0): Promise<unknown> | null {
    const i32 = this.#i32;
    Atomics.store(i32, this.#sleeping, napMs > 0 ? NAPPING : ASLEEP);
    const seq = Atomics.load(i32, this.#seq);
    if (hasWork()) {
      Atomics.store(i32, this.#sleeping, AWAKE);
      return null;
    }
    if (napMs > 0) {
      // A timer on this thread's own loop, not waitAsync's timeout: that one is kept by a platform
      // thread, which then has to wake this one (two thread wake-ups per nap instead of none).
      // Nobody clears a nap's flag (ringers only clear `1`): the napper does when it wakes.
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          Atomics.store(i32, this.#sleeping, AWAKE);
          resolve();
        }, napMs),
      );
    }
    // If a ring bumped `seq` since we read it, waitAsync answers "not-equal" synchronously.
    const waited = waitAsync(i32, this.#seq, seq);
    if (!waited.async) {
      Atomics.store(i32, this.#sleeping, AWAKE);
      return null;
    }
    return waited.value;
  }

  /**
   * Ringer side: call after publishing. Notifies only if the sleeper announced itself, and only
   * once per sleep (the compare-exchange clears the flag, so a burst of publishes while the
   * sleeper is waking up costs one notify). Returns whether it notified.
   */
  ring(): boolean {
    const i32 = this.#i32;
    if (Atomics.load(i32, this.#sleeping) !== ASLEEP) return false;
    if (Atomics.compareExchange(i32, this.#sleeping, ASLEEP, AWAKE) !== ASLEEP) return false;
    Atomics.add(i32, this.#seq, 1);
    Atomics.notify(i32, this.#seq);
    return true;
  }

  /** Wake the sleeper whatever its flag says (used on close, so a sleeper re-checks and leaves). */
  wake(): void {
    Atomics.store(this.#i32, this.#sleeping, AWAKE);
    Atomics.add(this.#i32, this.#seq, 1);
    Atomics.notify(this.#i32, this.#seq);
  }
}
