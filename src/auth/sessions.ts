/**
 * Ending sessions (issue 17). A session is one login: a refresh-token family, named by the `sid`
 * claim of its access tokens. Ending it takes three steps, in this order:
 *
 * 1. the store revokes its refresh tokens (the caller did, or `revokeUserSessions` does here),
 * 2. the node's revocation set (./revocations.ts, shared memory) refuses its access tokens on every
 *    front from now on, and other nodes hear it over Redis (./revocation-bus.ts),
 * 3. its open sockets are closed with 4401 on every front (the user's UserActor tells each front;
 *    each front's once-a-second sweep also closes any socket whose session is in the set, which
 *    covers revocations heard from other nodes).
 *
 * `revokeUserSessions(userId, reason)` is the one call for "end every session of this user" (a
 * global ban, an operator): see `SessionRevoker.revokeUserSessions` below.
 */
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { RevocationBus } from './revocation-bus.js';
import type { RevocationSet } from './revocations.js';

export interface SessionRevokerDeps {
  store: Pick<Store, 'revokeUserRefreshTokens' | 'audit'>;
  revocations: RevocationSet;
  /** Access-token lifetime: how long a revocation must be held. */
  accessTtlS: number;
  /**
   * Close the user's sockets of session `sid` (every socket of the user when undefined) on every
   * front of the node, with `code`.
   */
  closeSockets: (userId: number, sid: string | undefined, code: number, reason: string) => void;
  bus?: RevocationBus | null;
  log: Logger;
  now?: () => number;
}

/** WebSocket close code for an ended session (PROTOCOL.md: 4401). */
const UNAUTHENTICATED = 4401;
/** Held a little past the access-token lifetime: tokens are checked against a clock that may lag. */
const SLACK_MS = 60_000;

export class SessionRevoker {
  readonly #d: SessionRevokerDeps;
  readonly #now: () => number;

  constructor(deps: SessionRevokerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  get #until(): number {
    return this.#now() + this.#d.accessTtlS * 1000 + SLACK_MS;
  }

  /** Session `sid` of `userId` was revoked in the store: refuse its tokens and close its sockets. */
  sessionRevoked(userId: number, sid: string, reason: string): void {
    this.#hold([sid], null);
    this.#d.bus?.publish({ sessions: [sid], users: [] });
    this.#d.closeSockets(userId, sid, UNAUTHENTICATED, reason);
  }

  /**
   * End every session of `userId`: their refresh tokens revoked in the store, every access token
   * issued until now refused on every front and node, every socket closed (with `closeCode`,
   * default 4401; a global ban may say 4403). Audited as `auth.sessions_revoked` with `reason`.
   * Returns how many sessions had refresh tokens still open.
   */
  async revokeUserSessions(
    userId: number,
    reason: string,
    opts: { actorId?: number | null; ip?: string | null; closeCode?: number } = {},
  ): Promise<number> {
    // The user first: from here on no token of theirs issued so far passes, even one of a session
    // being opened or rotated while the store call below runs.
    this.#hold([], userId);
    const families = await this.#d.store.revokeUserRefreshTokens(userId);
    this.#hold(families, null);
    this.#d.bus?.publish({ sessions: families, users: [userId] });
    this.#d.closeSockets(userId, undefined, opts.closeCode ?? UNAUTHENTICATED, reason);
    await this.#d.store.audit({
      actorId: opts.actorId ?? null,
      action: 'auth.sessions_revoked',
      targetType: 'user',
      targetId: String(userId),
      details: { reason, sessions: families.length },
      ip: opts.ip ?? null,
    });
    this.#d.log.info('sessions revoked', { user_id: userId, sessions: families.length, reason });
    return families.length;
  }

  /** Revocations another node published (./revocation-bus.ts). Its sockets close at the next sweep. */
  remote(msg: { sessions: string[]; users: number[] }): void {
    this.#hold(msg.sessions, null);
    for (const u of msg.users) this.#hold([], u);
  }

  #hold(sessions: readonly string[], userId: number | null): void {
    const until = this.#until;
    for (const sid of sessions) if (!this.#d.revocations.revokeSession(sid, until)) this.#overflow(sid);
    if (userId !== null && !this.#d.revocations.revokeUser(userId, until)) this.#overflow(`user ${userId}`);
  }

  #overflow(what: string): void {
    this.#d.log.error('revocation set full: a revoked session may pass until its tokens expire', { what });
  }
}
