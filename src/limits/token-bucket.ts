/**
 * Token buckets for per-user, per-action limits (the seed's "rate_limit:<user>:<action>").
 * A bucket holds up to `capacity` tokens and refills continuously at `capacity` per `periodMs`,
 * so "60 per minute" allows a burst of 60 and then one a second. The clock is injected so tests
 * never sleep.
 */
export type Clock = () => number;

export interface BucketSpec {
  capacity: number;
  periodMs: number;
}

export interface TakeResult {
  ok: boolean;
  /** When refused: milliseconds until one token is back. */
  retryAfterMs: number;
}

const OK: TakeResult = Object.freeze({ ok: true, retryAfterMs: 0 });

export class TokenBucket {
  #tokens: number;
  #updatedAt: number;
  readonly #capacity: number;
  readonly #perMs: number;

  constructor(spec: BucketSpec, now: number) {
    this.#capacity = spec.capacity;
    this.#perMs = spec.capacity / spec.periodMs;
    this.#tokens = spec.capacity;
    this.#updatedAt = now;
  }

  take(now: number, cost = 1): TakeResult {
    this.#refill(now);
    if (this.#tokens >= cost) {
      this.#tokens -= cost;
      return OK;
    }
    return { ok: false, retryAfterMs: Math.ceil((cost - this.#tokens) / this.#perMs) };
  }

  /** True when the bucket is back to full, so a table can forget it. */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.#capacity;
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#perMs);
      this.#updatedAt = now;
    }
  }
}

/**
 * Buckets keyed by (subject, action). Full buckets are swept so memory follows active users, not
 * every user ever seen.
 */
export class RateLimiter<Action extends string> {
  readonly #specs: Readonly<Record<Action, BucketSpec>>;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, TokenBucket>();
  #lastSweep: number;

  constructor(specs: Readonly<Record<Action, BucketSpec>>, clock: Clock = Date.now) {
    this.#specs = specs;
    this.#clock = clock;
    this.#lastSweep = clock();
  }

  take(subject: number | string, action: Action, cost = 1): TakeResult {
    const now = this.#clock();
    const key = `${subject}:${action}`;
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#specs[action], now);
      this.#buckets.set(key, bucket);
    }
    const result = bucket.take(now, cost);
    if (now - this.#lastSweep > 60_000) this.#sweep(now);
    return result;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(key);
  }
}

/** `{ send_message: 60 }` per minute → bucket specs. */
export function perMinute<A extends string>(limits: Readonly<Record<A, number>>): Record<A, BucketSpec> {
  const out = {} as Record<A, BucketSpec>;
  for (const key of Object.keys(limits) as A[]) out[key] = { capacity: limits[key], periodMs: 60_000 };
  return out;
}
