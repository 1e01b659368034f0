/**
 * The producer end of a ring: writes byte records, splits the large ones into fragments, and turns
 * a full ring into backpressure instead of loss or unbounded memory.
 *
 * Backpressure contract:
 * - `write(bytes)` puts the record in the ring when it fits and nothing is queued before it;
 *   otherwise it joins a local overflow queue, which the writer pumps into the ring each time the
 *   consumer frees space (the consumer rings the "space" doorbell; the writer sleeps on it with
 *   `Atomics.waitAsync`, never blocking its thread).
 * - When the queue reaches `overflowLimit` records, `writable` turns false and `onPause` fires.
 *   From then on `write` REFUSES (returns false, queues nothing): the caller still owns the record
 *   and must wait for `onDrain`, which fires once the queue is empty again and `writable` is true.
 *   A front stops reading its sockets on pause and resumes on drain. So memory is bounded by
 *   `overflowLimit` records, and nothing is dropped silently.
 * - A record larger than `maxRecordBytes` throws RuntimeError `envelope_too_large`: never
 *   truncated, never queued.
 *
 * Fragments: a record larger than a quarter of the ring is written as soon as a useful slice of
 * space is free, in as many fragments as needed (the ring's "more" bit); the reader reassembles.
 * So a record may be larger than the ring itself, and a big one streams through while the
 * consumer reads, instead of waiting for the ring to be almost empty.
 *
 * A watchdog (see ./wake-watch.ts) rescues a wait for space that space is already free for, should
 * a wake-up ever be lost, and counts it (`stalls`, `onStall`).
 */
import { Fifo } from './fifo.js';
import { Ring } from './ring.js';
import { RuntimeError } from '../errors.js';
import { WakeWatch } from './wake-watch.js';

export interface RingWriterOptions {
  /** Largest record accepted, bytes. */
  maxRecordBytes: number;
  /** Records the writer holds while the ring is full before it refuses more. */
  overflowLimit: number;
  /** The queue just filled: stop producing. */
  onPause?: () => void;
  /** The queue is empty again after a pause: produce again. */
  onDrain?: () => void;
  /** The watchdog found the writer waiting for space that was free, and restarted it (see ./wake-watch.ts). */
  onStall?: () => void;
}

export class RingWriter {
  readonly #ring: Ring;
  readonly #maxRecord: number;
  readonly #limit: number;
  readonly #onPause: (() => void) | undefined;
  readonly #onDrain: (() => void) | undefined;
  /** Records above this size may be split. */
  readonly #fragmentAbove: number;
  /** Smallest fragment worth writing (avoids slivers when the ring is nearly full). */
  readonly #minFragment: number;
  readonly #queue = new Fifo<Uint8Array>();
  /** Bytes of the queue's head record already in the ring (as fragments). */
  #headOffset = 0;
  #writable = true;
  #pumping = false;
  #closed = false;
  #maxQueued = 0;
  readonly #watch: WakeWatch;

