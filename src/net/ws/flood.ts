/**
 * The per-user rate limits of WebSocket operations, and what happens to a socket that keeps
 * sending after `rate_limited`: past FLOOD_LIMIT refusals within FLOOD_WINDOW_MS it is closed with
 * 4429. The buckets are per user across the node's fronts (src/limits/shared-buckets.ts), and a
 * user's costs adapt to their role, account age and spam record (src/limits/budgets.ts).
 */
import type { Config } from '../../config/schema.js';
import { ChatError } from '../../errors.js';
import { rateLimited } from '../../metrics/index.js';
import type { Budgets } from '../../limits/budgets.js';
import type { Conn } from './conn.js';

export type Action = keyof Config['limits']['perMinute'];

/** `rate_limited` answers a socket may get within FLOOD_WINDOW_MS before it is closed with 4429. */
const FLOOD_LIMIT = 20;

/**
 * A socket being closed for flooding: the frames it already sent (a flooder pipelines thousands,
 * each maybe a 200-id resume) are dropped unread rather than decoded and validated one by one.
 */
export const isFlooding = (conn: Conn): boolean => conn.floods > FLOOD_LIMIT;

const FLOOD_WINDOW_MS = 10_000;

export class FloodPolicy {
  readonly #budgets: Budgets;
  readonly #clock: () => number;
  readonly #closeFlooder: (conn: Conn) => void;

  constructor(budgets: Budgets, clock: () => number, closeFlooder: (conn: Conn) => void) {
    this.#budgets = budgets;
    this.#clock = clock;
    this.#closeFlooder = closeFlooder;
  }

  /** Take `count` operations of `action` for the socket's user, or throw `rate_limited`. */
  take(conn: Conn, userId: number, action: Action, count = 1): void {
    const user = conn.user !== null && conn.user.id === userId ? conn.user : { id: userId, username: '', role: 'user' as const };
    const r = this.#budgets.take(user, action, count);
    if (r.ok) return;
    rateLimited.inc({ action_type: action });
    const now = this.#clock();
    if (now - conn.floodSince > FLOOD_WINDOW_MS) {
      conn.floodSince = now;
      conn.floods = 0;
    }
    // Closed after this turn: the caller is still answering the frame that flooded.
    if (++conn.floods > FLOOD_LIMIT) queueMicrotask(() => this.#closeFlooder(conn));
    throw new ChatError('rate_limited', `${action}: too many requests`, { retryAfterMs: r.retryAfterMs });
  }
}
