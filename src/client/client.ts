/**
 * VezaClient: the typed client of docs/PROTOCOL.md, for browsers and Node 20 (given a WebSocket
 * implementation, e.g. the `ws` package). No Node-only module, no dependency: it runs as plain ES
 * modules in a page (the web client at `/` uses it as is).
 *
 * What it does for the application:
 * - logs in over REST and renews the access token before it expires (one refresh at a time:
 *   refresh tokens are single use, and a second use would revoke the login), renewing the open
 *   socket's authentication with the fresh token;
 * - speaks `veza.json` or `veza.msgpack`;
 * - numbers requests and settles each promise on its `ack`, or rejects it with a VezaError
 *   carrying the `error`'s code;
 * - reconnects with exponential backoff and full jitter, then sends one `resume` with the last
 *   `seq` of every conversation it follows, and delivers each sequenced event (`message` and the
 *   changes to messages) exactly once and in `seq` order, whatever the replay and the live stream
 *   interleave (docs/PROTOCOL.md, "resume"): a per-conversation sequencer that holds events
 *   arriving ahead of a gap and drops those already delivered;
 * - follows every DM it learns of (`dm_created`, from the event's `last_seq`), and after each
 *   authentication finds the DMs created while it was offline (`GET /dm` down to the highest DM id
 *   it knew) and resumes them from 0, so their first messages are not lost either;
 * - gives every message a `client_id` and sends the same one again when a send has to be retried
 *   after a drop, so a retry never stores a second message.
 */
import { decode as unpack, encode as pack } from './msgpack.js';
import {
  SEQUENCED_EVENTS,
  type AuthenticatedData,
  type ChangeAck,
  type ClientEvents,
  type ConnectionState,
  type DirectConversation,
  type DmAck,
  type HistoryPage,
  type JoinAck,
  type Member,
  type Message,
  type PresenceData,
  type ReadAck,
  type ResumeEntry,
  type Room,
  type SendAck,
  type Tokens,
  type User,
  type WireError,
} from './types.js';

/** The part of the WebSocket API (WHATWG, and the `ws` package) the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The part of `fetch` the client uses. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; text(): Promise<string> }>;

export interface VezaClientOptions {
  /** The server's base URL, `http://127.0.0.1:8080` (in a page: `location.origin`). */
  url: string;
  /** Default: `globalThis.WebSocket` (browsers). On Node 20: `import WebSocket from 'ws'`. */
  WebSocket?: WebSocketConstructor;
  /** Default: `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Sub-protocol: `json` (`veza.json`, default) or `msgpack` (`veza.msgpack`). */
  protocol?: 'json' | 'msgpack';
  /** Reconnection backoff: the n-th attempt waits a random time up to min(max, initial × 2^n). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** A request on the wire with no reply after this long is rejected with `timeout`. Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * An application `ping` this often while connected (default 20 s; 0: never). Without a reply
   * within `pingTimeoutMs` (default 10 s), the connection is taken as lost and replaced: this is
   * how a browser, which cannot see protocol pings, notices a dead network.
   */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** Refresh the access token before it expires (default true). */
  autoRefresh?: boolean;
}

export class VezaError extends Error implements WireError {
  readonly code: WireError['code'];
  readonly details?: WireError['details'];
  readonly retry_after_ms?: number;
  /** HTTP status, for REST calls. */
  readonly status?: number;

  constructor(error: WireError, status?: number) {
    super(error.message);
    this.name = 'VezaError';
    this.code = error.code;
    if (error.details !== undefined) this.details = error.details;
    if (error.retry_after_ms !== undefined) this.retry_after_ms = error.retry_after_ms;
    if (status !== undefined) this.status = status;
  }
}

type Handler<T> = (data: T) => void;
type Timer = ReturnType<typeof setTimeout>;

interface Pending {
  id: string;
  type: string;
  data: unknown;
  /** Sent again after a reconnect instead of being rejected (operations safe to repeat). */
  retry: boolean;
  sent: boolean;
  timer: Timer | undefined;
  resolve(data: any): void;
  reject(e: VezaError): void;
}

interface Conversation {
  /** The highest seq delivered; null until anchored (first event, join ack or follow()). */
  lastSeq: number | null;
  /** Events ahead of lastSeq + 1, by seq, held until the gap is filled. */
  held: Map<number, { type: string; data: any }>;
  /** A resume of it is in flight and its `resumed` marker has not come yet. */
  resuming: boolean;
  gapTimer: Timer | undefined;
}

const SEQUENCED = new Set<string>(SEQUENCED_EVENTS);
/** How long a gap in the live stream may stay open before the client resumes to fill it. */
const GAP_WAIT_MS = 1000;
const RESUME_BATCH = 200;
/** A `resume` refused without a `retry_after_ms` (no answer in time) is asked again after this long. */
const RESUME_RETRY_MS = 1000;
/** After a close for flooding (4429): the first reconnection waits 0.5..1 s, doubling each time up to this. */
const FLOOD_MAX_WAIT_MS = 30_000;
/** A connection that lasted this long before its 4429 starts the doubling again. */
const FLOOD_RESET_MS = 60_000;
/**
 * DMs a page when looking for those created while offline. Small: after most drops there are
 * none, and the first page's first item (at or below the mark) ends the search.
 */
const DM_PAGE = 20;

type StoredTokens = Tokens & { expires_at: number };

