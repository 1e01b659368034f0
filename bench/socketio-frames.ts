/**
 * The bench's Socket.IO wire (wire.ts): Engine.IO v4 and Socket.IO v5 packets over the
 * websocket transport, written and read here. socket.io-client is not a dependency: its
 * per-message cost (an emitter per socket, a decoder object per packet, reconnection machinery)
 * would land in the load generator, which the bench's own client exists to keep lean.
 *
 * Engine.IO, one packet per WebSocket text frame on this transport (`GET /socket.io/?EIO=4&
 * transport=websocket`): `0` open, with the handshake as JSON (`sid`, `pingInterval`,
 * `pingTimeout`, `maxPayload`); `1` close; `2` ping, which the client answers with `3` pong
 * (same payload) within `pingTimeout` or the server drops it; `4` message; `6` noop.
 *
 * Socket.IO, inside an Engine.IO message: `<type>[<namespace>,][<ack id>][<JSON>]`, type
 * 0 CONNECT (client `40` or `40{auth}`, server `40{"sid":...}`), 1 DISCONNECT, 2 EVENT
 * (`42["name",arg]`; `42<id>[...]` asks for an ack), 3 ACK (`43<id>[args]`), 4 CONNECT_ERROR,
 * 5/6 binary event/ack (their attachments come as binary frames; never used here, refused).
 * Only the default namespace `/` is spoken.
 *
 * The bench's operations map onto events with acks, as the reference server
 * (socketio-server.ts) expects: operation `type` with `data` and a request id is the event
 * `type` with `data` and an ack id; the ack's first argument is the reply's data, or
 * `{ "error": { code, message } }`. The token goes in the connect packet's auth payload
 * (`40{"token":...}`), Socket.IO's place for it. A `message` event carries PROTOCOL.md's
 * message object, like veza's `message` envelope, so latency comes from the same content marker.
 *
 * Ack ids are integers. A bench send's id `s<sent µs>` becomes `<sent µs>0` (×10, last digit 0)
 * so its ack gives the round trip without a lookup, as veza's `reply_to` does; any other id
 * (`j<room>`, `d1`...) becomes `<k>1`, k indexing a per-thread table of such ids. The last digit
 * tells the two apart, whatever the clock reads.
 */
import type { SendKind } from './cohort-messages.js';
import { KIND_ACK, KIND_MESSAGE, KIND_OTHER, MARK, MarkReader, startsWith, type Envelope } from './frames.js';
import type { Decoded, Wire, WireConn } from './wire.js';
import type { WsConnection } from './ws-client.js';

/** The path and query of the websocket transport (Engine.IO v4, no polling first). */
export const SOCKETIO_PATH = '/socket.io/?EIO=4&transport=websocket';

/* ---------- packets ---------- */

/** A received packet, decoded and checked. */
export type SioPacket =
  | { type: 'open'; sid: string; pingInterval: number; pingTimeout: number; maxPayload: number | null }
  | { type: 'close' }
  | { type: 'ping'; data: string }
  | { type: 'pong'; data: string }
  | { type: 'noop' }
  | { type: 'connect'; sid: string }
  | { type: 'disconnect' }
  | { type: 'connect_error'; message: string }
  | { type: 'event'; id: number | null; name: string; args: unknown[] }
  | { type: 'ack'; id: number; args: unknown[] };

/** Why a packet was refused; `reason` is a stable key (counted as `sio:<reason>`). */
export interface SioInvalid {
  type: 'invalid';
  reason: SioInvalidReason;
  detail: string;
}

export type SioInvalidReason =
  /** Empty, or an Engine.IO or Socket.IO type we do not know. */
  | 'invalid_packet'
  /** The JSON after the header does not parse, or is not what the packet type carries. */
  | 'invalid_payload'
  /** A namespace other than `/`. */
  | 'namespace'
  /** Socket.IO binary event or ack (attachments), or a binary WebSocket frame. */
  | 'binary_unsupported';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const invalid = (reason: SioInvalidReason, detail: string): SioInvalid => ({ type: 'invalid', reason, detail });
