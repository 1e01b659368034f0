/**
 * Repeats of one user's text: the hashes of a user's last few messages (./scan.ts `hash`: case,
 * spacing and punctuation do not make a text new), with how often each was sent in the window.
 * Per front thread, bounded: at most MAX_USERS users, the oldest forgotten first.
 */
import type { Clock } from '../limits/token-bucket.js';

/** Distinct recent texts remembered per user. */
const SLOTS = 4;
const MAX_USERS = 50_000;

class Recent {
  readonly hashes = new Float64Array(SLOTS);
  readonly counts = new Int32Array(SLOTS);
  /** When each slot's text was first seen in its current window (ms). */
  readonly since = new Float64Array(SLOTS);
  /** Hash of the client_id the text last came with (0: none): a retry of it is not a repeat. */
  readonly client = new Float64Array(SLOTS);
  next = 0;
}

export class RepeatGuard {
  readonly #users = new Map<number, Recent>();
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #clock: Clock;

  constructor(limit: number, windowMs: number, clock: Clock = Date.now) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  /**
   * Count one more sending of a text with this hash by `userId`; true when that is more than the
   * limit within the window (the text is spam and is not counted as sent).
   */
  repeated(userId: number, hash: number, clientHash = 0): boolean {
    const now = this.#clock();
    let r = this.#users.get(userId);
    if (r === undefined) {
      if (this.#users.size >= MAX_USERS) this.#users.delete(this.#users.keys().next().value as number);
      r = new Recent();
      this.#users.set(userId, r);
    }
    for (let i = 0; i < SLOTS; i++) {
      if (r.counts[i]! > 0 && r.hashes[i] === hash) {
        if (clientHash !== 0 && r.client[i] === clientHash) return false; // a retry (PROTOCOL.md "Idempotency")
        r.client[i] = clientHash;
        if (now - r.since[i]! > this.#windowMs) {
          r.since[i] = now;
          r.counts[i] = 1;
          return false;
        }
        if (r.counts[i]! >= this.#limit) return true;
        r.counts[i]!++;
        return false;
      }
    }
    const i = r.next;
    r.next = (i + 1) % SLOTS;
    r.hashes[i] = hash;
    r.counts[i] = 1;
    r.since[i] = now;
    r.client[i] = clientHash;
    return false;
  }

  get size(): number {
    return this.#users.size;
  }
}
