/**
 * Open WebSockets per user and per source address, counted across the node's fronts in one
 * SharedArrayBuffer, for `limits.connectionsPerUser` and `limits.connectionsPerSource`.
 *
 * Each front owns one region and is its only writer (no locks): a table of (key, count) with
 * linear probing. A count is the sum over the regions: reads of other fronts' regions may be a
 * moment late, so a cap can be passed by the sockets opened in that moment on other fronts (a
 * few at most), never by a flood. A front that restarts clears its region (its predecessor's
 * sockets are gone with it). A region that is full counts no new key (the cap is then not applied
 * to it) rather than refuse connections it cannot count.
 *
 * Keys: a user id (a positive integer), or a source address as `-(1 + 32-bit hash)`: two
 * addresses sharing a hash share a cap, a 1 in 2^32 chance per pair.
 */

const SLOTS = 1 << 16;
const BYTES_PER_REGION = SLOTS * 8 + SLOTS * 4;

export class ConnectionCounts {
  readonly #keys: Float64Array[] = [];
  readonly #counts: Int32Array[] = [];
  readonly #own: number;

  static allocate(fronts: number): SharedArrayBuffer {
    return new SharedArrayBuffer(fronts * BYTES_PER_REGION);
  }

  /** `own`: this front's index (its region). */
  constructor(buffer: SharedArrayBuffer, own: number) {
    const fronts = buffer.byteLength / BYTES_PER_REGION;
    if (!Number.isInteger(fronts) || own < 0 || own >= fronts) throw new RangeError(`connection counts: no region ${own} in ${buffer.byteLength} bytes`);
    for (let f = 0; f < fronts; f++) {
      this.#keys.push(new Float64Array(buffer, f * BYTES_PER_REGION, SLOTS));
      this.#counts.push(new Int32Array(buffer, f * BYTES_PER_REGION + SLOTS * 8, SLOTS));
    }
    this.#own = own;
  }

  /** Forget this front's counts (a restarted front: its predecessor's sockets are gone). */
  reset(): void {
    this.#keys[this.#own]!.fill(0);
    for (let i = 0; i < SLOTS; i++) Atomics.store(this.#counts[this.#own]!, i, 0);
  }

  static userKey(userId: number): number {
    return userId;
  }

  static sourceKey(address: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193);
    return -1 - (h >>> 0);
  }

  /** Sockets counted for `key` on every front. */
  count(key: number): number {
    let n = 0;
    for (let f = 0; f < this.#keys.length; f++) {
      const i = this.#find(f, key);
      if (i >= 0) n += Atomics.load(this.#counts[f]!, i);
    }
    return n;
  }

  /** Count one more socket for `key` if fewer than `cap` are counted; false when at the cap. */
  tryAdd(key: number, cap: number): boolean {
    if (this.count(key) >= cap) return false;
    const keys = this.#keys[this.#own]!;
    const counts = this.#counts[this.#own]!;
    let i = this.#find(this.#own, key);
    if (i < 0) {
      i = this.#free(key);
      if (i < 0) return true; // full: not counted (see the top of the file)
      keys[i] = key;
    }
    Atomics.add(counts, i, 1);
    return true;
  }

  /** One socket fewer for `key` (one `tryAdd` counted). */
  remove(key: number): void {
    const i = this.#find(this.#own, key);
    if (i < 0) return;
    const counts = this.#counts[this.#own]!;
    if (Atomics.sub(counts, i, 1) > 1) return;
    this.#delete(i);
  }

  #home(key: number): number {
    const h = Math.imul((key | 0) ^ Math.floor(key / 0x1_0000_0000), 0x9e3779b1);
    return (h ^ (h >>> 16)) & (SLOTS - 1);
  }

  #find(f: number, key: number): number {
    const keys = this.#keys[f]!;
    for (let n = 0, i = this.#home(key); n < SLOTS; n++, i = (i + 1) & (SLOTS - 1)) {
      const k = keys[i]!;
      if (k === key) return i;
      if (k === 0) return -1;
    }
    return -1;
  }

  #free(key: number): number {
    const keys = this.#keys[this.#own]!;
    for (let n = 0, i = this.#home(key); n < SLOTS - 1; n++, i = (i + 1) & (SLOTS - 1)) if (keys[i] === 0) return i;
    return -1;
  }

  /** Backward-shift deletion: keeps every key reachable from its home without tombstones. */
  #delete(hole: number): void {
    const keys = this.#keys[this.#own]!;
    const counts = this.#counts[this.#own]!;
    let i = hole;
    for (;;) {
      keys[hole] = 0;
      Atomics.store(counts, hole, 0);
      for (;;) {
        i = (i + 1) & (SLOTS - 1);
        const k = keys[i]!;
        if (k === 0) return;
        const home = this.#home(k);
        // Move k into the hole unless its home lies cyclically in (hole, i].
        const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
        if (!inRange) break;
      }
      keys[hole] = keys[i]!;
      Atomics.store(counts, hole, Atomics.load(counts, i));
      hole = i;
    }
  }
}
