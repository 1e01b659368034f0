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
 * Held in shared memory (./shared-table.ts) that every front of the node maps: a source whose
 * connections the kernel spreads over the fronts has one budget. Nodes count apart. No database write
 * per failed login: that would be a cost an attacker controls. Without a shared buffer (the CLI,
 * tests of the service alone) the table is this thread's own.
 */
import { ChatError } from '../errors.js';
import { SharedTable } from './shared-table.js';

export interface ThrottleSettings {
  loginAttempts: number;
  loginWindowS: number;
  loginDelayMs: number;
  loginMaxDelayS: number;
  accountLoginAttempts: number;
  accountMaxDelayS: number;
  sourceAttemptsPerMinute: number;
}

export class LoginThrottle {
  readonly #s: ThrottleSettings;
  readonly #now: () => number;
  readonly #table: SharedTable;

  constructor(settings: ThrottleSettings, now: () => number = Date.now, buffer: SharedArrayBuffer = SharedTable.allocate()) {
    this.#s = settings;
    this.#now = now;
    this.#table = new SharedTable(buffer);
  }

  /** One login or registration attempt from `source`: `rate_limited` past its per-minute budget. */
  takeAttempt(source: string): void {
    const now = this.#now();
    const cap = this.#s.sourceAttemptsPerMinute;
    let retryAfterMs = 0;
    // a: tokens, b: when they were counted (a bucket a minute old is full again: stale).
    this.#table.update(`s|${source}`, now - 60_000, (tokens, at) => {
      const have = at === 0 ? cap : Math.min(cap, tokens + ((now - at) * cap) / 60_000);
      if (have < 1) {
        retryAfterMs = Math.ceil(((1 - have) * 60_000) / cap);
        return [have, now];
      }
      return [have - 1, now];
    });
    if (retryAfterMs > 0) throw new ChatError('rate_limited', 'too many attempts from this address; try again later', { retryAfterMs });
  }

  /** Before checking `userId`'s password from `source`: `rate_limited` while a delay runs. */
  check(userId: number, source: string): void {
    const now = this.#now();
    const wait = Math.max(
      this.#waitMs(`f|${userId}|${source}`, this.#s.loginAttempts, this.#s.loginMaxDelayS, now),
      this.#waitMs(`f|${userId}`, this.#s.accountLoginAttempts, this.#s.accountMaxDelayS, now),
    );
    if (wait > 0) throw new ChatError('rate_limited', 'too many failed logins; try again later', { retryAfterMs: wait });
  }

  /** A wrong password for `userId` from `source`; the failures counted from that source. */
  failed(userId: number, source: string): number {
    this.#bump(`f|${userId}`);
    return this.#bump(`f|${userId}|${source}`);
  }

  /** The right password: the account's counts go (the account's own, and this source's). */
  succeeded(userId: number, source: string): void {
    const forget = (): [number, number] => [0, 0];
    this.#table.update(`f|${userId}`, 0, forget);
    this.#table.update(`f|${userId}|${source}`, 0, forget);
  }

  /** a: failures, b: the last one (epoch ms); older than the window, forgotten. */
  #bump(key: string): number {
    const now = this.#now();
    const out = this.#table.update(key, now - this.#s.loginWindowS * 1000, (count) => [count + 1, now]);
    return out ? out[0] : 1;
  }

  #waitMs(key: string, free: number, maxDelayS: number, now: number): number {
    let wait = 0;
    this.#table.update(key, now - this.#s.loginWindowS * 1000, (count, last) => {
      if (count >= free && last > 0) {
        const delay = Math.min(maxDelayS * 1000, this.#s.loginDelayMs * 2 ** Math.min(30, count - free));
        wait = Math.max(0, last + delay - now);
      }
      return null;
    });
    return wait;
  }
}

/**
 * The key a source address is counted under: an IPv4 address as it is (an IPv4-mapped IPv6 one as
 * its IPv4 form), an IPv6 address by its /64 prefix, since one subscriber usually holds a whole
 * /64 and could otherwise be 2^64 sources.
 */
export function sourceKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::', 2) as [string, string?];
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
