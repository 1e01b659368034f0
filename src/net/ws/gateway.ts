/**
 * The WebSocket gateway of one front thread (`GET /ws`): the uWS wiring, and nothing else. Each
 * concern lives in its own file, and this one delegates:
 * - ./upgrade.ts: sub-protocol, Origin, a token at the upgrade;
 * - ./session.ts: authentication by frame, renewals, the deadline, the user index, close;
 * - ./dispatch.ts and ./ops/: a frame to its operation and its one reply;
 * - ./fanout.ts: frames to sockets, actors' events to topics and users, one order per conversation;
 * - ./flood.ts: per-user rate limits and 4429; ./sweep.ts: expiry, pings, slow consumers.
 */
import { ROOM, SESSION, type ActorCaller, type FrontPost } from '../../actors/messages.js';
import type { AccessTokens } from '../../auth/jwt.js';
import type { Config } from '../../config/schema.js';
import { CLOSE, toChatError } from '../../errors.js';
import { ContentPipeline } from '../../content/pipeline.js';
import { Budgets } from '../../limits/budgets.js';
import type { ConnectionCounts } from '../../limits/connection-counts.js';
import { ConnectionCaps } from './caps.js';
import type { Limiter } from '../../limits/shared-buckets.js';
import { perMinute, RateLimiter } from '../../limits/token-bucket.js';
import type { Logger } from '../../log.js';
import { buildClientSchemas } from '../../protocol/client-ops.js';
import { decodeFrame, FrameError } from '../../protocol/codec.js';
import type { ServerEventDataMap, ServerEventType } from '../../protocol/events.js';
import type { TemplatedApp } from '../uws.js';
import type { Conn, SocketData } from './conn.js';
import { Dispatcher } from './dispatch.js';
import { Fanout } from './fanout.js';
import { FloodPolicy, isFlooding, type Action } from './flood.js';
import type { GatewayCore } from './ops/types.js';
import { memberRemoved } from './member-removed.js';
import { roomDeleted } from './room-deleted.js';
import { Sessions } from './session.js';
import { Sockets } from './sockets.js';
import { Sweeper, type SweepStats } from './sweep.js';
import { upgradeHandler } from './upgrade.js';

/** uWS counts idle time in ticks of this many seconds (uSockets' LIBUS_TIMEOUT_GRANULARITY). */
const UWS_TICK_S = 4;

/**
 * uWS's idle timeout (s) for PROTOCOL.md's "no frame for idleTimeoutMs closes the socket": a timer
 * of N ticks fires after N-1 to N ticks, so one tick more than the limit rounded up to a tick.
 */
const idleTimeoutS = (idleTimeoutMs: number): number => (Math.ceil(idleTimeoutMs / 1000 / UWS_TICK_S) + 1) * UWS_TICK_S;

export interface GatewayDeps {
  config: Config;
  tokens: AccessTokens;
  actors: ActorCaller;
  /** This front thread's index. */
  front: number;
  log: Logger;
  /** Per-user buckets, shared with the REST routes of the same front. */
  limiter?: Limiter<Action>;
  /** The adaptive budgets over `limiter` (made from it when not given). */
  budgets?: Budgets;
  /** The content pipeline, shared with the REST routes of the same front (made when not given). */
  content?: ContentPipeline;
  /** Open sockets per user and source across the node's fronts; without it, no caps. */
  connections?: ConnectionCounts;
  clock?: () => number;
}

export interface GatewayStats extends SweepStats {
  open: number;
  authenticated: number;
  /** Account ages being read for the adaptive limits (src/limits/budgets.ts). */
  ageLookups: number;
}

/** How long a flooder's socket may take to flush its 4429 close frame before it is dropped anyway. */
const FLOOD_LINGER_MS = 1000;

export class Gateway implements GatewayCore {
  readonly actors: ActorCaller;
  readonly front: number;
  readonly fanout: Fanout;
  readonly budgets: Budgets;
  readonly content: ContentPipeline;
  readonly #config: Config;
  readonly #tokens: AccessTokens;
  readonly #clock: () => number;
  readonly #sockets = new Sockets();
  readonly #flood: FloodPolicy;
  readonly #sweeper: Sweeper;
  readonly #dispatcher: Dispatcher;
  readonly #sessions: Sessions;
  readonly #caps: ConnectionCaps | null;