export class VezaClient {
  readonly #opts: Required<Omit<VezaClientOptions, 'reconnect' | 'WebSocket' | 'fetch'>> & {
    initialDelayMs: number;
    maxDelayMs: number;
  };
  readonly #WS: WebSocketConstructor | undefined;
  readonly #fetch: FetchLike;
  readonly #handlers = new Map<string, Set<Handler<any>>>();
  readonly #pending = new Map<string, Pending>();
  readonly #convs = new Map<number, Conversation>();

  #tokens: StoredTokens | null = null;
  #user: User | null = null;
  #sessionId: string | null = null;
  #authenticated: AuthenticatedData | null = null;
  #ws: WebSocketLike | null = null;
  #authed = false;
  #state: ConnectionState = 'idle';
  #attempt = 0;
  #nextId = 0;
  #reconnectTimer: Timer | undefined;
  #refreshTimer: Timer | undefined;
  #pingTimer: Timer | undefined;
  #refreshing: Promise<void> | null = null;
  #connectWaiters: { resolve(d: AuthenticatedData): void; reject(e: VezaError): void }[] = [];
  /** An #open is between its start and its socket (awaiting a refresh or the DM mark). */
  #opening = false;
  /**
   * The highest DM id this client knows of (null: not read yet): a DM above it was created while
   * the client could not hear its `dm_created`. Read once before the first socket opens
   * (`GET /dm?limit=1`), so that a DM created at any moment after the read is either announced to
   * an authenticated socket or above the mark; raised by each listing that succeeds, and by
   * `dm_created` while no listing is owed (#dmUnlisted).
   * The race it leaves: DM ids come from a sequence at insert, and two DMs created at the same
   * moment can commit out of id order. If the higher id commits, is seen (`dm_created` or a
   * listing) and the connection drops before the lower one commits, the lower one is below the
   * mark and its `dm_created` went to no socket: it is not found, and its first messages are
   * missed as before this mark existed (the next one sent while connected anchors it).
   */
  #dmMark: number | null = null;
  /**
   * From each socket's opening until a listing made for it succeeds: DMs created while offline
   * may lie above the mark, unfound. A `dm_created` then must not raise the mark past them (a
   * newer DM announced during a listing that fails or is dropped would hide them from the next
   * one, and a second `create_dm` of one of them would be taken for an old DM and followed from
   * its `last_seq`): the ids it announces wait in #dmAnnounced for the listing that succeeds.
   */
  #dmUnlisted = false;
  #dmAnnounced = 0;
  /** Bumped by each new socket: a DM listing made for an older one is stale. */
  #socketGen = 0;
  /**
   * From a socket's opening until its DM listing is done: the sequenced events of a conversation
   * not followed yet are held, not anchored, as it may be a DM created while offline whose earlier
   * events only a resume from 0 brings (anchored at its first live event, they would be skipped).
   */
  #discovering = false;
  /**
   * Conversations whose `resume` was refused as a whole (`rate_limited`: the user's `resume` budget
   * or a busy server; or no answer in time), to ask again when #resumeRetry fires. Until then no
   * other `resume` is sent on this socket (a gap's, a conflict's): they join this one.
   */
  readonly #resumeLater = new Set<number>();
  #resumeRetry: Timer | undefined;
  /** Consecutive closes for flooding (4429), and when the last connection was authenticated. */
  #floodCloses = 0;
  #authenticatedAt = 0;

  constructor(opts: VezaClientOptions) {
    this.#opts = {
      url: opts.url.replace(/\/+$/, ''),
      protocol: opts.protocol ?? 'json',
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      pingIntervalMs: opts.pingIntervalMs ?? 20_000,
      pingTimeoutMs: opts.pingTimeoutMs ?? 10_000,
      autoRefresh: opts.autoRefresh ?? true,
      initialDelayMs: opts.reconnect?.initialDelayMs ?? 500,
      maxDelayMs: opts.reconnect?.maxDelayMs ?? 15_000,
    };
    this.#WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (!f) throw new TypeError('VezaClient: no fetch; pass options.fetch');
    this.#fetch = f.bind(globalThis);
  }

  // ---------------------------------------------------------------- events

  /** Listen to a server event or a client event; returns a function that stops listening. */
  on<K extends keyof ClientEvents>(type: K, handler: Handler<ClientEvents[K]>): () => void {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => void set.delete(handler);
  }

  #emit<K extends keyof ClientEvents>(type: K, data: ClientEvents[K]): void {
    const set = this.#handlers.get(type);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(data);
      } catch (e) {
        // A failing handler must not stop the others or the client's own bookkeeping.
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  get state(): ConnectionState {
    return this.#state;
  }
  get user(): User | null {
    return this.#user;
  }
  get sessionId(): string | null {
    return this.#sessionId;
  }
  get tokens(): StoredTokens | null {
    return this.#tokens;
  }
  /** The last seq delivered per followed conversation (what the next `resume` sends). */
  positions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, c] of this.#convs) if (c.lastSeq !== null) out[String(id)] = c.lastSeq;
    return out;
  }

  // ---------------------------------------------------------------- REST and tokens

  async register(username: string, email: string, password: string): Promise<User> {
    const r = await this.#http<{ user: User }>('POST', '/auth/register', { username, email, password }, false);
    return r.user;
  }

  async login(username: string, password: string): Promise<User> {
    const r = await this.#http<Tokens & { user: User }>('POST', '/auth/login', { username, password }, false);
    this.#switchUser(r.user.id);
    this.#user = r.user;
    this.#setTokens(r);
    return r.user;
  }

  /** Restore a session from tokens kept by the application (the `tokens` event gives them). */
  useTokens(tokens: Tokens & { expires_at?: number }, user?: User): void {
    this.#switchUser(user?.id ?? jwtUserId(tokens.access_token));
    if (user) this.#user = user;
    this.#setTokens(tokens, tokens.expires_at);
  }

  /**
   * Tokens of another user than the one this client has followed conversations for: nothing of the
   * previous user's carries over. Their positions would be resumed as the new user's (a public
   * room the new user never joined replayed to them), and their DM mark would have the new user's
   * older DMs listed and replayed from 0 as if created while offline. The previous user's
   * connection, if any, is closed (its requests rejected with `closed`): connect() again.
   */
  #switchUser(id: number | null): void {
    const previous = this.#user?.id ?? this.#authenticated?.user.id;
    if (id === null || previous === undefined || previous === id) return;
    if (this.#state !== 'idle' && this.#state !== 'closed') this.close();
    for (const c of this.#convs.values()) clearTimeout(c.gapTimer);
    this.#convs.clear();
    this.#dmMark = null;
    this.#dmUnlisted = false;
    this.#dmAnnounced = 0;
    this.#discovering = false;
    this.#floodCloses = 0;
    this.#user = null;
    this.#authenticated = null;
    this.#sessionId = null;
  }

  /** Revoke the login and close the connection. */
  async logout(): Promise<void> {
    const refresh = this.#tokens?.refresh_token;
    this.close();
    this.#tokens = null;
    if (refresh) await this.#http('POST', '/auth/logout', { refresh_token: refresh }, false);
  }

  /** Get a fresh access token now (one refresh at a time, whoever asks). */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#doRefresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #doRefresh(): Promise<void> {
    const current = this.#tokens;
    if (!current) throw new VezaError({ code: 'unauthenticated', message: 'not logged in' });
    let r: Tokens;
    try {
      r = await this.#http<Tokens>('POST', '/auth/refresh', { refresh_token: current.refresh_token }, false);
    } catch (e) {
      if (e instanceof VezaError && e.code === 'unauthenticated') {
        this.#tokens = null;
        this.#emit('session_expired', { code: e.code, message: e.message });
        this.close();
      } else if (this.#opts.autoRefresh && this.#tokens === current) {
        // The server could not be reached: try again soon, the token may still be good.
        clearTimeout(this.#refreshTimer);
        this.#refreshTimer = setTimeout(() => void this.refresh().catch(() => {}), 2000);
      }
      throw e;
    }
    // Tokens replaced meanwhile (a login, useTokens, a logout): this pair is of a session no longer
    // used. (A 4401 close only marks the same tokens expired: that refresh is the one awaited.)
    if (this.#tokens?.refresh_token !== current.refresh_token) return;
    this.#setTokens(r);
    // Renew the open socket's authentication (docs/PROTOCOL.md, "Renewal").
    if (this.#authed) {
      this.#request<AuthenticatedData>('authenticate', { token: r.access_token }, false, true).catch(() => {
        // Refused: the socket closes when its old token expires, and the reconnect uses the new one.
      });
    }
  }

  #setTokens(t: Tokens, expiresAt?: number): void {
    const stored: StoredTokens = {
      access_token: t.access_token,
      refresh_token: t.refresh_token,
      expires_in: t.expires_in,
      expires_at: expiresAt ?? accessExpiry(t.access_token, t.expires_in),
    };
    this.#tokens = stored;
    this.#armRefresh();
    this.#emit('tokens', stored);
  }

  #armRefresh(): void {
    clearTimeout(this.#refreshTimer);
    const t = this.#tokens;
    if (!t || !this.#opts.autoRefresh || this.#state === 'closed') return;
    const wait = Math.max(0, t.expires_at - this.#margin(t) - Date.now());
    this.#refreshTimer = setTimeout(() => void this.refresh().catch(() => {}), wait);
  }

  /** Refresh this long before expiry: a quarter of the token's life, at most a minute. */
  #margin(t: StoredTokens): number {
    return Math.min(60_000, t.expires_in * 250);
  }

  /** A REST call under `/api/v1`, with the access token (refreshed once on a 401). */
  async rest<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.#http<T>(method, path, body, true);
  }

  async #http<T>(method: string, path: string, body: unknown, auth: boolean, retried = false): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth) {
      if (!this.#tokens) throw new VezaError({ code: 'unauthenticated', message: 'not logged in' });
      if (this.#tokens.expires_at - Date.now() < 1000) await this.refresh();
      headers['authorization'] = `Bearer ${this.#tokens!.access_token}`;
    }
    const res = await this.#fetch(`${this.#opts.url}/api/v1${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (res.status >= 200 && res.status < 300) return parsed as T;
    const error = (parsed as { error?: WireError } | undefined)?.error ?? { code: 'internal', message: `HTTP ${res.status}` };
    if (auth && res.status === 401 && !retried) {
      await this.refresh();
      return this.#http<T>(method, path, body, auth, true);
    }
    throw new VezaError(error, res.status);
  }

  listRooms(opts: { before?: number; limit?: number } = {}): Promise<{ rooms: Room[]; has_more: boolean; next_cursor: number | null }> {
    return this.rest('GET', `/rooms${query(opts)}`);
  }
  createRoom(room: { name: string; description?: string; is_public?: boolean; max_members?: number }): Promise<Room> {
    return this.rest('POST', '/rooms', room);
  }
  listDms(opts: { before?: number; limit?: number } = {}): Promise<{ conversations: DirectConversation[]; has_more: boolean; next_cursor: number | null }> {
    return this.rest('GET', `/dm${query(opts)}`);
  }
  members(roomId: number, opts: { before?: number; limit?: number } = {}): Promise<{ members: Member[]; has_more: boolean; next_cursor: number | null }> {
    return this.rest('GET', `/rooms/${roomId}/members${query(opts)}`);
  }
  getUser(id: number | 'me'): Promise<User> {
    return this.rest('GET', `/users/${id}`);
  }
  getMessage(id: number): Promise<Message> {
    return this.rest('GET', `/messages/${id}`);
  }
  thread(id: number, opts: { before?: number; after?: number; limit?: number } = {}): Promise<{ parent: Message; messages: Message[]; has_more: boolean; next_cursor: number | null }> {
    return this.rest('GET', `/messages/${id}/thread${query(opts)}`);
  }

  // ---------------------------------------------------------------- connection

  /** Open the connection (and keep it open, reconnecting, until close()). */
  connect(): Promise<AuthenticatedData> {
    if (!this.#tokens) return Promise.reject(new VezaError({ code: 'unauthenticated', message: 'log in first' }));
    const ready = new Promise<AuthenticatedData>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (this.#state === 'idle' || this.#state === 'closed') {
      this.#state = 'idle';
      this.#armRefresh();
      void this.#open();
    } else if (this.#state === 'open' && this.#authenticated) {
      this.#settleConnect();
    }
    return ready;
  }

  /** Close for good: no reconnection; requests still waiting are rejected with `closed`. */
  close(): void {
    this.#setState('closed');
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#pingTimer);
    const ws = this.#ws;
    this.#detach();
    ws?.close(1000);
    const closed = new VezaError({ code: 'closed', message: 'client closed' });
    for (const p of this.#pending.values()) this.#fail(p, closed);
    for (const w of this.#connectWaiters.splice(0)) w.reject(closed);
  }

  /**
   * Reconnect now rather than at the end of the backoff (a page calls this on `online`); when
   * connected, check the connection with a ping.
   */
  reconnectNow(): void {
    if (this.#state === 'reconnecting' && this.#ws === null) {
      clearTimeout(this.#reconnectTimer);
      void this.#open();
    } else if (this.#state === 'open') {
      this.#ping();
    }
  }

  /** A method, not a field read: the state changes across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #setState(state: ConnectionState, code?: number, reason?: string): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit('state', { state, attempt: this.#attempt, ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}) });
  }

  async #open(): Promise<void> {
    // One at a time: reconnectNow() during the awaits below would otherwise open a second socket.
    if (this.#state === 'closed' || this.#opening) return;
    this.#setState(this.#attempt === 0 ? 'connecting' : 'reconnecting');
    this.#opening = true;
    try {
      const t = this.#tokens;
      if (!t) throw new VezaError({ code: 'unauthenticated', message: 'not logged in' });
      // An access token about to expire is renewed before it is presented.
      if (t.expires_at - Date.now() < Math.min(this.#margin(t), 5000)) await this.refresh();
      // Before the socket, so that no DM can be created between the read and the socket unseen.
      if (this.#dmMark === null) await this.#readDmMark();
    } catch {
      if (!this.#isClosed()) this.#scheduleReconnect();
      return;
    } finally {
      this.#opening = false;
    }
    if (this.#isClosed()) return;
    if (!this.#WS) {
      const e = new VezaError({ code: 'closed', message: 'no WebSocket implementation: pass options.WebSocket' });
      for (const w of this.#connectWaiters.splice(0)) w.reject(e);
      this.close();
      return;
    }
    const wsUrl = `${this.#opts.url.replace(/^http/, 'ws')}/ws`;
    const ws = new this.#WS(wsUrl, this.#opts.protocol === 'msgpack' ? 'veza.msgpack' : 'veza.json');
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#authed = false;
    const gen = ++this.#socketGen;
    // Hold new conversations' events from the start: with a mark, this socket lists new DMs once
    // authenticated (#discoverDms); without one, there is nothing to find and nothing to hold.
    this.#discovering = this.#dmMark !== null;
    if (this.#discovering) this.#dmUnlisted = true;
    ws.onopen = () => {
      // Authenticate by the first frame: a page cannot set headers, and a token in the URL ends up
      // in logs (docs/PROTOCOL.md, "Authentication").
      this.#request<AuthenticatedData>('authenticate', { token: this.#tokens!.access_token }, false, true).then(
        (d) => this.#onAuthenticated(d, gen),
        () => {
          // The server closes with 4401 next; #onClose refreshes the token before the next try.
        },
      );
    };
    ws.onmessage = (ev) => this.#onFrame(ev.data);
    ws.onclose = (ev) => this.#onClose(ev.code, ev.reason);
    ws.onerror = () => {
      // A close event follows every error event.
    };
  }

  #onAuthenticated(d: AuthenticatedData, gen: number): void {
    this.#authed = true;
    this.#authenticated = d;
    this.#user = d.user;
    this.#sessionId = d.session_id;
    this.#attempt = 0;
    this.#authenticatedAt = Date.now();
    this.#setState('open');
    // Resume every followed conversation from its last seq, then send what waited for the socket.
    const anchored = [...this.#convs].filter(([, c]) => c.lastSeq !== null);
    for (let i = 0; i < anchored.length; i += RESUME_BATCH) this.#resume(anchored.slice(i, i + RESUME_BATCH).map(([id]) => id));
    for (const p of this.#pending.values()) if (!p.sent) this.#transmit(p);
    this.#schedulePing();
    if (this.#discovering) void this.#discoverDms(gen);
    this.#settleConnect();
  }

  #settleConnect(): void {
    const d = this.#authenticated!;
    for (const w of this.#connectWaiters.splice(0)) w.resolve(d);
  }

  #detach(): void {
    const ws = this.#ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    this.#ws = null;
    this.#authed = false;
  }

  #onClose(code: number, reason: string): void {
    this.#detach();
    clearTimeout(this.#pingTimer);
    // What was on the wire is sent again (with the same id, client_id) or rejected.
    const lost = new VezaError({ code: 'disconnected', message: `connection lost (${code}${reason ? ` ${reason}` : ''})` });
    for (const p of this.#pending.values()) {
      if (!p.sent) continue;
      if (p.retry) {
        p.sent = false;
        clearTimeout(p.timer);
        p.timer = undefined;
      } else this.#fail(p, lost);
    }
    clearTimeout(this.#resumeRetry);
    this.#resumeRetry = undefined;
    this.#resumeLater.clear();
    // Events held for a gap are replayed by the next resume: nothing to keep. Those of a
    // conversation not followed yet are kept for the DM listing that decides where it starts.
    for (const c of this.#convs.values()) {
      if (c.lastSeq !== null) c.held.clear();
      c.resuming = false;
      clearTimeout(c.gapTimer);
      c.gapTimer = undefined;
    }
    if (this.#state === 'closed') return;
    if (code === 4403) {
      // Banned from the server: the contract says not to reconnect (a refresh would be refused too).
      this.#emit('session_expired', { code: 'forbidden', message: reason || 'banned' });
      this.close();
      return;
    }
    if (code === 4401 && reason === 'logged out') {
      this.#emit('session_expired', { code: 'unauthenticated', message: 'logged out' });
      this.close();
      return;
    }
    if (code === 4401 && this.#tokens) {
      // Expired or refused token: present a fresh one next time.
      this.#tokens = { ...this.#tokens, expires_at: 0 };
    }
    this.#setState('reconnecting', code, reason);
    if (code === 4429) {
      // Closed for flooding (or over a connection cap). Back at once, with the requests that were
      // on the wire sent again into an empty budget, it was closed again within a second, over and
      // over (18 times in 3 s for 400 history requests made at once). So: 0.5..1 s, doubling with
      // each 4429 that follows, whatever the backoff options say.
      if (Date.now() - this.#authenticatedAt > FLOOD_RESET_MS) this.#floodCloses = 0;
      const cap = Math.min(FLOOD_MAX_WAIT_MS, 1000 * 2 ** Math.min(this.#floodCloses++, 15));
      this.#scheduleReconnect(cap / 2 + (Math.random() * cap) / 2);
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(wait?: number): void {
    clearTimeout(this.#reconnectTimer);
    const cap = Math.min(this.#opts.maxDelayMs, this.#opts.initialDelayMs * 2 ** Math.min(this.#attempt, 20));
    // "Full jitter": many clients dropped at once (a restart) do not come back at once.
    const delay = wait ?? (this.#attempt === 0 ? Math.random() * Math.min(cap, 250) : Math.random() * cap);
    this.#attempt++;
    this.#setState('reconnecting');
    this.#reconnectTimer = setTimeout(() => void this.#open(), delay);
  }

  #schedulePing(): void {
    clearTimeout(this.#pingTimer);
    if (this.#opts.pingIntervalMs > 0) this.#pingTimer = setTimeout(() => this.#ping(), this.#opts.pingIntervalMs);
  }

  #ping(): void {
    const ws = this.#ws;
    if (!ws || !this.#authed) return;
    clearTimeout(this.#pingTimer);
    const timer = setTimeout(() => {
      // No answer: the link is dead even if the socket does not know it yet.
      if (this.#ws !== ws) return;
      try {
        ws.close(4000, 'ping timeout');
      } catch {
        // already closing
      }
      this.#onClose(1006, 'ping timeout');
    }, this.#opts.pingTimeoutMs);
    this.#request('ping', undefined, false, true).then(
      () => {
        clearTimeout(timer);
        if (this.#ws === ws) this.#schedulePing();
      },
      () => clearTimeout(timer),
    );
  }

  // ---------------------------------------------------------------- frames

  #send(frame: { type: string; id?: string; data?: unknown }): void {
    const ws = this.#ws!;
    ws.send(this.#opts.protocol === 'msgpack' ? pack(frame) : JSON.stringify(frame));
  }

  #onFrame(raw: unknown): void {
    let frame: { type?: unknown; reply_to?: unknown; data?: any };
    try {
      if (typeof raw === 'string') frame = JSON.parse(raw);
      else if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) {
        const bytes = raw instanceof ArrayBuffer ? new Uint8Array(raw) : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
        frame = unpack(bytes) as typeof frame;
      } else return;
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    const type = frame.type;
    const data = frame.data ?? {};
    if (typeof frame.reply_to === 'string') {
      const p = this.#pending.get(frame.reply_to);
      if (p) {
        if (type === 'ack') this.#settle(p, data);
        else this.#fail(p, new VezaError(data as WireError));
        return;
      }
    }
    if (SEQUENCED.has(type)) return this.#sequenced(type, data);
    switch (type) {
      case 'resumed':
        return this.#resumed(data);
      case 'room_deleted':
        this.#forget(data.room_id);
        break;
      case 'dm_created':
        this.#dmCreated(data);
        break;
      case 'member_left':
        // Kicked or banned: the server unsubscribed every socket of ours, so resuming the room
        // would replay a room we are out of (a public one) or fail (a ban). A plain `left` of
        // another socket of ours leaves this one subscribed (docs/PROTOCOL.md, leave_room).
        if (data.user_id === this.#user?.id && data.reason !== 'left') this.#forget(data.room_id);
        break;
      case 'ack':
        return;
    }
    this.#emit(type as keyof ClientEvents, data);
  }

  // ---------------------------------------------------------------- requests

  #request<T>(type: string, data: unknown, retry: boolean, now = false): Promise<T> {
    if (this.#state === 'closed') return Promise.reject(new VezaError({ code: 'closed', message: 'client closed' }));
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { id: `r${++this.#nextId}`, type, data, retry, sent: false, timer: undefined, resolve, reject };
      this.#pending.set(p.id, p);
      // `now`: the authenticate and ping frames go on the socket as it is; the rest waits until
      // it is authenticated (and its resume sent).
      if ((now && this.#ws) || this.#authed) this.#transmit(p);
    });
  }

  #transmit(p: Pending): void {
    p.sent = true;
    clearTimeout(p.timer);
    p.timer = setTimeout(
      () => this.#fail(p, new VezaError({ code: 'timeout', message: `no reply to ${p.type} within ${this.#opts.requestTimeoutMs} ms` })),
      this.#opts.requestTimeoutMs,
    );
    this.#send(p.data === undefined ? { type: p.type, id: p.id } : { type: p.type, id: p.id, data: p.data });
  }

  #settle(p: Pending, data: unknown): void {
    clearTimeout(p.timer);
    this.#pending.delete(p.id);
    p.resolve(data);
  }

  #fail(p: Pending, e: VezaError): void {
    clearTimeout(p.timer);
    this.#pending.delete(p.id);
    p.reject(e);
  }

  /** Any operation of the contract, by name: resolves with `ack.data`, rejects with a VezaError. */
  request<T = unknown>(type: string, data?: Record<string, unknown>, opts: { retry?: boolean } = {}): Promise<T> {
    return this.#request<T>(type, data, opts.retry ?? false);
  }

  // ---------------------------------------------------------------- ordering and resume

  /**
   * Follow a conversation from `lastSeq` (what the application has shown): after every reconnect
   * it is resumed from there. A room joined with join(), a DM announced by `dm_created` or created
   * while offline, and any conversation whose events arrive, is followed already.
   */
  follow(conversationId: number, lastSeq: number): void {
    const c = this.#conv(conversationId);
    if (c.lastSeq === null || lastSeq > c.lastSeq) c.lastSeq = lastSeq;
    this.#drain(c);
  }

  /** Stop following (no more resume of it). */
  unfollow(conversationId: number): void {
    this.#forget(conversationId);
  }

  #forget(id: number): void {
    const c = this.#convs.get(id);
    if (c) clearTimeout(c.gapTimer);
    this.#convs.delete(id);
  }

  #conv(id: number): Conversation {
    let c = this.#convs.get(id);
    if (!c) this.#convs.set(id, (c = { lastSeq: null, held: new Map(), resuming: false, gapTimer: undefined }));
    return c;
  }

  #sequenced(type: string, data: any): void {
    const id = data?.conversation_id;
    const seq = data?.seq;
    if (typeof id !== 'number' || typeof seq !== 'number') return;
    const c = this.#conv(id);
    if (c.lastSeq === null) {
      // Not followed yet: while new DMs are being listed it may be one, to resume from 0.
      if (this.#discovering) {
        c.held.set(seq, { type, data });
        return;
      }
      // Otherwise (an older DM the application did not follow) it starts at the first event seen.
      c.lastSeq = seq - 1;
    }
    if (seq <= c.lastSeq) return; // already delivered
    if (c.resuming || seq !== c.lastSeq + 1) {
      c.held.set(seq, { type, data });
      if (!c.resuming && c.gapTimer === undefined) {
        // A hole in the live stream (events skipped for a slow socket): resume fills it.
        c.gapTimer = setTimeout(() => {
          c.gapTimer = undefined;
          if (c.held.size > 0 && !c.resuming && this.#authed) this.#resume([id]);
        }, GAP_WAIT_MS);
      }
      return;
    }
    c.lastSeq = seq;
    this.#emit(type as keyof ClientEvents, data);
    this.#drain(c);
  }

  #drain(c: Conversation): void {
    if (c.resuming || c.lastSeq === null) return;
    for (const seq of [...c.held.keys()]) if (seq <= c.lastSeq) c.held.delete(seq);
    let next = c.held.get(c.lastSeq + 1);
    while (next) {
      c.held.delete(c.lastSeq + 1);
      c.lastSeq += 1;
      this.#emit(next.type as keyof ClientEvents, next.data);
      next = c.held.get(c.lastSeq + 1);
    }
    if (c.held.size === 0) {
      clearTimeout(c.gapTimer);
      c.gapTimer = undefined;
    }
  }

  /** Follow a conversation from `lastSeq`; events held beyond a hole get a resume to fill it. */
  #anchor(id: number, c: Conversation, lastSeq: number, resume = false): void {
    c.lastSeq = lastSeq;
    this.#drain(c);
    if ((resume || c.held.size > 0) && this.#authed) this.#resume([id]);
  }

  #dmCreated(d: Partial<DmAck> | undefined): void {
    const id = d?.conversation_id;
    if (typeof id !== 'number') return;
    const mark = this.#dmMark;
    if (mark !== null) {
      if (this.#dmUnlisted) this.#dmAnnounced = Math.max(this.#dmAnnounced, id);
      else this.#dmMark = Math.max(mark, id);
    }
    const c = this.#convs.get(id);
    // A server without `last_seq` (older than this client): anchored at its first event, as before.
    if ((c && c.lastSeq !== null) || typeof d?.last_seq !== 'number') return;
    // Above the mark and not followed: created while offline (this is a second create_dm for it),
    // so all of it is new to the application. Otherwise from the event's position, or from the
    // first event held while new DMs were being listed, if lower (those would have been delivered).
    let from = mark !== null && id > mark ? 0 : d.last_seq;
    if (c && c.held.size > 0) from = Math.min(from, Math.min(...c.held.keys()) - 1);
    this.#anchor(id, c ?? this.#conv(id), from, from < d.last_seq);
  }

  /** The mark: the newest DM's id (0: none yet). Left null when the read fails (tried again at the next open). */
  async #readDmMark(): Promise<void> {
    try {
      const page = await this.#bounded(this.listDms({ limit: 1 }));
      this.#dmMark = Math.max(this.#dmMark ?? 0, page.conversations[0]?.conversation_id ?? 0);
    } catch {
      // Without a mark nothing is looked for: DMs created offline are missed as they were before it.
    }
  }

  /**
   * After an authentication: the DMs above the mark (created while this client was offline, so
   * never announced to it) are followed from 0 and resumed, which replays them (or says `gap` for
   * what cannot be). Then the conversations held meanwhile that are not among them start at their
   * first held event, as they would have without the listing. A failed listing finds nothing and
   * leaves the mark where it was (the next authentication lists from there); the hold ends, and a
   * held conversation above the mark, a DM created while offline or since, starts at 0 as
   * `dm_created` would have it start.
   */
  async #discoverDms(gen: number): Promise<void> {
    const mark = this.#dmMark;
    let found: number[] | null = [];
    let top = mark ?? 0;
    if (mark !== null) {
      try {
        let before: number | undefined;
        for (;;) {
          const page = await this.#bounded(this.listDms(before === undefined ? { limit: DM_PAGE } : { limit: DM_PAGE, before }));
          const above = page.conversations.filter((d) => d.conversation_id > mark);
          for (const d of above) {
            found.push(d.conversation_id);
            top = Math.max(top, d.conversation_id);
          }
          // Newest first: an item at or below the mark ends the search.
          if (above.length < page.conversations.length || !page.has_more || page.next_cursor === null) break;
          before = page.next_cursor;
        }
      } catch {
        found = null;
      }
    }
    // A newer socket lists again (it holds until then); a closed client has nothing to deliver.
    if (gen !== this.#socketGen || this.#isClosed()) return;
    this.#discovering = false;
    const fresh: number[] = [];
    if (found) {
      this.#dmMark = Math.max(this.#dmMark ?? 0, top, this.#dmAnnounced);
      this.#dmUnlisted = false;
      this.#dmAnnounced = 0;
      for (const id of found) {
        const c = this.#conv(id);
        if (c.lastSeq === null) {
          c.lastSeq = 0;
          fresh.push(id);
        }
      }
    }
    for (const [id, c] of this.#convs) {
      if (c.lastSeq !== null || c.held.size === 0) continue;
      const first = Math.min(...c.held.keys()) - 1;
      if (found === null && mark !== null && id > mark) this.#anchor(id, c, 0, first > 0);
      else this.#anchor(id, c, first);
    }
    // Resumed from 0: events held meanwhile wait for the replay (`resuming`), which has them too.
    // Not connected any more: the next authentication resumes them with the rest.
    if (this.#authed) for (let i = 0; i < fresh.length; i += RESUME_BATCH) this.#resume(fresh.slice(i, i + RESUME_BATCH));
  }

  /** `p`, or a `timeout` rejection after requestTimeoutMs (fetch has no timeout of its own). */
  #bounded<T>(p: Promise<T>): Promise<T> {
    let timer: Timer | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new VezaError({ code: 'timeout', message: `no answer within ${this.#opts.requestTimeoutMs} ms` })), this.#opts.requestTimeoutMs);
    });
    return Promise.race([p, limit]).finally(() => clearTimeout(timer));
  }

  #resume(ids: number[]): void {
    if (this.#resumeRetry !== undefined) {
      for (const id of ids) this.#resumeLater.add(id);
      return;
    }
    const ws = this.#ws;
    const positions: Record<string, number> = {};
    for (const id of ids) {
      const c = this.#convs.get(id);
      if (!c || c.lastSeq === null || c.resuming) continue;
      c.resuming = true;
      positions[String(id)] = c.lastSeq;
    }
    if (Object.keys(positions).length === 0) return;
    this.#request<{ conversations: ResumeEntry[] }>('resume', { positions }, false).then(
      (ack) => {
        for (const entry of ack.conversations) {
          if (!('error' in entry)) continue;
          const c = this.#convs.get(entry.conversation_id);
          if (!c) continue;
          c.resuming = false;
          if (entry.error === 'conflict') setTimeout(() => this.#authed && this.#resume([entry.conversation_id]), 500);
          else this.#forget(entry.conversation_id); // gone (deleted room) or no longer readable
        }
      },
      (e: unknown) => {
        for (const id of Object.keys(positions)) {
          const c = this.#convs.get(Number(id));
          if (c) c.resuming = false;
        }
        // The socket dropped: the next authentication resumes every followed conversation.
        const code = e instanceof VezaError ? e.code : 'internal';
        if (code === 'disconnected' || code === 'closed' || this.#ws !== ws || !this.#authed) return;
        // Refused as a whole: none of these was replayed, and a room's socket was not subscribed
        // again, so nothing more of it would come, not even a gap. Ask again when the server says.
        for (const id of Object.keys(positions)) this.#resumeLater.add(Number(id));
        const wait = e instanceof VezaError && e.retry_after_ms !== undefined ? e.retry_after_ms : RESUME_RETRY_MS;
        this.#resumeRetry ??= setTimeout(() => this.#resumeAgain(ws), Math.max(wait, 50));
      },
    );
  }

  #resumeAgain(ws: WebSocketLike | null): void {
    this.#resumeRetry = undefined;
    const ids = [...this.#resumeLater].filter((id) => this.#convs.has(id));
    this.#resumeLater.clear();
    if (this.#ws !== ws || !this.#authed) return;
    for (let i = 0; i < ids.length; i += RESUME_BATCH) this.#resume(ids.slice(i, i + RESUME_BATCH));
  }

  #resumed(d: ClientEvents['resumed']): void {
    const c = this.#conv(d.conversation_id);
    c.resuming = false;
    if (!d.recovered) {
      // What lies between our position and to_seq cannot be replayed: say so, and go on from there.
      const from = (c.lastSeq ?? 0) + 1;
      if (d.to_seq >= from) this.#emit('gap', { conversation_id: d.conversation_id, from_seq: from, to_seq: d.to_seq });
      c.lastSeq = Math.max(c.lastSeq ?? 0, d.to_seq);
    } else if (c.lastSeq === null) {
      c.lastSeq = d.from_seq - 1;
    }
    this.#emit('resumed', d);
    // The replay follows in order; events held meanwhile are delivered once it reaches them.
    this.#drain(c);
  }

  // ---------------------------------------------------------------- operations

  /** Join a room and follow it: its live events from the join's `last_seq` on. */
  async join(roomId: number): Promise<JoinAck> {
    const ack = await this.#request<JoinAck>('join_room', { room_id: roomId }, true);
    const c = this.#conv(roomId);
    if (c.lastSeq === null) c.lastSeq = ack.last_seq;
    this.#drain(c);
    return ack;
  }

  async leave(roomId: number): Promise<{ room_id: number }> {
    const ack = await this.#request<{ room_id: number }>('leave_room', { room_id: roomId }, true);
    this.#forget(roomId);
    return ack;
  }

  /**
   * Post to a room. The message gets a `client_id` (or the one given), sent again unchanged if the
   * connection drops before the ack: the server stores it once.
   */
  sendMessage(roomId: number, content: string, opts: SendOptions = {}): Promise<SendAck> {
    return this.#request<SendAck>('send_message', { room_id: roomId, content, ...sendFields(opts) }, true);
  }

  sendDm(conversationId: number, content: string, opts: SendOptions = {}): Promise<SendAck> {
    return this.#request<SendAck>('send_dm', { conversation_id: conversationId, content, ...sendFields(opts) }, true);
  }

  async createDm(userId: number): Promise<DmAck> {
    return this.#request<DmAck>('create_dm', { user_id: userId }, true);
  }

  fetchHistory(conversationId: number, opts: { before?: number; after?: number; limit?: number } = {}): Promise<HistoryPage> {
    return this.#request<HistoryPage>('fetch_history', { conversation_id: conversationId, ...opts }, true);
  }

  editMessage(messageId: number, content: string): Promise<ChangeAck> {
    return this.#request<ChangeAck>('edit_message', { message_id: messageId, content }, false);
  }
  deleteMessage(messageId: number): Promise<ChangeAck> {
    return this.#request<ChangeAck>('delete_message', { message_id: messageId }, false);
  }
  /** Reactions are safe to repeat (a second add changes nothing), so they are retried. */
  addReaction(messageId: number, emoji: string): Promise<ChangeAck> {
    return this.#request<ChangeAck>('add_reaction', { message_id: messageId, emoji }, true);
  }
  removeReaction(messageId: number, emoji: string): Promise<ChangeAck> {
    return this.#request<ChangeAck>('remove_reaction', { message_id: messageId, emoji }, true);
  }
  pinMessage(roomId: number, messageId: number): Promise<ChangeAck> {
    return this.#request<ChangeAck>('pin_message', { room_id: roomId, message_id: messageId }, true);
  }
  unpinMessage(roomId: number, messageId: number): Promise<ChangeAck> {
    return this.#request<ChangeAck>('unpin_message', { room_id: roomId, message_id: messageId }, true);
  }
  markRead(conversationId: number, messageId: number): Promise<ReadAck> {
    return this.#request<ReadAck>('mark_read', { conversation_id: conversationId, message_id: messageId }, true);
  }
  /** Typing is momentary: not retried after a drop. */
  typing(conversationId: number, state: 'start' | 'stop'): Promise<Record<string, never>> {
    return this.#request('typing', { conversation_id: conversationId, state }, false);
  }
  setPresence(status: 'online' | 'away'): Promise<PresenceData> {
    return this.#request<PresenceData>('set_presence', { status }, true);
  }
}

