/**
 * A small hash table in a SharedArrayBuffer, for the login throttles (./throttle.ts): every front
 * of a node sees the same counts, so a source whose connections the kernel spreads over the fronts
 * gets one budget, not one per front. Each entry is a string key (kept as two 32-bit hashes: two
 * keys share an entry about once in 2^64) and two numbers whose meaning is the caller's.
 *
 * One lock word for the whole table: every operation is a handful of loads and stores, done only on
 * a login or a registration. A thread that cannot get the lock within SPIN tries goes ahead without
 * it (never a blocked front; at worst one count lost), as src/limits/shared-buckets.ts does. No
 * thread ever calls Atomics.wait.
 *
 * Entries are never removed; one whose `b` (a time, epoch ms) is older than the caller's horizon
 * may be reused. A full probe run evicts its oldest entry.
 */

const SLOTS = 1 << 16;
const MASK = SLOTS - 1;
const PROBES = 32;
const SPIN = 20_000;

/** lock word, then per slot two int32 key words, then per slot two float64 values. */
export const SHARED_TABLE_BYTES = 8 + SLOTS * 8 + SLOTS * 16;

export class SharedTable {
  readonly #lock: Int32Array;
  readonly #keys: Int32Array;
  readonly #vals: Float64Array;

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(SHARED_TABLE_BYTES);
  }

  constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength !== SHARED_TABLE_BYTES) throw new RangeError(`shared table needs ${SHARED_TABLE_BYTES} bytes, got ${buffer.byteLength}`);
    this.#lock = new Int32Array(buffer, 0, 2);
    this.#keys = new Int32Array(buffer, 8, SLOTS * 2);
    this.#vals = new Float64Array(buffer, 8 + SLOTS * 8, SLOTS * 2);
  }

  /**
   * Run `fn` on the entry of `key` under the table's lock: it gets the entry's values (zeros for a
   * new or stale entry: `b` below `staleBefore`) and returns the values to store, or null to leave
   * them. Returns what `fn` returned.
   */
  update(key: string, staleBefore: number, fn: (a: number, b: number) => [number, number] | null): [number, number] | null {
    const [k1, k2] = hashes(key);
    const locked = this.#acquire();
    try {
      const slot = this.#slot(k1, k2, staleBefore);
      const fresh = this.#keys[slot * 2] === k1 && this.#keys[slot * 2 + 1] === k2 && this.#vals[slot * 2 + 1]! >= staleBefore;
      const out = fn(fresh ? this.#vals[slot * 2]! : 0, fresh ? this.#vals[slot * 2 + 1]! : 0);
      if (out !== null) {
        this.#keys[slot * 2] = k1;
        this.#keys[slot * 2 + 1] = k2;
        this.#vals[slot * 2] = out[0];
        this.#vals[slot * 2 + 1] = out[1];
      }
      return out;
    } finally {
      if (locked) Atomics.store(this.#lock, 0, 0);
    }
  }

  /** The slot holding the key, else the first empty or stale one, else the oldest probed. */
  #slot(k1: number, k2: number, staleBefore: number): number {
    let slot = (k1 ^ Math.imul(k2, 0x9e3779b1)) & MASK;
    let free = -1;
    let oldest = slot;
    for (let i = 0; i < PROBES; i++, slot = (slot + 1) & MASK) {
      const a = this.#keys[slot * 2]!;
      const b = this.#keys[slot * 2 + 1]!;
      if (a === k1 && b === k2) return slot;
      const at = this.#vals[slot * 2 + 1]!;
      if (free < 0 && ((a === 0 && b === 0) || at < staleBefore)) free = slot;
      if (at < this.#vals[oldest * 2 + 1]!) oldest = slot;
    }
    return free >= 0 ? free : oldest;
  }

  #acquire(): boolean {
    for (let i = 0; i < SPIN; i++) if (Atomics.compareExchange(this.#lock, 0, 0, 1) === 0) return true;
    return false;
  }
}

/** Two independent 32-bit FNV-1a hashes of the key (different offsets); never both zero. */
function hashes(key: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h2 >>> 15);
  }
  return [h1 | 0, (h2 | 0) === 0 && (h1 | 0) === 0 ? 1 : h2 | 0];
}