const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Decode one Engine.IO packet (one text frame of the websocket transport). Never throws. */
export function parsePacket(text: string): SioPacket | SioInvalid {
  switch (text.charAt(0)) {
    case '0': {
      const v = parseJson(text.slice(1));
      if (!isObject(v) || typeof v.sid !== 'string' || v.sid === '' || !positive(v.pingInterval) || !positive(v.pingTimeout)) {
        return invalid('invalid_payload', 'open packet without sid, pingInterval and pingTimeout');
      }
      return { type: 'open', sid: v.sid, pingInterval: v.pingInterval, pingTimeout: v.pingTimeout, maxPayload: positive(v.maxPayload) ? v.maxPayload : null };
    }
    case '1':
      return { type: 'close' };
    case '2':
      return { type: 'ping', data: text.slice(1) };
    case '3':
      return { type: 'pong', data: text.slice(1) };
    case '4':
      return parseSocketPacket(text);
    case '6':
      return { type: 'noop' };
    default:
      return invalid('invalid_packet', `Engine.IO packet type ${JSON.stringify(text.charAt(0))}`);
  }
}

/** The Socket.IO packet inside an Engine.IO message (`text` starts with `4`). */
function parseSocketPacket(text: string): SioPacket | SioInvalid {
  const t = text.charAt(1);
  if (t === '5' || t === '6') return invalid('binary_unsupported', 'a binary event or ack (attachments)');
  if (t < '0' || t > '4' || t === '') return invalid('invalid_packet', `Socket.IO packet type ${JSON.stringify(t)}`);
  let i = 2;
  if (text.charAt(i) === '/') {
    const comma = text.indexOf(',', i);
    const nsp = comma < 0 ? text.slice(i) : text.slice(i, comma);
    if (nsp !== '/') return invalid('namespace', `namespace ${JSON.stringify(nsp.slice(0, 40))}`);
    i = comma < 0 ? text.length : comma + 1;
  }
  let id: number | null = null;
  const digitsFrom = i;
  while (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
  if (i > digitsFrom) {
    id = Number(text.slice(digitsFrom, i));
    if (!Number.isSafeInteger(id)) return invalid('invalid_packet', 'an ack id beyond 2^53');
  }
  const rest = text.slice(i);
  const payload = rest === '' ? undefined : parseJson(rest);
  if (payload === BAD_JSON) return invalid('invalid_payload', 'payload is not JSON');
  switch (t) {
    case '0':
      if (!isObject(payload) || typeof payload.sid !== 'string' || payload.sid === '') return invalid('invalid_payload', 'connect without a sid');
      return { type: 'connect', sid: payload.sid };
    case '1':
      return payload === undefined ? { type: 'disconnect' } : invalid('invalid_payload', 'disconnect with a payload');
    case '2':
      if (!Array.isArray(payload) || typeof payload[0] !== 'string') return invalid('invalid_payload', 'event without a name');
      return { type: 'event', id, name: payload[0], args: payload.slice(1) };
    case '3':
      if (id === null || !Array.isArray(payload)) return invalid('invalid_payload', 'ack without an id or arguments');
      return { type: 'ack', id, args: payload };
    default: {
      // CONNECT_ERROR: `{ message, data? }` from socket.io 3+, a bare string from older servers.
      const message = isObject(payload) && typeof payload.message === 'string' ? payload.message : typeof payload === 'string' ? payload : null;
      return message === null ? invalid('invalid_payload', 'connect_error without a message') : { type: 'connect_error', message };
    }
  }
}

const BAD_JSON: unique symbol = Symbol('bad JSON');
function parseJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    // The caller turns this into an `invalid_payload` naming the packet.
    return BAD_JSON;
  }
}

/** The connect packet for the default namespace, with the auth payload when there is one. */
function connectFrame(auth?: Record<string, unknown>): string {
  return auth === undefined ? '40' : `40${JSON.stringify(auth)}`;
}

/** An event, asking for an ack when `ackId` is given. */
function eventFrame(name: string, data: unknown, ackId?: number): string {
  return `42${ackId ?? ''}${JSON.stringify([name, data])}`;
}

/* ---------- ack ids ---------- */

/**
 * Request ids ↔ Socket.IO ack ids (see the file comment). One per thread: the same id means the
 * same thing on every connection (`j5`: the join of room 5), and each connection keeps its own
 * waiters by id.
 */