  constructor(deps: GatewayDeps) {
    this.actors = deps.actors;
    this.front = deps.front;
    this.#config = deps.config;
    this.#tokens = deps.tokens;
    const log = deps.log.child({ component: 'ws', front: deps.front });
    const clock = (this.#clock = deps.clock ?? Date.now);
    const close = (conn: Conn, code: number, reason: string) => this.#close(conn, code, reason);
    const limiter = deps.limiter ?? new RateLimiter(perMinute(deps.config.limits.perMinute), clock);
    this.budgets = deps.budgets ?? new Budgets(limiter, deps.config.limits, null, clock);
    this.content = deps.content ?? new ContentPipeline(deps.config.content, (id) => this.budgets.penalise(id), clock);
    const schemas = buildClientSchemas(deps.config.limits);
    this.fanout = new Fanout(this.#sockets);
    this.#caps = deps.connections ? new ConnectionCaps(deps.connections, deps.config.limits) : null;
    const caps = this.#caps;
    this.#flood = new FloodPolicy(this.budgets, deps.config.limits.framesPerSecond, clock, (conn) => this.#closeFlooder(conn));
    this.#sweeper = new Sweeper(deps.config, this.#sockets, clock, close, deps.tokens.revocations);
    this.#dispatcher = new Dispatcher(this, schemas, log);
    this.#sessions = new Sessions({
      config: deps.config,
      tokens: deps.tokens,
      actors: deps.actors,
      front: deps.front,
      sockets: this.#sockets,
      schemas,
      dispatcher: this.#dispatcher,
      close,
      // A socket that authenticates by frame counts for its user then.
      admit: (conn, user) => {
        this.budgets.prime(user.id);
        return this.budgets.take(user, 'connect').ok && (caps === null || caps.authenticated(conn, user.id));
      },
    });
  }

