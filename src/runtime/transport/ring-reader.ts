/**
 * The consumer end of a ring: sleeps on the data doorbell with `Atomics.waitAsync` (never
 * `Atomics.wait`: this thread serves sockets and timers too), and on each wake-up drains every
 * record available (batching: one wake-up, many records), reassembling fragments, then rings the
 * space doorbell in case the producer waits for room. Under sustained load it yields to the event
 * loop between batches (`setImmediate`) so I/O and timers still run. Before sleeping it may poll
 * for a few microseconds (see `#spin`).
 *
 * A pending `Atomics.waitAsync` does not keep a thread alive: the thread's owner must (a worker's
 * parent port does).
 *
 * `pause()` (from inside the handler or anywhere) stops reading after the current record; the
 * records behind stay in the ring, the ring fills, and the producer's overflow queue turns into
 * backpressure on whoever feeds it. `resume()` reads again.
 *
 * A watchdog (see ./wake-watch.ts) rescues a sleep that records are waiting behind, should a
 * wake-up ever be lost, and counts it (`stats.stalls`, `onStall`).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Ring } from './ring.js';
import { WakeWatch } from './wake-watch.js';

/** A complete record, in a reused buffer only valid during the call: copy what you keep. */
export type RecordHandler = (bytes: Uint8Array, start: number, end: number) => void;

export interface RingReaderOptions {
  /** Largest reassembled record accepted; a longer one is a protocol error (reported, dropped). */
  maxRecordBytes: number;
  /**
   * Longest busy-poll before sleeping, in microseconds (default 30; 0 never spins). See `#spin`.
   */
  spinMicros?: number;
  /**
   * Under traffic, nap this long instead of sleeping until rung (default 0: never nap). A
   * napping reader is not notified by the producer (see `Doorbell.sleep`): it wakes once per nap
   * and reads what arrived meanwhile, so a record may wait up to `napMs` longer. The reader naps
   * only while records keep coming (one arrived within the last `NAP_WHILE_NAPS` naps); past that
   * it sleeps until rung again, so an idle thread costs nothing and its first record waits for
   * nobody.
   */
  napMs?: number;
  /** A handler threw, or a record broke the protocol. The reader carries on with the next record. */
  onError?: (err: unknown) => void;
  /** The watchdog found this reader asleep with records waiting, and restarted it (see ./wake-watch.ts). */
  onStall?: () => void;
}

/** Naps in a row that found nothing before a reader goes back to sleeping until rung. */
const NAP_WHILE_NAPS = 16;

export class RingReader {
  readonly #ring: Ring;
  readonly #handle: RecordHandler;
  readonly #maxRecord: number;
  readonly #onError: (err: unknown) => void;
  /** Fragments of the record being reassembled. */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  #paused = false;
  #closed = false;
  #running = false;
  #resume: (() => void) | null = null;
  #records = 0;
  #wakeups = 0;
  readonly #maxSpinMs: number;
  /** Current spin budget (ms): halves after a spin that found nothing, back to max after one that did. */
  #spinMs: number;
  /** Sleeps since spinning switched itself off; at 64 it probes again. */
  #sleepsWithoutSpin = 0;
  readonly #napMs: number;
  /** Naps since the last record arrived (see `napMs`); from NAP_WHILE_NAPS on, sleep until rung. */
  #emptyNaps = NAP_WHILE_NAPS;
  readonly #watch: WakeWatch;
  readonly #visit = (bytes: Uint8Array, start: number, end: number, more: boolean): boolean => {
    this.#records++;
    try {
      if (more || this.#parts.length > 0) this.#fragment(bytes, start, end, more);
      else this.#handle(bytes, start, end);
    } catch (err) {
      this.#onError(err);
    }
    return !this.#paused && !this.#closed;
  };

