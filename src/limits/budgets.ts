/**
 * Per-user budgets with adaptive costs (the seed's rate limiting: "stricter for new accounts,
 * looser for moderators, lowered automatically for a user detected as spamming"). The buckets are
 * the node's shared ones (./shared-buckets.ts); what adapts is the cost of one operation: a user
 * whose factor is 2 pays 2 tokens, so a budget of N per minute is N/2 for them.
 *
 * What a user's factor depends on:
 * - the role in the token (`moderator`, `admin`: costs divided by `staffFactor`);
 * - the account's age, read once per user and front from the store in the background (never on
 *   the request's path; the gateway starts it when a socket authenticates). Until it is known
 *   (a few milliseconds) the account counts as established;
 * - a spam penalty, set by the content pipeline when it refuses a user's message as spam.
 * The standing (age, penalty) is kept per front thread, bounded (oldest entries evicted), so a
 * user with sockets on two fronts is penalised on the front that caught them.
 */
import type { Caller } from '../actors/messages.js';
import type { Config } from '../config/schema.js';
import { ChatError } from '../errors.js';
import { rateLimited } from '../metrics/index.js';
import type { Limiter } from './shared-buckets.js';
import type { Clock, TakeResult } from './token-bucket.js';

export type BudgetAction = keyof Config['limits']['perMinute'];

/** Users whose standing a front remembers at most (about 40 bytes each). */
const MAX_STANDING = 100_000;

interface Standing {
  /** Account creation, epoch ms; 0 until read or when unknown (counted as established). */
  createdAt: number;
  /** Spam penalty in force until (epoch ms); 0 when none. */
  penaltyUntil: number;
}

/** Reads an account's creation time (ms), or null for no such user. */
export type AccountAge = (userId: number) => Promise<number | null>;

export class Budgets {
  readonly #limiter: Limiter<BudgetAction>;
  readonly #config: Config['limits'];
  readonly #clock: Clock;
  readonly #accountAge: AccountAge | null;
  readonly #standing = new Map<number, Standing>();
  #lookups = 0;

  constructor(limiter: Limiter<BudgetAction>, limits: Config['limits'], accountAge: AccountAge | null = null, clock: Clock = Date.now) {
    this.#limiter = limiter;
    this.#config = limits;
    this.#accountAge = accountAge;
    this.#clock = clock;
  }

  /** Take `count` operations of `action` for `user`, scaled by their factor. */
  take(user: Caller, action: BudgetAction, count = 1): TakeResult {
    const capacity = this.#config.perMinute[action];
    // Never above the bucket's capacity: a request that could never pass would be refused forever.
    const cost = Math.min(capacity, count * this.factor(user));
    return this.#limiter.take(user.id, action, cost);
  }

  /** `take`, or throw `rate_limited` with the time until it would pass. */
  takeOrThrow(user: Caller, action: BudgetAction, count = 1): void {
    const r = this.take(user, action, count);
    if (!r.ok) rateLimited.inc({ action_type: action });
    if (!r.ok) throw new ChatError('rate_limited', `${action}: too many requests`, { retryAfterMs: r.retryAfterMs });
  }

  /** What one operation costs `user` (1 for an established user with the role `user`). */
  factor(user: Caller): number {
    const a = this.#config.adaptive;
    let f = 1;
    if (user.role === 'admin' || user.role === 'moderator') f /= a.staffFactor;
    const s = this.#standingOf(user.id);
    const now = this.#clock();
    if (s.createdAt > 0 && now - s.createdAt < a.newAccountS * 1000) f *= a.newAccountFactor;
    if (s.penaltyUntil > now) f *= a.spamPenaltyFactor;
    return f;
  }

  /** The content pipeline caught `userId` spamming: their budgets shrink for `spamPenaltyS`. */
  penalise(userId: number): void {
    this.#standingOf(userId).penaltyUntil = this.#clock() + this.#config.adaptive.spamPenaltyS * 1000;
  }

  /** Start reading `userId`'s account age now (a socket authenticated), so their first operations already see it. */
  prime(userId: number): void {
    this.#standingOf(userId);
  }

  /** Account ages being read. */
  get lookups(): number {
    return this.#lookups;
  }

  /** Users whose standing this front holds (for tests and metrics). */
  get size(): number {
    return this.#standing.size;
  }

  #standingOf(userId: number): Standing {
    let s = this.#standing.get(userId);
    if (s !== undefined) return s;
    if (this.#standing.size >= MAX_STANDING) {
      // A Map iterates in insertion order: the first key is the oldest entry.
      const oldest = this.#standing.keys().next().value as number;
      this.#standing.delete(oldest);
    }
    s = { createdAt: 0, penaltyUntil: 0 };
    this.#standing.set(userId, s);
    if (this.#accountAge !== null) {
      const entry = s;
      this.#lookups++;
      this.#accountAge(userId)
        .then(
          (ms) => (entry.createdAt = ms ?? 0),
          () => (entry.createdAt = 0),
        )
        .finally(() => this.#lookups--);
    }
    return s;
  }
}