export interface SendOptions {
  /** Reply to this message (a thread). */
  parentId?: number;
  metadata?: Record<string, unknown>;
  /** The idempotency key; a new UUID when absent. */
  clientId?: string;
}

function sendFields(opts: SendOptions): Record<string, unknown> {
  return {
    client_id: opts.clientId ?? uuid(),
    ...(opts.parentId !== undefined ? { parent_id: opts.parentId } : {}),
    ...(opts.metadata !== undefined ? { metadata: opts.metadata } : {}),
  };
}

function query(params: Record<string, number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** A v4 UUID; `crypto.randomUUID` exists only in secure contexts, getRandomValues everywhere. */
export function uuid(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues<T extends Uint8Array>(a: T): T } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  if (!c) throw new Error('VezaClient: no crypto.getRandomValues for client ids');
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * When an access token stops working, by this clock. The server's `exp` is a whole second counted
 * from an `iat` rounded down, so the token may die up to a second before `expires_in` says; and a
 * pair answered again within the refresh grace window was issued earlier still. So: the lifetime
 * less that second, or the token's own `exp` when that is sooner (a clock behind the server's
 * makes `exp` look later, and the lifetime wins). Refreshing on `expires_in` alone let 3 s tokens
 * expire before their renewal reached the server (test/client-live.ts, now and then).
 */
function accessExpiry(token: string, expiresIn: number): number {
  const now = Date.now();
  let at = now + Math.max(0, expiresIn - 1) * 1000;
  const exp = jwtExp(token);
  if (exp !== null && exp * 1000 < at) at = Math.max(now, exp * 1000);
  return at;
}

/** The `exp` claim of a JWT, unverified (the server verifies; this only times the refresh). */
function jwtExp(token: string): number | null {
  const exp = jwtClaims(token)?.exp;
  return typeof exp === 'number' ? exp : null;
}

/** The `user_id` claim of a JWT, unverified (only to tell whose tokens the application gave). */
function jwtUserId(token: string): number | null {
  const id = jwtClaims(token)?.user_id;
  return typeof id === 'number' ? id : null;
}

function jwtClaims(token: string): Record<string, unknown> | null {
  const payload = token.split('.')[1];
  if (payload === undefined) return null;
  try {
    const claims: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    return claims !== null && typeof claims === 'object' ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
