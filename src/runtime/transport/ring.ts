/**
 * A single-producer single-consumer ring of variable-length records in a SharedArrayBuffer, after
 * padenot/ringbuf.js: head and tail indices, one 4-byte slot kept empty ("capacity + 1" storage;
 * records are 4-byte aligned) so that `read === write` means empty and never full, `Atomics.load`
 * of both indices, a plain copy, then `Atomics.store` of the index that publishes (the write index for the producer, the read index for
 * the consumer). The copy happens-before the store, and the other side's load of that index
 * happens-before its reads, so no record is ever seen half-written.
 *
 * Records: a 4-byte header (payload length, high bit = "more fragments follow") then the payload,
 * padded to 4 bytes so every header is aligned and never straddles the end. A payload may wrap
 * around the end of the storage; it is then written (and read) in two pieces. A record larger than
 * the ring can still pass as several fragments (see RingWriter); the ring itself only checks that
 * each record fits.
 *
 * Layout, each shared word on its own 64-byte line so the two threads do not fight over one line:
 *   [0]   write index        (producer stores, consumer loads)
 *   [64]  read index         (consumer stores, producer loads)
 *   [128] data doorbell      (seq, consumer sleeping)
 *   [192] space doorbell     (seq, producer sleeping)
 *   [256] capacity, magic (a ring checks it is given one)
 *   [320] canary guard (64 bytes), storage (capacity + 4 bytes), canary guard (64 bytes)
 * The guards cost 128 bytes and let a test (or a debugging session) prove no write went astray.
 */
import { Doorbell } from './doorbell.js';

const W_WRITE = 0;
const W_READ = 16;
const W_DATA_SEQ = 32;
const W_DATA_SLEEPING = 33;
const W_SPACE_SEQ = 48;
const W_SPACE_SLEEPING = 49;
const W_CAPACITY = 64;
const W_MAGIC = 65;
const MAGIC = 0x52494e47; // "RING"
const GUARD_BYTES = 64;
const GUARD_START = 320;
const STORAGE_START = GUARD_START + GUARD_BYTES;
/** Bytes a ring uses besides its storage: header, guards and the one empty slot. */
const RING_OVERHEAD = STORAGE_START + GUARD_BYTES + 4;
const MORE = 0x80000000;
const LENGTH_MASK = 0x7fffffff;
/** Consumer publishes its read index at least this often inside one batch, so a big batch frees space early. */
const PUBLISH_READ_EVERY = 16 * 1024;

const canary = (i: number): number => (0xa5 ^ (i * 29)) & 0xff;
const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Called for each record by `Ring.read` with a copy of its payload in a reused buffer, valid only
 * during the call. Return false to stop.
 */
export type RecordVisitor = (bytes: Uint8Array, start: number, end: number, more: boolean) => boolean;

export class Ring {
  readonly buffer: SharedArrayBuffer;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  /** Bytes of the storage, a multiple of 4: capacity + one empty 4-byte slot. */
  readonly #storage: number;
  readonly #capacity: number;
  /** Reused to hand each payload over, in one piece and in ordinary (not shared) memory. */
  #scratch = Buffer.alloc(0);
  readonly dataBell: Doorbell;
  readonly spaceBell: Doorbell;

  /** A new shared buffer of `totalBytes` (a multiple of 4 is used), with guards written. */
  static allocate(totalBytes: number): SharedArrayBuffer {
    const total = totalBytes & ~3;
    if (total < RING_OVERHEAD + 64) throw new RangeError(`a ring needs at least ${RING_OVERHEAD + 64} bytes, got ${totalBytes}`);
    const sab = new SharedArrayBuffer(total);
    const i32 = new Int32Array(sab);
    const capacity = total - RING_OVERHEAD;
    i32[W_CAPACITY] = capacity;
    i32[W_MAGIC] = MAGIC;
    const u8 = new Uint8Array(sab);
    const after = STORAGE_START + capacity + 4;
    for (let i = 0; i < GUARD_BYTES; i++) {
      u8[GUARD_START + i] = canary(i);
      u8[after + i] = canary(i + GUARD_BYTES);
    }
    return sab;
  }

  constructor(buffer: SharedArrayBuffer) {
    const i32 = new Int32Array(buffer);
    if (i32[W_MAGIC] !== MAGIC) throw new TypeError('not a ring buffer (use Ring.allocate)');
    this.buffer = buffer;
    this.#i32 = i32;
    this.#u8 = Buffer.from(buffer);
    this.#capacity = i32[W_CAPACITY]!;
    this.#storage = this.#capacity + 4;
    this.dataBell = new Doorbell(i32, W_DATA_SEQ, W_DATA_SLEEPING);
    this.spaceBell = new Doorbell(i32, W_SPACE_SEQ, W_SPACE_SLEEPING);
  }

