/**
 * The reference server: plain uWebSockets.js pub/sub speaking veza-chat's frames, with no auth,
 * no storage and no validation beyond what routing needs. What the bench measures on it is the
 * ceiling for one thread of uWS on this machine (pub/sub is per App, so it is one thread by
 * design); the real server's figures are read against it.
 *
 * - `GET /ws`, sub-protocols `veza.json` (text) and `veza.msgpack` (binary); a token in the
 *   header or the query is accepted and ignored. Each connection gets an author id of its own.
 * - `join_room` → subscribe `r:<room_id>` (`m:<room_id>` for MessagePack), reply `joined`.
 * - `send_message` → publish a `message` event with PROTOCOL.md's message object and the room's
 *   next `seq` to the whole room, sender included; `ack` the sender when the frame had an `id`.
 * - `leave_room`, `ping`, `authenticate` answered trivially; anything else is an `error`.
 * - `GET /health` → ok, `GET /stats` → counters as JSON.
 *
 * Run it in its own process (`spawnBaseline`, or `node baseline-main.js --port N`) so its CPU is
 * read from /proc apart from the load generator's.
 */
import { pack, unpack } from 'msgpackr';
import type { HttpRequest, HttpResponse, WebSocket, us_listen_socket, us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import { uws as loadUws, type App as UwsApp } from '../src/net/uws.js';
import { siblingEntry, spawnChildServer, type ChildServer } from './child-server.js';
import { referenceMessage } from './reference-message.js';

const SUBPROTOCOLS = ['veza.json', 'veza.msgpack'] as const;
type Subprotocol = (typeof SUBPROTOCOLS)[number];

export interface BaselineOptions {
  port?: number;
  host?: string;
  /** uWS idleTimeout in seconds (pings are sent automatically before it). Default 120. */
  idleTimeoutS?: number;
  /**
   * Per-socket backpressure before uWS skips a subscriber. Large by default: a bench must see a
   * slow receiver as latency, not as silently dropped deliveries. Default 64 MiB.
   */
  maxBackpressure?: number;
  maxPayloadLength?: number;
}

export interface BaselineStats {
  connections: number;
  opened: number;
  frames_in: number;
  published: number;
  acks: number;
  errors: number;
}

export interface Baseline {
  readonly port: number;
  readonly host: string;
  stats(): BaselineStats;
  /** Close the listen socket and every connection, then the App (required before exit). */
  close(): void;
}

interface ConnData {
  codec: Subprotocol;
  userId: number;
}

interface Envelope {
  type?: unknown;
  id?: unknown;
  data?: Record<string, unknown>;
}

const te = new TextDecoder();

export function startBaseline(opts: BaselineOptions = {}): Promise<Baseline> {
  const uws = loadUws();
  const host = opts.host ?? '127.0.0.1';
  const app = uws.App() as UwsApp;
  const roomSeq = new Map<number, number>();
  const stats: BaselineStats = { connections: 0, opened: 0, frames_in: 0, published: 0, acks: 0, errors: 0 };
  let nextUser = 0;
  let nextMessageId = 0;

  const send = (ws: WebSocket<ConnData>, codec: Subprotocol, obj: unknown) => {
    if (codec === 'veza.msgpack') ws.send(pack(obj), true);
    else ws.send(JSON.stringify(obj), false);
  };
  const replyError = (ws: WebSocket<ConnData>, codec: Subprotocol, id: unknown, code: string, message: string) => {
    stats.errors++;
    const env: Record<string, unknown> = { type: 'error', data: { code, message } };
    if (typeof id === 'string') env.reply_to = id;
    send(ws, codec, env);
  };

  const handlers: Record<string, (ws: WebSocket<ConnData>, c: ConnData, id: unknown, data: Record<string, unknown>) => void> = {
    join_room(ws, c, id, data) {
      const room = Number(data.room_id);
      if (!Number.isSafeInteger(room)) return replyError(ws, c.codec, id, 'validation_failed', 'room_id must be an integer');
      ws.subscribe((c.codec === 'veza.msgpack' ? 'm:' : 'r:') + room);
      const env: Record<string, unknown> = {
        type: 'joined',
        data: { room_id: room, room: { id: room, name: `room-${room}` }, last_seq: roomSeq.get(room) ?? 0 },
      };
      if (typeof id === 'string') env.reply_to = id;
      send(ws, c.codec, env);
    },
    leave_room(ws, c, id, data) {
      const room = Number(data.room_id);
      ws.unsubscribe('r:' + room);
      ws.unsubscribe('m:' + room);
      const env: Record<string, unknown> = { type: 'left', data: { room_id: room } };
      if (typeof id === 'string') env.reply_to = id;
      send(ws, c.codec, env);
    },
    send_message(ws, c, id, data) {
      const room = Number(data.room_id);
      if (!Number.isSafeInteger(room) || typeof data.content !== 'string') {
        return replyError(ws, c.codec, id, 'validation_failed', 'room_id and content are required');
      }
      const seq = (roomSeq.get(room) ?? 0) + 1;
      roomSeq.set(room, seq);
      const created = new Date().toISOString();
      const message = referenceMessage({ id: ++nextMessageId, conversationId: room, roomId: room, seq, authorId: c.userId, data, createdAt: created });
      const event = { type: 'message', data: message };
      // app.publish, not ws.publish: the sender is a member and gets the event too.
      if (app.numSubscribers('r:' + room) > 0) app.publish('r:' + room, JSON.stringify(event), false);
      if (app.numSubscribers('m:' + room) > 0) app.publish('m:' + room, pack(event), true);
      stats.published++;
      if (typeof id === 'string') {
        stats.acks++;
        send(ws, c.codec, { type: 'ack', reply_to: id, data: { message_id: message.id, uuid: message.uuid, seq, created_at: created } });
      }
    },
    ping(ws, c, id) {
      const env: Record<string, unknown> = { type: 'pong' };
      if (typeof id === 'string') env.reply_to = id;
      send(ws, c.codec, env);
    },
    authenticate(ws, c, id) {
      const env: Record<string, unknown> = {
        type: 'authenticated',
        data: { user: { id: c.userId, username: `user${c.userId}`, role: 'user' }, session_id: `s${c.userId}`, heartbeat_ms: 30_000 },
      };
      if (typeof id === 'string') env.reply_to = id;
      send(ws, c.codec, env);
    },
  };

  app.ws<ConnData>('/ws', {
    maxPayloadLength: opts.maxPayloadLength ?? 1024 * 1024,
    idleTimeout: opts.idleTimeoutS ?? 120,
    maxBackpressure: opts.maxBackpressure ?? 64 * 1024 * 1024,
    sendPingsAutomatically: true,
    upgrade(res: HttpResponse, req: HttpRequest, ctx: us_socket_context_t) {
      const offered = req
        .getHeader('sec-websocket-protocol')
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '');
      // Choose the first one we speak; none offered means veza.json with no header (RFC 6455).
      const chosen = offered.find((p): p is Subprotocol => (SUBPROTOCOLS as readonly string[]).includes(p));
      if (offered.length > 0 && chosen === undefined) {
        res.writeStatus('400 Bad Request').end('unsupported sub-protocol');
        return;
      }
      const data: ConnData = { codec: chosen ?? 'veza.json', userId: ++nextUser };
      res.upgrade(data, req.getHeader('sec-websocket-key'), chosen ?? '', req.getHeader('sec-websocket-extensions'), ctx);
    },
    open() {
      stats.connections++;
      stats.opened++;
    },
    message(ws: WebSocket<ConnData>, ab: ArrayBuffer, isBinary: boolean) {
      stats.frames_in++;
      const c = ws.getUserData() as ConnData;
      let env: Envelope;
      try {
        env = (isBinary ? unpack(new Uint8Array(ab)) : JSON.parse(te.decode(ab))) as Envelope;
      } catch {
        // Not an exception to log: an unparsable frame is a client error with a reply.
        return replyError(ws, c.codec, undefined, 'invalid_frame', 'frame is not a valid envelope');
      }
      if (env === null || typeof env !== 'object' || typeof env.type !== 'string') {
        return replyError(ws, c.codec, undefined, 'invalid_frame', 'envelope needs a type');
      }
      const h = Object.hasOwn(handlers, env.type) ? handlers[env.type] : undefined;
      if (!h) return replyError(ws, c.codec, env.id, 'validation_failed', `unknown type ${env.type}`);
      h(ws, c, env.id, env.data !== null && typeof env.data === 'object' ? env.data : {});
    },
    close() {
      stats.connections--;
    },
  });
  app.get('/health', (res) => {
    res.end('ok');
  });
  app.get('/stats', (res) => {
    res.writeHeader('content-type', 'application/json').end(JSON.stringify(stats));
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  });

  return new Promise((resolve, reject) => {
    app.listen(host, opts.port ?? 0, (ls: us_listen_socket | false) => {
      if (!ls) {
        app.close();
        reject(new Error(`baseline: cannot listen on ${host}:${opts.port ?? 0}`));
        return;
      }
      let closed = false;
      resolve({
        port: uws.us_socket_local_port(ls),
        host,
        stats: () => ({ ...stats }),
        close() {
          if (closed) return;
          closed = true;
          uws.us_listen_socket_close(ls);
          app.close();
        },
      });
    });
  });
}

/* ---------- as a child process ---------- */

export type BaselineProcess = ChildServer;

/** Start the baseline in a child process (child-server.ts) and wait until it listens. */
export function spawnBaseline(opts: BaselineOptions & { startTimeoutMs?: number } = {}): Promise<BaselineProcess> {
  const args = ['--port', String(opts.port ?? 0), '--host', opts.host ?? '127.0.0.1'];
  if (opts.idleTimeoutS !== undefined) args.push('--idle-timeout', String(opts.idleTimeoutS));
  return spawnChildServer('baseline', siblingEntry('baseline-main'), args, opts.startTimeoutMs);
}