  get stats(): GatewayStats {
    return { open: this.#sockets.open, authenticated: this.#sockets.users, ageLookups: this.budgets.lookups, ...this.#sweeper.stats };
  }

  attach(app: TemplatedApp): void {
    this.fanout.attach(app);
    this.#sweeper.start();
    const { limits, ws } = this.#config;
    app.ws<SocketData>('/ws', {
      // uWS drops a connection whose frame passes maxPayloadLength without a close frame (1006);
      // with room above the limit, a frame that is merely too large gets a proper 1009 below.
      maxPayloadLength: limits.maxFrameBytes * 2,
      maxBackpressure: limits.maxBackpressureBytes,
      // Past maxBackpressure uWS skips a socket's publishes (memory stays bounded); the sweep
      // counts such sockets and, with slowConsumer 'close', closes them.
      closeOnBackpressureLimit: false as unknown as number,
      // The sweep pings every heartbeatMs. uWS's own pings cannot keep PROTOCOL.md's times: it
      // pings at its idle timeout less a margin of at most 16 s, so 30 s pings would mean closing
      // after 46 s. What uWS still does is close a socket it heard nothing from (a pong counts)
      // for its idle timeout, counted in 4-second ticks that may fire up to one tick early: a
      // tick above idleTimeoutMs, rounded up to a whole tick, never closes before it.
      idleTimeout: idleTimeoutS(ws.idleTimeoutMs),
      sendPingsAutomatically: false,
      upgrade: upgradeHandler(this.#config, this.#tokens, this.#caps, this.budgets),
      open: (socket) => {
        const conn = socket.getUserData().conn;
        conn.ws = socket;
        conn.pingedAt = this.#clock();
        if (this.#caps !== null && (!this.#caps.opened(conn) || (conn.user !== null && !this.#caps.authenticated(conn, conn.user.id)))) {
          // Never a session: its close tells no actor anything.
          conn.user = null;
          return this.#close(conn, CLOSE.FLOODING, 'too many connections');
        }
        if (conn.user !== null) this.budgets.prime(conn.user.id);
        this.#sessions.opened(conn);
      },
      message: (socket, message, isBinary) => this.#onMessage(socket.getUserData().conn, message, isBinary),
      drain: () => {},
      close: (socket) => {
        const conn = socket.getUserData().conn;
        this.#caps?.closed(conn);
        this.#sessions.closed(conn);
      },
    });
  }

  // ---------------------------------------------------------------------------------------------
  // What handlers use (GatewayCore)

  send<K extends ServerEventType>(conn: Conn, type: K, data: ServerEventDataMap[K], replyTo?: string): void {
    this.fanout.send(conn, type, data, replyTo);
  }

  limit(conn: Conn, userId: number, action: Action, count = 1): void {
    this.#flood.take(conn, userId, action, count);
  }

  subscribe(conn: Conn, conversationId: number): boolean {
    if (!this.fanout.listen(conn, conversationId)) {
      // The socket went away while the join was in flight: give the subscriber count back.
      this.actors.tell(ROOM, conversationId, { t: 'detach', sub: { front: this.front } });
      return false;
    }
    (conn.rooms ??= new Set()).add(conversationId);
    this.actors.tell(SESSION, this.session(conn), { t: 'joined', conversationId });
    return true;
  }

  unsubscribe(conn: Conn, conversationId: number): void {
    if (!conn.rooms?.delete(conversationId) || conn.closed) return;
    this.fanout.unlisten(conn, conversationId);
    this.actors.tell(SESSION, conn.sessionId, { t: 'left', conversationId });
  }

  session(conn: Conn): string {
    return this.#sessions.session(conn);
  }

  // ---------------------------------------------------------------------------------------------
  // From actors and the runtime

  /** An actor's post to this front. */
  deliver(post: FrontPost): void {
    if (post.t === 'publish') {
      if ('users' in post) this.fanout.toUsers(post.users, post.event, post.conversationId, post.except);
      else if (post.exceptUser === undefined) this.fanout.publish(post.topics, post.event);
      else this.fanout.publishExcept(post.topics, post.event, post.exceptUser);
    } else if (post.t === 'kick') {
      for (const conn of this.#sockets.of(post.userId)) {
        if (post.sid === undefined || conn.authSession === post.sid) this.#close(conn, post.code, post.reason);
      }
    } else if (post.t === 'room_deleted') {
      roomDeleted(this, this.#sockets, post.roomId, post.users);
    } else if (post.t === 'member_removed') {
      memberRemoved(this, this.#sockets, post.roomId, post.userId, post.reason);
    }
  }

  /**
   * The rings to the shards are full. This uWS build cannot pause a WebSocket's reads, so until
   * they drain, operations that need an actor are refused with `rate_limited` (and a retry time)
   * instead of queued: nothing is dropped silently and the front's memory stays bounded.
   */
  pause(): void {
    this.#dispatcher.paused = true;
  }

  resume(): void {
    this.#dispatcher.paused = false;
  }

  /** Graceful stop: close every socket with 1001 (going away). */
  closeAll(): void {
    this.#sweeper.stop();
    for (const conn of [...this.#sockets]) this.#close(conn, CLOSE.GOING_AWAY, 'server going away');
  }

  // ---------------------------------------------------------------------------------------------

  #onMessage(conn: Conn, message: ArrayBuffer, isBinary: boolean): void {
    // Frames that arrive between the flood's refusal and its close (same read) are not decoded.
    if (isFlooding(conn)) return;
    const maxFrame = this.#config.limits.maxFrameBytes;
    if (message.byteLength > maxFrame) return this.#close(conn, CLOSE.TOO_LARGE, 'frame too large');
    // Every frame counts, valid or not. A refused one is still decoded, so that the refusal names
    // the request: at most FLOOD_LIMIT of them before the socket is closed (the rest dropped above).
    const refused = this.#flood.frame(conn);
    let envelope;
    try {
      envelope = decodeFrame(conn.protocol, message, isBinary, maxFrame);
    } catch (e) {
      if (!conn.user) return this.#close(conn, CLOSE.UNAUTHENTICATED, 'authenticate first');
      this.send(conn, 'error', (refused ?? toChatError(e)).toWire(), e instanceof FrameError ? e.replyTo : undefined);
      return;
    }
    if (refused !== null) return this.send(conn, 'error', refused.toWire(), envelope.id);
    if (envelope.type === 'authenticate') {
      void this.#sessions.authenticate(conn, envelope.data, envelope.id);
      return;
    }
    if (!conn.user) return this.#close(conn, CLOSE.UNAUTHENTICATED, 'authenticate first');
    this.#dispatcher.dispatch(conn, conn.user, envelope);
  }

  #close(conn: Conn, code: number, reason: string): void {
    if (conn.closed || conn.ws === null) return;
    conn.ws.end(code, reason);
  }

  /**
   * 4429, then the TCP connection dropped without waiting for the client's close frame. After
   * `end()` uWS reads on until that frame comes back, and a flooder has megabytes in flight by then
   * (its send buffer, the kernel's on both sides): each flooding socket cost the front the reading
   * and unmasking of all of it, and the other users on that front waited behind it (issue 17: their
   * p99 at 8-14x quiet under a one-socket flood). Closing the socket makes the kernel drop what is
   * unread. The close frame goes first: uWS writes it when the handler that called `end()` returns,
   * so the drop waits for the next turn of the loop, and until uWS holds nothing more for the socket
   * (a flooder that does not read would otherwise lose the code), at most FLOOD_LINGER_MS.
   */
  #closeFlooder(conn: Conn): void {
    this.#close(conn, CLOSE.FLOODING, 'kept flooding after rate_limited');
    const until = this.#clock() + FLOOD_LINGER_MS;
    const drop = () => {
      const ws = conn.ws;
      if (conn.closed || ws === null) return;
      if (ws.getBufferedAmount() > 0 && this.#clock() < until) {
        setTimeout(drop, 5);
        return;
      }
      ws.close();
    };
    setImmediate(drop);
  }
}
