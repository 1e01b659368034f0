/**
 * A connection's life as a user's session on this front: authentication by the first frame (or
 * at the upgrade) and its renewals, the authentication deadline, the user index, the
 * SessionActor opened on demand, and what the actors hear when the socket closes.
 */
import { SESSION, USER, type ActorCaller, type Caller } from '../../actors/messages.js';
import type { AccessTokens } from '../../auth/jwt.js';
import type { Config } from '../../config/schema.js';
import { ChatError, CLOSE, toChatError } from '../../errors.js';
import { flatUuid } from '../../flat-uuid.js';
import { parseClientFrame, type ClientSchemas } from '../../protocol/client-ops.js';
import { toWireUser } from '../../protocol/events.js';
import { connectionClosed, connectionOpened, observeAuth } from '../../metrics/index.js';
import type { Conn } from './conn.js';
import type { Dispatcher } from './dispatch.js';
import type { Sockets } from './sockets.js';

export interface SessionDeps {
  config: Config;
  tokens: AccessTokens;
  actors: ActorCaller;
  front: number;
  sockets: Sockets;
  schemas: ClientSchemas;
  dispatcher: Dispatcher;
  close: (conn: Conn, code: number, reason: string) => void;
  /** Count an authenticated socket for its user (connections budget, ./caps.ts); false: over. */
  admit?: ((conn: Conn, user: Caller) => boolean) | null;
}

export class Sessions {
  readonly #d: SessionDeps;

  constructor(deps: SessionDeps) {
    this.#d = deps;
  }

  /** The socket opened: authenticated at the upgrade, or given `authTimeoutMs` to send `authenticate`. */
  opened(conn: Conn): void {
    conn.openedAt = performance.now();
    connectionOpened();
    this.#d.sockets.add(conn);
    // Verified at the upgrade, but its session may have ended since (the kick that closed the
    // session's sockets went out before this one was indexed): one lookup per socket, not per frame.
    if (conn.user && conn.authSession !== '' && this.#d.tokens.revocations?.isSessionRevoked(conn.authSession)) {
      return this.#d.close(conn, CLOSE.UNAUTHENTICATED, 'session revoked');
    }
    if (conn.user) this.#authenticated(conn, undefined);
    else conn.timer = setTimeout(() => this.#d.close(conn, CLOSE.AUTH_TIMEOUT, 'authentication timeout'), this.#d.config.ws.authTimeoutMs);
  }

  /**
   * An `authenticate` frame: the first authenticates the socket, later ones renew it (same user,
   * a fresh expiry). A bad token on a socket not yet authenticated gets its `error` reply, then
   * the close (4401); on an authenticated one, only the `error` (it lives until its token expires).
   */
  async authenticate(conn: Conn, data: Record<string, unknown> | undefined, id: string | undefined): Promise<void> {
    let claims;
    const started = performance.now();
    try {
      const op = parseClientFrame({ type: 'authenticate', data: data ?? {} }, this.#d.schemas);
      claims = this.#d.tokens.verify((op.data as { token: string }).token);
    } catch (e) {
      observeAuth('token', false, (performance.now() - started) / 1000);
      if (conn.closed) return;
      if (conn.user) return this.#d.dispatcher.fail(conn, e, id);
      const err = toChatError(e);
      const refusal = err.code === 'unauthenticated' || err.code === 'validation_failed' ? err : new ChatError('unauthenticated', 'invalid token');
      this.#d.dispatcher.fail(conn, refusal, id);
      return this.#d.close(conn, CLOSE.UNAUTHENTICATED, 'invalid token');
    }
    observeAuth('token', true, (performance.now() - started) / 1000);
    if (conn.closed) return;
    if (conn.user && conn.user.id !== claims.user_id) {
      return this.#d.dispatcher.fail(conn, new ChatError('forbidden', 'a connection stays with the user it authenticated as'), id);
    }
    const first = conn.user === null;
    if (first && this.#d.admit && !this.#d.admit(conn, { id: claims.user_id, username: claims.username, role: claims.role })) {
      this.#d.dispatcher.fail(conn, new ChatError('rate_limited', 'too many connections for this user'), id);
      return this.#d.close(conn, CLOSE.FLOODING, 'too many connections');
    }
    conn.user = { id: claims.user_id, username: claims.username, role: claims.role };
    conn.expiresAt = claims.exp * 1000;
    conn.authSession = claims.sid ?? '';
    // A renewal only moves `expiresAt`: the once-a-second sweep closes expired sockets.
    if (first) this.#authenticated(conn, id);
    else this.#replyAuthenticated(conn, id);
  }

  #authenticated(conn: Conn, replyTo: string | undefined): void {
    const user = conn.user as Caller;
    conn.sessionId = flatUuid();
    this.#d.sockets.addUser(conn, user.id);
    this.#clearTimer(conn);
    this.#d.actors.tell(USER, user.id, { t: 'session_opened', sessionId: conn.sessionId, front: this.#d.front });
    this.#replyAuthenticated(conn, replyTo);
  }

  /** One reply: `ack` to a frame with an id, else the `authenticated` event. */
  #replyAuthenticated(conn: Conn, replyTo: string | undefined): void {
    const data = { user: toWireUser(conn.user as Caller), session_id: conn.sessionId, heartbeat_ms: this.#d.config.ws.heartbeatMs };
    if (replyTo !== undefined) this.#d.dispatcher.core.send(conn, 'ack', data, replyTo);
    else this.#d.dispatcher.core.send(conn, 'authenticated', data);
  }

  /**
   * The connection's SessionActor id, opening it first if it was never told anything: it is
   * activated with the first join or resume, not at authentication (see SessionActor). Messages
   * to one actor from one front arrive in order, so `open` is seen before what follows it.
   */
  session(conn: Conn): string {
    if (!conn.sessionOpen && conn.user !== null) {
      conn.sessionOpen = true;
      this.#d.actors.tell(SESSION, conn.sessionId, { t: 'open', front: this.#d.front });
    }
    return conn.sessionId;
  }

  /** The socket closed: forget it; its session gives back its subscriptions. */
  closed(conn: Conn): void {
    conn.closed = true;
    connectionClosed(conn.openedAt);
    this.#clearTimer(conn);
    this.#d.sockets.remove(conn);
    conn.ws = null;
    conn.rooms = null;
    conn.pending = null;
    const user = conn.user;
    if (user === null) return;
    if (conn.sessionOpen) this.#d.actors.tell(SESSION, conn.sessionId, { t: 'closed' });
    this.#d.actors.tell(USER, user.id, { t: 'session_closed', sessionId: conn.sessionId });
  }

  #clearTimer(conn: Conn): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
  }
}
