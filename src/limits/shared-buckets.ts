/**
 * Per-user token buckets shared by every front thread of a node, in one SharedArrayBuffer, so a
 * user with sockets on two fronts gets one budget, not one per front. Same semantics as
 * `RateLimiter` (./token-bucket.ts): a bucket holds up to `capacity` tokens and refills at
 * `capacity` per `periodMs`.
 *
 * Layout: `GROUPS` groups of `SLOTS` buckets. A (subject, action) pair hashes to one group, and
 * everything done to a group happens under its lock (an Int32 word: 0 free, else the owner's
 * number + 1), so two fronts never create the same bucket twice or race on its tokens. Inside the
 * lock the bucket's numbers are plain Float64 reads and writes: the lock's compare-exchange and
 * release store are sequentially consistent, which orders them.
 *
 * Bounded memory: a group with no free slot reuses one whose bucket is full (a full bucket is the
 * same as no bucket). Never blocking: a lock not acquired within a short spin (its holder was
 * descheduled, or died holding it) makes this one call use the thread's own buckets instead, the
 * old per-front behaviour. A front that restarts frees the locks its predecessor held
 * (`releaseOwnedBy`).
 */
import { RateLimiter, type BucketSpec, type Clock, type TakeResult } from './token-bucket.js';

/** What the gateway and the REST routes need from a rate limiter. */
export interface Limiter<Action extends string> {
  take(subject: number, action: Action, cost?: number): TakeResult;
}

const GROUPS = 4096;
const SLOTS = 8;
/** How long a call spins on a held lock before it falls back to the thread's own buckets. */
const MAX_SPIN_MS = 0.2;
/** Per bucket: subject, tokens, updated-at (ms). */
const F64_PER_SLOT = 3;

export const SHARED_BUCKETS_BYTES = GROUPS * 4 + GROUPS * SLOTS * 4 + GROUPS * SLOTS * F64_PER_SLOT * 8;

const OK: TakeResult = Object.freeze({ ok: true, retryAfterMs: 0 });

export class SharedRateLimiter<Action extends string> implements Limiter<Action> {
  /** One lock word per group. */
  readonly #locks: Int32Array;
  /** Per slot: 0 empty, else the action's index + 1. */
  readonly #tags: Int32Array;
  readonly #vals: Float64Array;
  readonly #owner: number;
  readonly #clock: Clock;
  readonly #actions: Map<Action, number>;
  readonly #specs: BucketSpec[];
  readonly #local: RateLimiter<Action>;
  #fallbacks = 0;

  /** A zeroed buffer of the right size, shared by every front of a node. */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(SHARED_BUCKETS_BYTES);
  }

  /** `owner`: this thread's number (a front's index), unique among the threads sharing `buffer`. */
  constructor(buffer: SharedArrayBuffer, specs: Readonly<Record<Action, BucketSpec>>, owner: number, clock: Clock = Date.now) {
    if (buffer.byteLength !== SHARED_BUCKETS_BYTES) throw new RangeError(`shared buckets need ${SHARED_BUCKETS_BYTES} bytes, got ${buffer.byteLength}`);
    this.#locks = new Int32Array(buffer, 0, GROUPS);
    this.#tags = new Int32Array(buffer, GROUPS * 4, GROUPS * SLOTS);
    this.#vals = new Float64Array(buffer, GROUPS * 4 + GROUPS * SLOTS * 4, GROUPS * SLOTS * F64_PER_SLOT);
    this.#owner = owner + 1;
    this.#clock = clock;
    const names = Object.keys(specs).sort() as Action[];
    this.#actions = new Map(names.map((a, i) => [a, i]));
    this.#specs = names.map((a) => specs[a]);
    this.#local = new RateLimiter(specs, clock);
  }

  /** Calls that used this thread's own buckets because a group's lock was held too long. */
  get fallbacks(): number {
    return this.#fallbacks;
  }

  /** Frees every lock `owner` holds: a restarted front calls it for the thread it replaces. */
  releaseOwnedBy(owner: number): number {
    let freed = 0;
    for (let g = 0; g < GROUPS; g++) if (Atomics.compareExchange(this.#locks, g, owner + 1, 0) === owner + 1) freed++;
    return freed;
  }

  take(subject: number, action: Action, cost = 1): TakeResult {
    const a = this.#actions.get(action);
    if (a === undefined) throw new RangeError(`no rate limit for action "${action}"`);
    const group = hash(subject, a) & (GROUPS - 1);
    if (!this.#lock(group)) {
      this.#fallbacks++;
      return this.#local.take(subject, action, cost);
    }
    try {
      const now = this.#clock();
      const tag = a + 1;
      const first = group * SLOTS;
      let free = -1;
      for (let s = first; s < first + SLOTS; s++) {
        const t = this.#tags[s]!;
        if (t === tag && this.#vals[s * F64_PER_SLOT] === subject) return this.#takeAt(s, this.#specs[a]!, now, cost);
        if (free < 0 && (t === 0 || this.#isFull(s, this.#specs[t - 1]!, now))) free = s;
      }
      if (free < 0) {
        // Every slot of the group holds a bucket still refilling: use this thread's own.
        this.#fallbacks++;
        return this.#local.take(subject, action, cost);
      }
      const spec = this.#specs[a]!;
      this.#tags[free] = tag;
      this.#vals[free * F64_PER_SLOT] = subject;
      this.#vals[free * F64_PER_SLOT + 1] = spec.capacity;
      this.#vals[free * F64_PER_SLOT + 2] = now;
      return this.#takeAt(free, spec, now, cost);
    } finally {
      Atomics.store(this.#locks, group, 0);
    }
  }

  #lock(group: number): boolean {
    const locks = this.#locks;
    if (Atomics.compareExchange(locks, group, 0, this.#owner) === 0) return true;
    // Held: critical sections last well under a microsecond, unless the holder was descheduled.
    const until = performance.now() + MAX_SPIN_MS;
    do {
      for (let i = 0; i < 64; i++) if (Atomics.compareExchange(locks, group, 0, this.#owner) === 0) return true;
    } while (performance.now() < until);
    return false;
  }

  #refill(slot: number, spec: BucketSpec, now: number): number {
    const v = this.#vals;
    const i = slot * F64_PER_SLOT;
    const elapsed = now - v[i + 2]!;
    let tokens = v[i + 1]!;
    if (elapsed > 0) {
      tokens = Math.min(spec.capacity, tokens + (elapsed * spec.capacity) / spec.periodMs);
      v[i + 1] = tokens;
      v[i + 2] = now;
    }
    return tokens;
  }

  #isFull(slot: number, spec: BucketSpec, now: number): boolean {
    return this.#refill(slot, spec, now) >= spec.capacity;
  }

  #takeAt(slot: number, spec: BucketSpec, now: number, cost: number): TakeResult {
    const tokens = this.#refill(slot, spec, now);
    if (tokens >= cost) {
      this.#vals[slot * F64_PER_SLOT + 1] = tokens - cost;
      return OK;
    }
    return { ok: false, retryAfterMs: Math.ceil(((cost - tokens) * spec.periodMs) / spec.capacity) };
  }
}

/** A (subject, action) pair to a 32-bit hash (subjects are safe integers, user ids). */
function hash(subject: number, action: number): number {
  let h = Math.imul((subject | 0) ^ Math.floor(subject / 0x1_0000_0000), 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16) ^ action, 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}