export class AckIds {
  readonly #ids = new Map<string, number>();
  readonly #keys: string[] = [];

  /** The ack id of request id `key`. */
  idOf(key: string): number {
    if (key.charCodeAt(0) === 0x73 /* s */ && /^s\d{1,16}$/.test(key)) {
      const id = Number(key.slice(1)) * 10;
      // Beyond 2^53 (a clock no machine reaches) the table below keeps the id exact instead.
      if (Number.isSafeInteger(id)) return id;
    }
    let k = this.#ids.get(key);
    if (k === undefined) {
      k = this.#keys.length;
      this.#keys.push(key);
      this.#ids.set(key, k);
    }
    return k * 10 + 1;
  }

  /** The request id of ack id `id`, or null when this thread never asked for it. */
  keyOf(id: number): string | null {
    const tag = id % 10;
    if (tag === 0) return `s${(id - tag) / 10}`;
    if (tag === 1) return this.#keys[(id - 1) / 10] ?? null;
    return null;
  }
}

/* ---------- the fast path ---------- */

const MESSAGE_PREFIX = Buffer.from('42["message",');
const MARK_BUF = Buffer.from(MARK);
const ERROR_ARGS = Buffer.from('[{"error"');

/**
 * `42["message",{...content:"~b:..."}]` → KIND_MESSAGE; `43<µs>0[...]`, not an error, → KIND_ACK.
 * Allocates nothing.
 */
export class SioReader extends MarkReader {
  read(buf: Buffer): number {
    if (startsWith(buf, MESSAGE_PREFIX, 0)) {
      const at = buf.indexOf(MARK_BUF, MESSAGE_PREFIX.length);
      return at >= 0 && this.parseMark(buf, at + MARK_BUF.length) ? KIND_MESSAGE : KIND_OTHER;
    }
    if (buf[0] === 0x34 && buf[1] === 0x33) {
      const end = this.readUint(buf, 2);
      if (end < 0 || this.uint % 10 !== 0 || buf[end] !== 0x5b /* [ */ || startsWith(buf, ERROR_ARGS, end)) return KIND_OTHER;
      this.sentUs = this.uint / 10;
      return KIND_ACK;
    }
    return KIND_OTHER;
  }
}

/* ---------- one connection ---------- */

type Phase = 'wait_open' | 'wait_connect' | 'connected' | 'failed';

/**
 * A connection's Engine.IO / Socket.IO state: answers the open packet with the namespace connect
 * (auth payload included), pings with pongs, and turns events and acks into the envelopes the
 * cohort knows.
 */
export class SioConn implements WireConn {
  readonly #acks: AckIds;
  readonly #auth: Record<string, unknown> | undefined;
  #ws: WsConnection | null = null;
  #phase: Phase = 'wait_open';
  /** Why the handshake failed (phase `failed`). */
  #failure = '';
  #onReady: ((err: string | null) => void) | null = null;
  /** From the open packet. */
  pingInterval = 0;
  pingTimeout = 0;
  /** Engine.IO's session id (open packet) and Socket.IO's (connect ack). */
  engineSid = '';
  socketSid = '';

  constructor(acks: AckIds, token: string | undefined) {
    this.#acks = acks;
    this.#auth = token === undefined ? undefined : { token };
  }

  get connected(): boolean {
    return this.#phase === 'connected';
  }

  opened(ws: WsConnection): void {
    this.#ws = ws;
  }

