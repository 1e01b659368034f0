/**
 * The WebSocket gateway of one front thread (`GET /ws`): the uWS wiring, authentication at the
 * upgrade or by the first frame, per-socket limits, and the fan-out of what actors publish.
 * Operations themselves are in ./ops.ts.
 *
 * Fan-out: a socket that joined conversation C subscribes to the uWS topic `r:C|j` or `r:C|m`
 * (by sub-protocol). An actor posts one event per front; the front serialises it once per
 * sub-protocol that has subscribers and publishes, and uWS copies the bytes to every subscriber in
 * C++. Events for users (DMs, dm_created) go to the user's sockets found in `#byUser`, not through
 * a topic per user: a subscription costs every idle connection about 0.4 KiB in uWS.
 */
import { ROOM, SESSION, USER, roomTopic, type ActorCaller, type Caller, type FrontPost } from '../../actors/messages.js';
import type { AccessTokens } from '../../auth/jwt.js';
import { bearerToken } from '../../auth/jwt.js';
import type { Config } from '../../config/schema.js';
import { ChatError, CLOSE, toChatError } from '../../errors.js';
import { isRuntimeError } from '../../runtime/errors.js';
import { flatUuid } from '../../flat-uuid.js';
import type { Limiter } from '../../limits/shared-buckets.js';
import { perMinute, RateLimiter } from '../../limits/token-bucket.js';
import type { Logger } from '../../log.js';
import { parseClientFrame, buildClientSchemas, type ClientSchemas } from '../../protocol/client-ops.js';
import { decodeFrame, encodeEvent, FrameError, preencodeJson, selectSubprotocol, type JsonEvent, type PreEncoded } from '../../protocol/codec.js';
import type { ServerEventDataMap, ServerEventType } from '../../protocol/events.js';
import { toWireUser } from '../../protocol/events.js';
import type { HttpResponse, TemplatedApp, WebSocket } from '../uws.js';
import { newConn, topicFor, type Conn, type HeldEvent } from './conn.js';
import { handlerFor } from './ops.js';

export type Action = keyof Config['limits']['perMinute'];

/** `rate_limited` answers a socket may get within FLOOD_WINDOW_MS before it is closed with 4429. */
const FLOOD_LIMIT = 20;
const FLOOD_WINDOW_MS = 10_000;
/** How often sockets are checked for an expired token, a ping due, and falling behind their backpressure limit. */
const SWEEP_MS = 1000;
/** uWS counts idle time in ticks of this many seconds (uSockets' LIBUS_TIMEOUT_GRANULARITY). */
const UWS_TICK_S = 4;

/**
 * uWS's idle timeout (s) for PROTOCOL.md's "no frame for idleTimeoutMs closes the socket": a timer
 * of N ticks fires after N-1 to N ticks, so one tick more than the limit rounded up to a tick.
 */
export const idleTimeoutS = (idleTimeoutMs: number): number => (Math.ceil(idleTimeoutMs / 1000 / UWS_TICK_S) + 1) * UWS_TICK_S;

export interface GatewayDeps {
  config: Config;
  tokens: AccessTokens;
  actors: ActorCaller;
  /** This front thread's index. */
  front: number;
  log: Logger;
  /** Per-user buckets, shared with the REST routes of the same front. */
  limiter?: Limiter<Action>;
  clock?: () => number;
}

export interface GatewayStats {
  open: number;
  authenticated: number;
  /** Sockets closed for not reading (slowConsumer 'close'). */
  slowConsumerCloses: number;
  /** Times a socket fell behind its backpressure limit and had publishes skipped ('skip'). */
  slowConsumerSkips: number;
  /** Sockets behind their limit at the last sweep. */
  lagging: number;
}

/** What the operation handlers may use. */
export interface GatewayCore {
  readonly actors: ActorCaller;
  readonly front: number;
  send<K extends ServerEventType>(conn: Conn, type: K, data: ServerEventDataMap[K], replyTo?: string): void;
  subscribe(conn: Conn, conversationId: number): boolean;
  unsubscribe(conn: Conn, conversationId: number): void;
  /** Hold the conversation's live events for this socket until `release` (a resume is in flight). */
  hold(conn: Conn, conversationId: number): void;
  /**
   * Send what was held, but the events `toSeq` covers (the resume's reply sent them), and let the
   * socket listen again if it is a subscriber. `toSeq` null: the resume failed; a subscriber still
   * gets everything held, anyone else nothing.
   */
  release(conn: Conn, conversationId: number, toSeq: number | null): void;
  /** The connection's session actor id, sending it `open` first if it never was. */
  session(conn: Conn): string;
  /** Take one token of `action` for the user, or throw `rate_limited`. */
  limit(conn: Conn, userId: number, action: Action): void;
}