  constructor(ring: Ring, opts: RingWriterOptions) {
    this.#ring = ring;
    this.#maxRecord = opts.maxRecordBytes;
    this.#limit = Math.max(1, opts.overflowLimit);
    this.#onPause = opts.onPause;
    this.#onDrain = opts.onDrain;
    this.#fragmentAbove = Math.floor(ring.capacity / 4);
    this.#minFragment = Math.max(64, Math.floor(ring.capacity / 16));
    this.#watch = new WakeWatch(
      () => this.#canProgress(),
      () => {
        void this.#pump();
        opts.onStall?.();
      },
    );
  }

  /** False while the overflow queue is full: `write` refuses until `onDrain`. */
  get writable(): boolean {
    return this.#writable;
  }

  /** Records waiting in the overflow queue. */
  get queued(): number {
    return this.#queue.length;
  }

  /** The most records the overflow queue ever held (never above `overflowLimit`, forced records aside). */
  get maxQueued(): number {
    return this.#maxQueued;
  }

  /** Waits for space the watchdog had to end (space was free, no wake-up came). */
  get stalls(): number {
    return this.#watch.stalls;
  }

  /**
   * Write one record. True: it is in the ring or queued behind earlier ones, and will be delivered
   * in order. False: refused because the queue is full (`writable` is false); nothing was kept.
   * `force` queues even then: only for records that are bounded elsewhere (a reply answers an ask
   * the peer already sent, so the peer's own backpressure bounds them).
   */
  write(bytes: Uint8Array, force = false): boolean {
    if (bytes.length > this.#maxRecord) {
      throw new RuntimeError(
        'envelope_too_large',
        `envelope of ${bytes.length} bytes exceeds the ring maximum of ${this.#maxRecord} bytes (runtime.maxEnvelopeBytes)`,
      );
    }
    if (this.#closed) throw new RuntimeError('stopped', 'ring writer is closed');
    if (!this.#writable && !force) return false;
    if (this.#queue.length === 0) {
      const done = this.#writeSome(bytes, 0);
      if (done > 0) this.#ring.dataBell.ring();
      if (done === bytes.length) return true;
      this.#headOffset = done;
    }
    this.#queue.push(bytes);
    const n = this.#queue.length;
    if (n > this.#maxQueued) this.#maxQueued = n;
    if (n >= this.#limit && this.#writable) {
      this.#writable = false;
      this.#onPause?.();
    }
    if (!this.#pumping) void this.#pump();
    return true;
  }

  /** Stop writing and drop the queue (the peer is gone). Returns how many records were dropped. */
  close(): number {
    if (this.#closed) return 0;
    this.#closed = true;
    const dropped = this.#queue.drain().length;
    // Wake our own pump if it sleeps on the space bell, so it sees `closed` and ends.
    this.#ring.spaceBell.wake();
    return dropped;
  }

  /**
   * Write as much of `bytes` from `offset` as the ring takes now: the whole rest as one record, or
   * (for a large record) one fragment filling the free space. Returns the new offset.
   */
  #writeSome(bytes: Uint8Array, offset: number): number {
    const ring = this.#ring;
    if (ring.push(bytes, offset, bytes.length, false)) return bytes.length;
    if (bytes.length <= this.#fragmentAbove) return offset;
    const room = ring.room();
    // The consumer may have freed space since the push above: then the rest fits whole.
    if (room >= bytes.length - offset) return ring.push(bytes, offset, bytes.length, false) ? bytes.length : offset;
    if (room < this.#minFragment) return offset;
    ring.push(bytes, offset, offset + room, true);
    return offset + room;
  }

  /** True when the head of the queue can make progress with the space free now. */
  #canProgress(): boolean {
    if (this.#closed) return true;
    const head = this.#queue.peek();
    if (head === undefined) return true;
    const rest = head.length - this.#headOffset;
    const free = this.#ring.availableWrite();
    if (Ring.footprint(rest) <= free) return true;
    return head.length > this.#fragmentAbove && free - 4 >= this.#minFragment;
  }

  /** Move queued records into the ring as the consumer frees space; sleeps on the space bell. */
  async #pump(): Promise<void> {
    const generation = this.#watch.generation;
    this.#pumping = true;
    try {
      while (!this.#closed && this.#queue.length > 0) {
        const wait = this.#ring.spaceBell.sleep(() => this.#canProgress());
        if (wait !== null) {
          this.#watch.asleep();
          await wait;
          // The watchdog restarted the pump meanwhile (see ./wake-watch.ts): that one carries on.
          if (generation !== this.#watch.generation) return;
          this.#watch.awake();
        }
        if (this.#closed) return;
        let wrote = false;
        for (let head = this.#queue.peek(); head !== undefined; head = this.#queue.peek()) {
          const done = this.#writeSome(head, this.#headOffset);
          if (done !== this.#headOffset) wrote = true;
          if (done < head.length) {
            this.#headOffset = done;
            break;
          }
          this.#queue.shift();
          this.#headOffset = 0;
        }
        if (wrote) this.#ring.dataBell.ring();
      }
    } finally {
      if (generation === this.#watch.generation) {
        this.#pumping = false;
        this.#watch.stop();
      }
    }
    if (!this.#closed && !this.#writable) {
      this.#writable = true;
      this.#onDrain?.();
    }
  }
}
