/**
 * Login defence without lockout (issue 17). Two kinds of limit, both answered with `rate_limited`
 * (429 with Retry-After), neither ever a lock the right password cannot pass once its delay is over:
 *
 * - Failed logins, counted per (account, source) and per account: past `loginAttempts` failures
 *   from one source, that source waits `loginDelayMs · 2^(n − loginAttempts)` (capped at
 *   `loginMaxDelayS`) after each failure before its next try on that account; past
 *   `accountLoginAttempts` failures from all sources together, every source waits the same way,
 *   capped at `accountMaxDelayS` (short: a distributed guesser can only slow the real user down by
 *   that much, never lock them out). A success clears the account's counts. Failures older than
 *   `loginWindowS` are forgotten.
 * - Attempts per source (login and registration together): a token bucket of
 *   `sourceAttemptsPerMinute`, so one address cannot make the server hash without end.
 *
 * Held in memory per front thread (the kernel spreads a source's connections over the fronts, so a
 * source gets at most `fronts` times the budget); bounded: past MAX_ENTRIES the oldest entry goes.
 * No database write per failed login: that would be a cost an attacker controls.
 */
import { ChatError } from '../errors.js';

export interface ThrottleSettings {
  loginAttempts: number;
  loginWindowS: number;
  loginDelayMs: number;
  loginMaxDelayS: number;
  accountLoginAttempts: number;
  accountMaxDelayS: number;
  sourceAttemptsPerMinute: number;
}

const MAX_ENTRIES = 100_000;

interface Failures {
  count: number;
  /** Epoch ms of the last failure. */
  last: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class LoginThrottle {
  readonly #s: ThrottleSettings;
  readonly #now: () => number;
  readonly #failures = new Map<string, Failures>();
  readonly #buckets = new Map<string, Bucket>();

  constructor(settings: ThrottleSettings, now: () => number = Date.now) {
    this.#s = settings;
    this.#now = now;
  }

  /** One login or registration attempt from `source`: `rate_limited` past its per-minute budget. */
  takeAttempt(source: string): void {
    const now = this.#now();
    const cap = this.#s.sourceAttemptsPerMinute;
    const b = this.#buckets.get(source) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + ((now - b.at) * cap) / 60_000);
    b.at = now;
    if (b.tokens < 1) {
      touch(this.#buckets, source, b);
      const retryAfterMs = Math.ceil(((1 - b.tokens) * 60_000) / cap);
      throw new ChatError('rate_limited', 'too many attempts from this address; try again later', { retryAfterMs });
    }
    b.tokens -= 1;
    touch(this.#buckets, source, b);
  }

  /** Before checking `userId`'s password from `source`: `rate_limited` while a delay runs. */
  check(userId: number, source: string): void {
    const now = this.#now();
    const wait = Math.max(
      this.#waitMs(`${userId}|${source}`, this.#s.loginAttempts, this.#s.loginMaxDelayS, now),
      this.#waitMs(String(userId), this.#s.accountLoginAttempts, this.#s.accountMaxDelayS, now),
    );
    if (wait > 0) throw new ChatError('rate_limited', 'too many failed logins; try again later', { retryAfterMs: wait });
  }

  /** A wrong password for `userId` from `source`; the failures counted from that source. */
  failed(userId: number, source: string): number {
    this.#bump(String(userId));
    return this.#bump(`${userId}|${source}`);
  }

  /** The right password: the account's counts go (from every source seen by this front). */
  succeeded(userId: number, source: string): void {
    this.#failures.delete(String(userId));
    this.#failures.delete(`${userId}|${source}`);
  }

  #bump(key: string): number {
    const now = this.#now();
    const f = this.#live(key, now) ?? { count: 0, last: now };
    f.count++;
    f.last = now;
    touch(this.#failures, key, f);
    return f.count;
  }

  #live(key: string, now: number): Failures | null {
    const f = this.#failures.get(key);
    if (!f) return null;
    if (now - f.last > this.#s.loginWindowS * 1000) {
      this.#failures.delete(key);
      return null;
    }
    return f;
  }

  #waitMs(key: string, free: number, maxDelayS: number, now: number): number {
    const f = this.#live(key, now);
    if (!f || f.count < free) return 0;
    const delay = Math.min(maxDelayS * 1000, this.#s.loginDelayMs * 2 ** Math.min(30, f.count - free));
    return Math.max(0, f.last + delay - now);
  }
}

/** Set `key` as the newest entry, dropping the oldest past MAX_ENTRIES (Map keeps insertion order). */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as string);
}
