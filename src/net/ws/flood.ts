/**
 * The per-user rate limits of WebSocket operations, and what happens to a socket that keeps
 * sending after `rate_limited`: past FLOOD_LIMIT refusals within FLOOD_WINDOW_MS it is closed with
 * 4429. The buckets are per user across the node's fronts (src/limits/shared-buckets.ts).
 */
import type { Config } from '../../config/schema.js';
import { ChatError } from '../../errors.js';
import type { Limiter } from '../../limits/shared-buckets.js';
import { rateLimited } from '../../metrics/index.js';
import type { Conn } from './conn.js';

export type Action = keyof Config['limits']['perMinute'];

/** `rate_limited` answers a socket may get within FLOOD_WINDOW_MS before it is closed with 4429. */
const FLOOD_LIMIT = 20;
const FLOOD_WINDOW_MS = 10_000;

export class FloodPolicy {
  readonly #limiter: Limiter<Action>;
  readonly #clock: () => number;
  readonly #closeFlooder: (conn: Conn) => void;

  constructor(limiter: Limiter<Action>, clock: () => number, closeFlooder: (conn: Conn) => void) {
    this.#limiter = limiter;
    this.#clock = clock;
    this.#closeFlooder = closeFlooder;
  }

  /** Take one token of `action` for the socket's user, or throw `rate_limited`. */
  take(conn: Conn, userId: number, action: Action): void {
    const r = this.#limiter.take(userId, action);
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