  constructor(ring: Ring, handle: RecordHandler, opts: RingReaderOptions) {
    this.#ring = ring;
    this.#handle = handle;
    this.#maxRecord = opts.maxRecordBytes;
    this.#maxSpinMs = (opts.spinMicros ?? 30) / 1000;
    this.#spinMs = this.#maxSpinMs;
    this.#napMs = opts.napMs ?? 0;
    this.#onError =
      opts.onError ??
      ((err) => {
        throw err;
      });
    this.#watch = new WakeWatch(
      () => ring.availableRead() > 0,
      () => {
        void this.#run();
        opts.onStall?.();
      },
    );
  }

  /**
   * Records read so far (fragments count one each), wake-ups from sleep, and sleeps the watchdog
   * had to end (records waiting, no wake-up came): for stats and tests.
   */
  get stats(): { records: number; wakeups: number; stalls: number } {
    return { records: this.#records, wakeups: this.#wakeups, stalls: this.#watch.stalls };
  }

  get paused(): boolean {
    return this.#paused;
  }

  start(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#run();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const r = this.#resume;
    this.#resume = null;
    r?.();
  }

  /** Stop for good (the producer is gone). Pending fragments are discarded. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#parts = [];
    this.#watch.stop();
    const r = this.#resume;
    this.#resume = null;
    r?.();
    this.#ring.dataBell.wake();
  }

  #fragment(bytes: Uint8Array, start: number, end: number, more: boolean): void {
    this.#partsBytes += end - start;
    if (this.#partsBytes > this.#maxRecord) {
      // Keep skipping fragments of this record until its last one, then start clean.
      if (!more) {
        const size = this.#partsBytes;
        this.#parts = [];
        this.#partsBytes = 0;
        throw new RangeError(`reassembled record of ${size} bytes exceeds ${this.#maxRecord}; dropped`);
      }
      this.#parts = [Buffer.alloc(0)];
      return;
    }
    this.#parts.push(Buffer.from(bytes.subarray(start, end)));
    if (more) return;
    const whole = Buffer.concat(this.#parts, this.#partsBytes);
    this.#parts = [];
    this.#partsBytes = 0;
    this.#handle(whole, 0, whole.length);
  }

  /**
   * Poll the ring for a few microseconds before sleeping. A wake-up through `Atomics.waitAsync`
   * costs tens of microseconds (a task posted to this thread's event loop), more at the tail; under
   * steady traffic the next record usually lands sooner than that. The budget adapts: a spin that
   * finds nothing halves the next one, down to none (then one full probe every 64 sleeps), so an
   * idle or lightly loaded thread does not burn CPU; a spin that finds work restores the maximum.
   * The thread's event loop waits at most one budget: never a blocking wait.
   */
  #spin(): boolean {
    if (this.#maxSpinMs === 0) return false;
    if (this.#spinMs === 0) {
      if (++this.#sleepsWithoutSpin < 64) return false;
      this.#sleepsWithoutSpin = 0;
      this.#spinMs = this.#maxSpinMs;
    }
    const ring = this.#ring;
    const until = performance.now() + this.#spinMs;
    do {
      if (ring.availableRead() > 0) {
        this.#spinMs = this.#maxSpinMs;
        return true;
      }
    } while (performance.now() < until);
    this.#spinMs = this.#spinMs < this.#maxSpinMs / 8 ? 0 : this.#spinMs / 2;
    return false;
  }

  async #run(): Promise<void> {
    const generation = this.#watch.generation;
    const ring = this.#ring;
    const hasWork = (): boolean => this.#closed || ring.availableRead() > 0;
    while (!this.#closed) {
      if (this.#paused) {
        await new Promise<void>((resolve) => (this.#resume = resolve));
        continue;
      }
      const n = ring.read(this.#visit);
      // Space was freed: the producer may be sleeping on a full ring (one load when it is not).
      if (n > 0) {
        ring.spaceBell.ring();
        this.#emptyNaps = 0;
      }
      if (this.#closed || this.#paused) continue;
      const nap = this.#napMs > 0 && this.#emptyNaps < NAP_WHILE_NAPS;
      if (nap) this.#emptyNaps++;
      else if (this.#spin()) continue;
      const wait = ring.dataBell.sleep(hasWork, nap ? this.#napMs : 0);
      if (wait !== null) {
        // A nap ends by itself; a sleep until rung is what a lost wake-up could make endless.
        if (nap) await wait;
        else {
          this.#watch.asleep();
          await wait;
          if (generation !== this.#watch.generation) return;
          this.#watch.awake();
        }
        this.#wakeups++;
      } else {
        // More arrived while we read: read it, but let I/O and timers run first.
        await yieldToLoop();
      }
    }
  }
}