  ready(timeoutMs: number): Promise<string | null> {
    if (this.#phase === 'connected') return Promise.resolve(null);
    if (this.#phase === 'failed') return Promise.resolve(this.#failure);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#fail('sio:connect_timeout'), timeoutMs);
      // A second waiter (none in the cohort, but nothing forbids it) is answered with the first.
      const earlier = this.#onReady;
      this.#onReady = (err) => {
        earlier?.(err);
        clearTimeout(timer);
        resolve(err);
      };
    });
  }

  /** The socket closed: a handshake still waiting will not complete. */
  closed(code: number): void {
    if (this.#phase === 'wait_open' || this.#phase === 'wait_connect') this.#fail(`sio:closed_before_connect:${code}`);
  }

  decode(buf: Buffer, isBinary: boolean): Decoded {
    if (isBinary) return { kind: 'invalid', key: 'sio:binary_unsupported' };
    const p = parsePacket(buf.toString('utf8'));
    switch (p.type) {
      case 'invalid':
        // During the handshake a malformed packet fails it: `ready` reports the key (once).
        if (this.#phase === 'wait_open' || this.#phase === 'wait_connect') {
          this.#fail(`sio:${p.reason}`);
          return NONE;
        }
        return { kind: 'invalid', key: `sio:${p.reason}` };
      case 'open':
        if (this.#phase !== 'wait_open') return { kind: 'invalid', key: 'sio:unexpected_open' };
        this.engineSid = p.sid;
        this.pingInterval = p.pingInterval;
        this.pingTimeout = p.pingTimeout;
        this.#phase = 'wait_connect';
        this.#send(connectFrame(this.#auth));
        return NONE;
      case 'ping':
        // The server drops a client that has not answered within pingTimeout.
        this.#send(`3${p.data}`);
        return NONE;
      case 'pong':
      case 'noop':
      case 'close':
        // close: the WebSocket close follows, and the cohort counts it there.
        return NONE;
      case 'connect':
        if (this.#phase !== 'wait_connect') return { kind: 'invalid', key: 'sio:unexpected_connect' };
        this.socketSid = p.sid;
        this.#phase = 'connected';
        this.#settle(null);
        return NONE;
      case 'connect_error':
        if (this.#phase === 'wait_connect') {
          this.#fail('sio:connect_error');
          return NONE;
        }
        return { kind: 'invalid', key: 'sio:unexpected_connect_error' };
      case 'disconnect':
        // The server removed us from the namespace: an error nobody asked for, counted as such.
        return envelope({ type: 'error', data: { code: 'sio_disconnect', message: 'the server disconnected the namespace' } });
      case 'event':
        return envelope({ type: p.name, data: isObject(p.args[0]) ? p.args[0] : {} });
      case 'ack': {
        const key = this.#acks.keyOf(p.id);
        if (key === null) return { kind: 'invalid', key: 'sio:unknown_ack' };
        const reply = p.args[0];
        if (isObject(reply) && isObject(reply.error)) return envelope({ type: 'error', reply_to: key, data: reply.error });
        return envelope({ type: 'ack', reply_to: key, data: isObject(reply) ? reply : {} });
      }
    }
  }

  #send(frame: string): void {
    // Nothing is received before `opened` (WsConnectOptions.onOpen), so #ws is set here.
    this.#ws?.send(frame);
  }

  #fail(key: string): void {
    if (this.#phase === 'connected' || this.#phase === 'failed') return;
    this.#phase = 'failed';
    this.#failure = key;
    this.#settle(key);
  }

  #settle(err: string | null): void {
    const done = this.#onReady;
    this.#onReady = null;
    done?.(err);
  }
}

const NONE: Decoded = { kind: 'none' };
const envelope = (env: Envelope): Decoded => ({ kind: 'envelope', env });

/* ---------- the wire ---------- */

/** Socket.IO's wire (wire.ts); one per cohort thread. */
export class SocketIoWire implements Wire {
  readonly name = 'socketio';
  /** Socket.IO offers no sub-protocol. */
  readonly protocols: readonly string[] = [];
  readonly tokenInConnect = true;
  readonly reader = new SioReader();
  readonly acks = new AckIds();

  op(type: string, data: Record<string, unknown>, id?: string): string {
    return eventFrame(type, data, id === undefined ? undefined : this.acks.idOf(id));
  }

  message(kind: SendKind, target: number, content: string, id?: string, clientId?: string): string {
    const ack = id === undefined ? '' : this.acks.idOf(id);
    // The content holds only [~:0-9bx] and a client id only [0-9a-f-]: no JSON escaping needed (as frames.ts).
    const cid = clientId === undefined ? '' : `,"client_id":"${clientId}"`;
    return kind === 'dm'
      ? `42${ack}["send_dm",{"conversation_id":${target},"content":"${content}"${cid}}]`
      : `42${ack}["send_message",{"room_id":${target},"content":"${content}"${cid}}]`;
  }

  conn(token: string | undefined): SioConn {
    return new SioConn(this.acks, token);
  }
}
