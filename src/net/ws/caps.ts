/**
 * Connection caps (`limits.connectionsPerUser`, `limits.connectionsPerSource`), counted across the
 * node's fronts (src/limits/connection-counts.ts). A source or user already at its cap is refused
 * at the upgrade with 429 `rate_limited`; one that reaches it in between (sockets opened at once,
 * or a user authenticating by frame) has the socket closed with 4429 `too many connections`.
 */
import type { Config } from '../../config/schema.js';
import { ConnectionCounts } from '../../limits/connection-counts.js';
import type { Conn } from './conn.js';

export class ConnectionCaps {
  readonly #counts: ConnectionCounts;
  readonly #perUser: number;
  readonly #perSource: number;

  constructor(counts: ConnectionCounts, limits: Config['limits']) {
    this.#counts = counts;
    this.#perUser = limits.connectionsPerUser;
    this.#perSource = limits.connectionsPerSource;
  }

  /** Why an upgrade from `remote` (for `userId`, when its token is known) is refused now, or null. */
  refusal(remote: string, userId: number | null): string | null {
    if (this.#counts.count(ConnectionCounts.sourceKey(remote)) >= this.#perSource) return `too many connections from this address (at most ${this.#perSource})`;
    if (userId !== null && this.#counts.count(ConnectionCounts.userKey(userId)) >= this.#perUser) return `too many connections for this user (at most ${this.#perUser})`;
    return null;
  }

  /** The socket opened: count its source. False: over the cap (close it). */
  opened(conn: Conn): boolean {
    if (!this.#counts.tryAdd(ConnectionCounts.sourceKey(conn.remote), this.#perSource)) return false;
    conn.caps |= 1;
    return true;
  }

  /** The socket authenticated: count its user. False: over the cap (close it). */
  authenticated(conn: Conn, userId: number): boolean {
    if (!this.#counts.tryAdd(ConnectionCounts.userKey(userId), this.#perUser)) return false;
    conn.caps |= 2;
    return true;
  }

  /** The socket closed: uncount what it was counted for (before its user is forgotten). */
  closed(conn: Conn): void {
    if (conn.caps & 1) this.#counts.remove(ConnectionCounts.sourceKey(conn.remote));
    if (conn.caps & 2 && conn.user !== null) this.#counts.remove(ConnectionCounts.userKey(conn.user.id));
    conn.caps = 0;
  }
}