interface Socket extends Conn {
  ws: WebSocket<Socket> | null;
  /** Behind its backpressure limit at the last sweep. */
  lagging?: boolean;
}

/** Close code for a consumer that would not keep up (RFC 6455 1008, policy violation). */
const SLOW_CONSUMER_CLOSE = 1008;
/** Most live events held for one conversation of a socket being resumed before it is closed (4500): memory stays bounded. */
const HOLD_MAX_EVENTS = 10_000;

export class Gateway implements GatewayCore {
  readonly actors: ActorCaller;
  readonly front: number;
  readonly #config: Config;
  readonly #tokens: AccessTokens;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #limiter: Limiter<Action>;
  readonly #schemas: ClientSchemas;
  readonly #sockets = new Set<Socket>();
  /** A user's sockets on this front: the socket itself while there is one, a Set beyond. */
  readonly #byUser = new Map<number, Socket | Set<Socket>>();
  /** Sockets holding a conversation's live events while it is resumed (see hold). */
  readonly #holders = new Map<number, Set<Socket>>();
  #app: TemplatedApp | null = null;
  #paused = false;
  #slowCloses = 0;
  #slowEpisodes = 0;
  #lagging = 0;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(deps: GatewayDeps) {
    this.actors = deps.actors;
    this.front = deps.front;
    this.#config = deps.config;
    this.#tokens = deps.tokens;
    this.#log = deps.log.child({ component: 'ws', front: deps.front });
    this.#clock = deps.clock ?? Date.now;
    this.#limiter = deps.limiter ?? new RateLimiter(perMinute(deps.config.limits.perMinute), this.#clock);
    this.#schemas = buildClientSchemas(deps.config.limits);
  }

  get stats(): GatewayStats {
    return {
      open: this.#sockets.size,
      authenticated: this.#byUser.size,
      slowConsumerCloses: this.#slowCloses,
      slowConsumerSkips: this.#slowEpisodes,
      lagging: this.#lagging,
    };
  }

  attach(app: TemplatedApp): void {
    this.#app = app;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweeper.unref();
    const { limits, ws } = this.#config;
    app.ws<Socket>('/ws', {
      // uWS drops a connection whose frame passes maxPayloadLength without a close frame (1006);
      // with room above the limit, a frame that is merely too large gets a proper 1009 below.
      maxPayloadLength: limits.maxFrameBytes * 2,
      maxBackpressure: limits.maxBackpressureBytes,
      // Past maxBackpressure uWS skips a socket's publishes (memory stays bounded); the sweep below
      // counts such sockets and, with slowConsumer 'close', closes them.
      closeOnBackpressureLimit: false as unknown as number,
      // The sweep pings every heartbeatMs (#sweep). uWS's own pings cannot keep PROTOCOL.md's
      // times: it pings at its idle timeout less a margin of at most 16 s, so 30 s pings would
      // mean closing after 46 s. What uWS still does is close a socket it heard nothing from (a
      // pong counts) for its idle timeout, counted in 4-second ticks that may fire up to one tick
      // early: a tick above idleTimeoutMs, rounded up to a whole tick, never closes before it.
      idleTimeout: idleTimeoutS(ws.idleTimeoutMs),
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => {
        const key = req.getHeader('sec-websocket-key');
        const offered = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const origin = req.getHeader('origin');
        const token = bearerToken(req.getHeader('authorization')) ?? new URLSearchParams(req.getQuery() ?? '').get('access_token');
        const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
        const protocol = selectSubprotocol(offered);
        if (protocol === null) return refuse(res, 400, 'validation_failed', 'no supported sub-protocol offered (veza.json, veza.msgpack)');
        // The allowlist keeps other sites' pages from opening sockets with a user's token: a browser
        // always sends Origin on a WebSocket upgrade. A client without one is not a browser, and
        // refusing it would protect nothing (any other client can send an allowed Origin).
        const allow = this.#config.server.originAllowlist;
        if (allow.length > 0 && origin !== '' && !allow.includes(origin)) return refuse(res, 403, 'forbidden', 'origin not allowed');
        const conn = newConn(protocol, remote) as Socket;
        conn.ws = null;
        // Echo the sub-protocol only when the client offered one (RFC 6455 §4.2.2).
        const echoed = offered ? protocol : '';
        if (!token) {
          res.upgrade(conn, key, echoed, extensions, context);
          return;
        }
        // Verified here, synchronously, and upgraded in the same handler: no async upgrade.
        try {
          const claims = this.#tokens.verifySync(token);
          conn.user = { id: claims.user_id, username: claims.username, role: claims.role };
          conn.expiresAt = claims.exp * 1000;
        } catch (e) {
          const err = toChatError(e);
          return refuse(res, 401, 'unauthenticated', err.code === 'unauthenticated' ? err.message : 'invalid token');
        }
        res.upgrade(conn, key, echoed, extensions, context);
      },
      open: (socket) => {
        const conn = socket.getUserData();
        conn.ws = socket;
        conn.pingedAt = this.#clock();
        this.#sockets.add(conn);
        if (conn.user) this.#authenticated(conn, undefined);
        else conn.timer = setTimeout(() => this.#close(conn, CLOSE.AUTH_TIMEOUT, 'authentication timeout'), ws.authTimeoutMs);
      },
      message: (socket, message, isBinary) => {
        this.#onMessage(socket.getUserData(), message, isBinary);
      },
      drain: () => {},
      close: (socket, code) => {
        const conn = socket.getUserData();
        this.#closed(conn, code);
      },
    });
  }

  // ---------------------------------------------------------------------------------------------
  // What handlers use

  send<K extends ServerEventType>(conn: Conn, type: K, data: ServerEventDataMap[K], replyTo?: string): void {
    const ws = (conn as Socket).ws;
    if (conn.closed || ws === null) return;
    const frame = encodeEvent(conn.protocol, type, data, replyTo === undefined ? undefined : { reply_to: replyTo });
    // Corked: what uWS holds for this socket from this turn's publishes (the sender's own
    // `message` event, before its ack) and this frame leave in one write, not one each.
    ws.cork(() => ws.send(frame, conn.binary));
  }

  subscribe(conn: Conn, conversationId: number): boolean {
    const ws = (conn as Socket).ws;
    if (conn.closed || ws === null) {
      // The socket went away while the join was in flight: give the subscriber count back.
      this.actors.tell(ROOM, conversationId, { t: 'detach', sub: { front: this.front } });
      return false;
    }
    (conn.rooms ??= new Set()).add(conversationId);
    ws.subscribe(topicFor(roomTopic(conversationId), conn.protocol));
    this.session(conn);
    this.actors.tell(SESSION, conn.sessionId, { t: 'joined', conversationId });
    return true;
  }

  unsubscribe(conn: Conn, conversationId: number): void {
    const ws = (conn as Socket).ws;
    if (!conn.rooms?.delete(conversationId) || conn.closed || ws === null) return;
    ws.unsubscribe(topicFor(roomTopic(conversationId), conn.protocol));
    this.actors.tell(SESSION, conn.sessionId, { t: 'left', conversationId });
  }

  /**
   * A resume's reply and the live events after it travel different ways (the reply through the
   * session actor, the events straight from the room's shard), so either may come first. From
   * here to `release` the socket gets the conversation's live events in its held list instead:
   * a subscribed socket is taken off the uWS topic meanwhile, and DM events (sent per user) are
   * held too. The RoomActor counts the socket as a subscriber in the same instant it fixes the
   * reply's `to_seq`, so every event after it reaches this front, and is held.
   */
  hold(conn: Conn, conversationId: number): void {
    if (conn.held?.has(conversationId)) {
      throw new ChatError('conflict', `conversation ${conversationId} is already being resumed on this connection`);
    }
    (conn.held ??= new Map()).set(conversationId, []);
    let holders = this.#holders.get(conversationId);
    if (holders === undefined) this.#holders.set(conversationId, (holders = new Set()));
    holders.add(conn as Socket);
    const ws = (conn as Socket).ws;
    if (conn.rooms?.has(conversationId) && ws !== null) ws.unsubscribe(topicFor(roomTopic(conversationId), conn.protocol));
  }

  release(conn: Conn, conversationId: number, toSeq: number | null): void {
    const held = this.#unhold(conn as Socket, conversationId);
    const ws = (conn as Socket).ws;
    if (held === undefined || conn.closed || ws === null) return;
    const subscriber = conn.rooms?.has(conversationId) ?? false;
    if (subscriber) ws.subscribe(topicFor(roomTopic(conversationId), conn.protocol));
    for (const h of held) {
      if (toSeq !== null && h.seq !== undefined && h.seq <= toSeq) continue; // in the reply
      if (h.direct || subscriber) this.#sendBytes(conn as Socket, h.pre);
    }
  }

  /** Stop holding; the held events, if the socket held that conversation. */
  #unhold(conn: Socket, conversationId: number): HeldEvent[] | undefined {
    const held = conn.held?.get(conversationId);
    if (held === undefined) return undefined;
    conn.held!.delete(conversationId);
    if (conn.held!.size === 0) conn.held = null;
    const holders = this.#holders.get(conversationId);
    holders?.delete(conn);
    if (holders?.size === 0) this.#holders.delete(conversationId);
    return held;
  }

  /** Hold `pre` for `conn` (see hold), or close the socket if it has held too much. */
  #holdEvent(conn: Socket, conversationId: number, pre: PreEncoded, seq: number | undefined, direct: boolean): void {
    const held = conn.held?.get(conversationId);
    if (held === undefined) return;
    if (held.length >= HOLD_MAX_EVENTS) {
      // Closed later in this turn: the caller may be walking the set this would change.
      queueMicrotask(() => this.#close(conn, CLOSE.INTERNAL, 'resume fell behind the live stream; reconnect and resume again'));
      return;
    }
    held.push({ pre, seq, direct });
  }

  limit(conn: Conn, userId: number, action: Action): void {
    const r = this.#limiter.take(userId, action);
    if (r.ok) return;
    const now = this.#clock();
    if (now - conn.floodSince > FLOOD_WINDOW_MS) {
      conn.floodSince = now;
      conn.floods = 0;
    }
    if (++conn.floods > FLOOD_LIMIT) {
      queueMicrotask(() => this.#close(conn as Socket, CLOSE.FLOODING, 'kept flooding after rate_limited'));
    }
    throw new ChatError('rate_limited', `${action}: too many requests`, { retryAfterMs: r.retryAfterMs });
  }

  // ---------------------------------------------------------------------------------------------
  // From actors and the runtime

  /** An actor's post to this front. */
  deliver(post: FrontPost): void {
    if (post.t === 'publish') {
      if ('users' in post) this.#toUsers(post.users, post.event, post.conversationId, post.seq);
      else this.#publish(post.topics, post.event, post.conversationId, post.seq);
    } else if (post.t === 'kick') {
      for (const conn of this.#socketsOf(post.userId)) this.#close(conn, post.code, post.reason);
    }
  }

  /** The open sockets of `userId` on this front (a copy: closing one changes the set). */
  #socketsOf(userId: number): Socket[] {
    const held = this.#byUser.get(userId);
    return held === undefined ? [] : held instanceof Set ? [...held] : [held];
  }

  /**
   * The rings to the shards are full. This uWS build cannot pause a WebSocket's reads, so until
   * they drain, operations that need an actor are refused with `rate_limited` (and a retry time)
   * instead of queued: nothing is dropped silently and the front's memory stays bounded.
   */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
  }

  /**
   * Once a second: a socket whose access token expired with no fresh `authenticate` is closed with
   * 4401; a socket last pinged `heartbeatMs` ago is pinged (uWS closes one that stays silent for
   * the idle timeout). A socket at its backpressure limit has publishes skipped by uWS: count each
   * such episode; with slowConsumer 'close', close the socket instead (1008: it would not keep up).
   */
  #sweep(): void {
    const limit = this.#config.limits.maxBackpressureBytes;
    const close = this.#config.limits.slowConsumer === 'close';
    const heartbeatMs = this.#config.ws.heartbeatMs;
    const now = this.#clock();
    let lagging = 0;
    for (const conn of this.#sockets) {
      const ws = conn.ws;
      if (ws === null || conn.closed) continue;
      if (conn.user !== null && conn.expiresAt <= now) {
        this.#close(conn, CLOSE.UNAUTHENTICATED, 'token expired');
        continue;
      }
      // Half a sweep early rather than a whole sweep late: the interval's ticks jitter by a few ms.
      if (now - conn.pingedAt >= heartbeatMs - SWEEP_MS / 2) {
        conn.pingedAt = now;
        ws.ping();
      }
      if (ws.getBufferedAmount() < limit) {
        conn.lagging = false;
        continue;
      }
      lagging++;
      if (close) {
        this.#slowCloses++;
        this.#close(conn, SLOW_CONSUMER_CLOSE, 'too slow: backpressure limit reached');
      } else if (!conn.lagging) {
        conn.lagging = true;
        this.#slowEpisodes++;
      }
    }
    this.#lagging = lagging;
  }

  /** Graceful stop: close every socket with 1001 (going away). */
  closeAll(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    for (const conn of [...this.#sockets]) this.#close(conn, CLOSE.GOING_AWAY, 'server going away');
  }

  // ---------------------------------------------------------------------------------------------

  #publish(topics: string[], event: JsonEvent, conversationId?: number, seq?: number): void {
    const app = this.#app;
    if (app === null) return;
    const pre = preencodeJson(event);
    for (const base of topics) {
      const j = topicFor(base, 'veza.json');
      if (app.numSubscribers(j) > 0) app.publish(j, pre.json, false);
      const m = topicFor(base, 'veza.msgpack');
      if (app.numSubscribers(m) > 0) app.publish(m, pre.msgpack, true);
    }
    // Sockets being resumed are off the topic: they get it after their reply (see hold).
    const holders = conversationId === undefined ? undefined : this.#holders.get(conversationId);
    if (holders !== undefined) for (const conn of holders) this.#holdEvent(conn, conversationId as number, pre, seq, false);
  }

  /**
   * An event for every socket of some users. `ws.send` writes out what uWS still holds for the
   * socket from this turn's publishes first, so a socket's events keep the order they came in.
   */
  #toUsers(users: readonly number[], event: JsonEvent, conversationId?: number, seq?: number): void {
    let pre: PreEncoded | undefined;
    for (const userId of users) {
      const sockets = this.#byUser.get(userId);
      if (sockets === undefined) continue;
      pre ??= preencodeJson(event);
      if (sockets instanceof Set) for (const conn of sockets) this.#toUser(conn, pre, conversationId, seq);
      else this.#toUser(sockets, pre, conversationId, seq);
    }
  }

  /** One user's socket: now, or after its reply if it is resuming this conversation (see hold). */
  #toUser(conn: Socket, pre: PreEncoded, conversationId: number | undefined, seq: number | undefined): void {
    if (conversationId !== undefined && conn.held?.has(conversationId)) this.#holdEvent(conn, conversationId, pre, seq, true);
    else this.#sendBytes(conn, pre);
  }

  #sendBytes(conn: Socket, pre: PreEncoded): void {
    const ws = conn.ws;
    if (conn.closed || ws === null) return;
    const bytes = pre.for(conn.protocol);
    ws.cork(() => ws.send(bytes, conn.binary));
  }

  #onMessage(conn: Socket, message: ArrayBuffer, isBinary: boolean): void {
    if (message.byteLength > this.#config.limits.maxFrameBytes) {
      return this.#close(conn, CLOSE.TOO_LARGE, 'frame too large');
    }
    let envelope;
    try {
      envelope = decodeFrame(conn.protocol, message, isBinary, this.#config.limits.maxFrameBytes);
    } catch (e) {
      if (!conn.user) return this.#close(conn, CLOSE.UNAUTHENTICATED, 'authenticate first');
      const err = toChatError(e);
      this.send(conn, 'error', err.toWire(), e instanceof FrameError ? e.replyTo : undefined);
      return;
    }
    if (envelope.type === 'authenticate') {
      void this.#authenticate(conn, envelope.data, envelope.id);
      return;
    }
    if (!conn.user) return this.#close(conn, CLOSE.UNAUTHENTICATED, 'authenticate first');
    let op;
    try {
      op = parseClientFrame(envelope, this.#schemas);
    } catch (e) {
      this.send(conn, 'error', toChatError(e).toWire(), envelope.id);
      return;
    }
    const handler = handlerFor(op);
    if (handler === undefined) {
      this.send(conn, 'error', new ChatError('validation_failed', `unknown operation "${op.type}"`).toWire(), op.id);
      return;
    }
    if (this.#paused && op.type !== 'ping') {
      this.send(conn, 'error', new ChatError('rate_limited', 'server busy', { retryAfterMs: 100 }).toWire(), op.id);
      return;
    }
    const user = conn.user;
    let result;
    try {
      result = handler({ conn, user, gw: this }, op.data as never);
    } catch (e) {
      this.#fail(conn, e, op.id);
      return;
    }
    Promise.resolve(result).then(
      (ack) => {
        if (op.id !== undefined && ack !== undefined) this.send(conn, 'ack', ack, op.id);
      },
      (e: unknown) => this.#fail(conn, e, op.id),
    );
  }

  #fail(conn: Conn, e: unknown, replyTo: string | undefined): void {
    const err = toChatError(e);
    // A graceful stop settles what is still in flight as `stopped`: expected, and the socket is
    // closing with 1001 (the client retries with its client_id).
    if (isRuntimeError(e, 'stopped')) this.#log.debug('operation cut short by the stop', { reply_to: replyTo });
    else if (err.code === 'internal') this.#log.error('operation failed', { err: e });
    this.send(conn, 'error', err.toWire(), replyTo);
  }

  async #authenticate(conn: Socket, data: Record<string, unknown> | undefined, id: string | undefined): Promise<void> {
    let claims;
    try {
      const op = parseClientFrame({ type: 'authenticate', data: data ?? {} }, this.#schemas);
      claims = await this.#tokens.verify((op.data as { token: string }).token);
    } catch (e) {
      if (conn.closed) return;
      if (!conn.user) return this.#close(conn, CLOSE.UNAUTHENTICATED, 'invalid token');
      return this.#fail(conn, e, id);
    }
    if (conn.closed) return;
    if (conn.user && conn.user.id !== claims.user_id) {
      return this.#fail(conn, new ChatError('forbidden', 'a connection stays with the user it authenticated as'), id);
    }
    const first = conn.user === null;
    conn.user = { id: claims.user_id, username: claims.username, role: claims.role };
    conn.expiresAt = claims.exp * 1000;
    // A renewal only moves `expiresAt`: the once-a-second sweep (#sweep) closes expired sockets.
    if (first) this.#authenticated(conn, id);
    else this.send(conn, 'authenticated', this.#authenticatedData(conn), id);
  }

  #authenticated(conn: Socket, replyTo: string | undefined): void {
    const user = conn.user as Caller;
    conn.sessionId = flatUuid();
    const held = this.#byUser.get(user.id);
    if (held === undefined) this.#byUser.set(user.id, conn);
    else if (held instanceof Set) held.add(conn);
    else this.#byUser.set(user.id, new Set([held, conn]));
    this.#clearTimer(conn);
    this.actors.tell(USER, user.id, { t: 'session_opened', sessionId: conn.sessionId, front: this.front });
    this.send(conn, 'authenticated', this.#authenticatedData(conn), replyTo);
  }

  /**
   * The connection's SessionActor id, opening it first if it was never told anything: it is
   * activated with the first join or resume, not at authentication (see SessionActor). Messages
   * to one actor from one front arrive in order, so `open` is seen before what follows it.
   */
  session(conn: Conn): string {
    if (!conn.sessionOpen && conn.user !== null) {
      conn.sessionOpen = true;
      this.actors.tell(SESSION, conn.sessionId, { t: 'open', caller: conn.user, front: this.front });
    }
    return conn.sessionId;
  }

  #authenticatedData(conn: Conn) {
    return {
      user: toWireUser(conn.user as Caller),
      session_id: conn.sessionId,
      heartbeat_ms: this.#config.ws.heartbeatMs,
    };
  }

  /**
   * The authentication deadline is met (or the socket closed). Token expiry has no timer: the
   * once-a-second sweep (#sweep) checks it, as a timer per socket costs memory on every idle one.
   */
  #clearTimer(conn: Socket): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
  }

  #close(conn: Socket, code: number, reason: string): void {
    if (conn.closed || conn.ws === null) return;
    conn.ws.end(code, reason);
  }

  #closed(conn: Socket, code: number): void {
    conn.closed = true;
    this.#clearTimer(conn);
    this.#sockets.delete(conn);
    conn.ws = null;
    conn.rooms = null;
    for (const conversationId of [...(conn.held?.keys() ?? [])]) this.#unhold(conn, conversationId);
    const user = conn.user;
    if (user) {
      const held = this.#byUser.get(user.id);
      if (held === conn) this.#byUser.delete(user.id);
      else if (held instanceof Set) {
        held.delete(conn);
        if (held.size === 0) this.#byUser.delete(user.id);
      }
      // The session (if it was ever opened) gives back its subscriptions.
      if (conn.sessionOpen) this.actors.tell(SESSION, conn.sessionId, { t: 'closed' });
      this.actors.tell(USER, user.id, { t: 'session_closed', sessionId: conn.sessionId });
    }
  }
}

function refuse(res: HttpResponse, status: number, code: string, message: string): void {
  const text = status === 401 ? '401 Unauthorized' : status === 403 ? '403 Forbidden' : '400 Bad Request';
  res
    .writeStatus(text)
    .writeHeader('content-type', 'application/json; charset=utf-8')
    .end(JSON.stringify({ error: { code, message } }));
}