  /** Bytes of records (headers and padding included) the ring holds when full. */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Bytes the consumer may read now. Exact on the consumer's thread at the moment of the call; on
   * the producer's thread the count can be late (the consumer may have read more since).
   */
  availableRead(): number {
    const w = Atomics.load(this.#i32, W_WRITE);
    const r = Atomics.load(this.#i32, W_READ);
    return (w - r + this.#storage) % this.#storage;
  }

  /**
   * Bytes the producer may write now. Exact on the producer's thread; elsewhere it can be late
   * (the producer may have written more since).
   */
  availableWrite(): number {
    return this.#capacity - this.availableRead();
  }

  /** The largest payload one record could carry now (producer side). */
  room(): number {
    return Math.max(0, this.availableWrite() - 4);
  }

  /** Bytes a record of `length` payload bytes occupies. */
  static footprint(length: number): number {
    return 4 + align4(length);
  }

  /**
   * Producer: append `src[start, end)` as one record if it fits, and publish it. Returns false
   * (writing nothing) when it does not fit now.
   */
  push(src: Uint8Array, start: number, end: number, more: boolean): boolean {
    const length = end - start;
    if (length < 0 || length > LENGTH_MASK) throw new RangeError(`bad record bounds ${start}..${end}`);
    const size = 4 + align4(length);
    const i32 = this.#i32;
    const storage = this.#storage;
    const w = Atomics.load(i32, W_WRITE);
    const r = Atomics.load(i32, W_READ);
    if (this.#capacity - (w - r + storage) % storage < size) return false;
    i32[(STORAGE_START + w) >> 2] = more ? (length | MORE) : length;
    let at = w + 4;
    if (at === storage) at = 0;
    const first = Math.min(length, storage - at);
    const u8 = this.#u8;
    if (first === length) {
      const to = STORAGE_START + at;
      // A loop beats `set` (and its subarray allocation) for the small envelopes that dominate.
      if (length <= 48) for (let i = 0; i < length; i++) u8[to + i] = src[start + i]!;
      else u8.set(src.subarray(start, end), to);
    } else {
      u8.set(src.subarray(start, start + first), STORAGE_START + at);
      u8.set(src.subarray(start + first, end), STORAGE_START);
    }
    Atomics.store(i32, W_WRITE, (w + size) % storage);
    return true;
  }

  /**
   * Consumer: visit the records available now, in order, then publish the new read index (also
   * every 16 KiB inside a long batch, ringing the space doorbell, so the producer gets space back
   * early). Stops early when the visitor returns false; the records after stay in the ring.
   * Returns the number of records read (fragments count one each).
   */
  read(visit: RecordVisitor): number {
    const i32 = this.#i32;
    const u8 = this.#u8;
    const storage = this.#storage;
    const w = Atomics.load(i32, W_WRITE);
    let r = Atomics.load(i32, W_READ);
    let published = r;
    let count = 0;
    let sincePublish = 0;
    while (r !== w) {
      const header = i32[(STORAGE_START + r) >> 2]!;
      const length = header & LENGTH_MASK;
      const more = (header & MORE) !== 0;
      const size = 4 + align4(length);
      let at = r + 4;
      if (at === storage) at = 0;
      const first = Math.min(length, storage - at);
      // Hand the payload over as a copy in ordinary memory: decoders are several times slower on
      // views of shared memory (msgpackr's native string path takes ~8 µs per call on one), and a
      // copy is what a wrapped payload needs anyway.
      if (this.#scratch.length < length) this.#scratch = Buffer.allocUnsafeSlow(Math.max(length, this.#scratch.length * 2, 4096));
      const scratch = this.#scratch;
      const from = STORAGE_START + at;
      if (first === length) {
        if (length <= 64) for (let i = 0; i < length; i++) scratch[i] = u8[from + i]!;
        else scratch.set(u8.subarray(from, from + length), 0);
      } else {
        scratch.set(u8.subarray(from, from + first), 0);
        scratch.set(u8.subarray(STORAGE_START, STORAGE_START + length - first), first);
      }
      const go = visit(scratch, 0, length, more);
      r = (r + size) % storage;
      count++;
      sincePublish += size;
      if (sincePublish >= PUBLISH_READ_EVERY) {
        // Give the space back now and wake a producer waiting for it, so it refills the ring while
        // we are still reading: without this the two threads take turns instead of overlapping.
        Atomics.store(i32, W_READ, r);
        this.spaceBell.ring();
        published = r;
        sincePublish = 0;
      }
      if (!go) break;
    }
    if (r !== published) Atomics.store(i32, W_READ, r);
    return count;
  }

  /** True when both canary guards around the storage are intact. */
  guardsIntact(): boolean {
    const u8 = this.#u8;
    const after = STORAGE_START + this.#storage;
    for (let i = 0; i < GUARD_BYTES; i++) {
      if (u8[GUARD_START + i] !== canary(i) || u8[after + i] !== canary(i + GUARD_BYTES)) return false;
    }
    return true;
  }
}
