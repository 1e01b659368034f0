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
  /** `limits.framesPerSecond`. */
  readonly #framesPerSecond: number;
  readonly #clock: () => number;
  readonly #closeFlooder: (conn: Conn) => void;

  constructor(budgets: Budgets, framesPerSecond: number, clock: () => number, closeFlooder: (conn: Conn) => void) {
    this.#budgets = budgets;
    this.#framesPerSecond = framesPerSecond;
    this.#clock = clock;
    this.#closeFlooder = closeFlooder;
  }

  /** Take `count` operations of `action` for the socket's user, or throw `rate_limited`. */
  take(conn: Conn, userId: number, action: Action, count = 1): void {
    const user = conn.user !== null && conn.user.id === userId ? conn.user : { id: userId, username: '', role: 'user' as const };
    const r = this.#budgets.take(user, action, count);
    if (r.ok) return;
    rateLimited.inc({ action_type: action });
    this.#strike(conn);
    throw new ChatError('rate_limited', `${action}: too many requests`, { retryAfterMs: r.retryAfterMs });
  }

  /**
   * The socket's frame budget: `limits.framesPerSecond`, a burst of twice that. Every frame
   * counts, before its operation is known: pings, unknown operations and invalid frames reach no
   * per-user budget, and one socket sending them back to back kept its front busy (other users'
   * p99 from 16 to 555 ms, found by the session-12 QA). Returns the `rate_limited` error to answer
   * the frame with (a strike toward 4429), or null when the frame may go on.
   */
  frame(conn: Conn): ChatError | null {
    const perSecond = this.#framesPerSecond;
    const now = this.#clock();
    const burst = perSecond * 2;
    const tokens = Math.min(burst, conn.frameTokens + ((now - conn.frameAt) * perSecond) / 1000);
    conn.frameAt = now;
    if (tokens >= 1) {
      conn.frameTokens = tokens - 1;
      return null;
    }
    conn.frameTokens = tokens;
    rateLimited.inc({ action_type: 'frame' });
    this.#strike(conn);
    return new ChatError('rate_limited', `more than ${perSecond} frames a second`, { retryAfterMs: Math.ceil(((1 - tokens) * 1000) / perSecond) });
  }

  /** One more `rate_limited` answer in the socket's flood window; past FLOOD_LIMIT it is closed. */
  #strike(conn: Conn): void {
    const now = this.#clock();
    if (now - conn.floodSince > FLOOD_WINDOW_MS) {
      conn.floodSince = now;
      conn.floods = 0;
    }
    // Closed after this turn: the caller is still answering the frame that flooded.
    if (++conn.floods > FLOOD_LIMIT) queueMicrotask(() => this.#closeFlooder(conn));
  }
}
