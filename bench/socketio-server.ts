/**
 * The Socket.IO reference server: socket.io 4 on node:http doing the job the uWS baseline does
 * (uws-baseline.ts), the way a Socket.IO application would: rooms with `socket.join`, broadcast
 * with `io.to(room).emit`, replies as acknowledgements. No auth, no storage, no validation beyond
 * what routing needs. What the bench measures on it is a typical Node chat server built on the
 * most used library, one process, one thread (the default in-memory adapter).
 *
 * - Engine.IO v4 over the websocket transport only (no long-polling, no upgrade dance), no
 *   compression (per-message deflate off, as on the other targets), the default namespace, the
 *   default JSON parser.
 * - The connect packet's auth payload `{ token }` is accepted without verification. A bench token
 *   `t<N>` names user N (what a verifying middleware would find in a real token); anything else
 *   gets a fresh user id. Each socket joins its user's room `u:<id>`, as Socket.IO apps do to
 *   reach a user's sockets.
 * - Events, with the bench's operations as names and veza's `data` as their argument; the ack
 *   gets the reply's data, or `{ error: { code, message } }`:
 *   `join_room` → `socket.join('r:<room_id>')`, ack `{ room_id, room, last_seq }`;
 *   `leave_room` → `socket.leave`, ack `{ room_id }`;
 *   `send_message` → `io.to('r:<room_id>').emit('message', <PROTOCOL.md message>)` (the sender
 *   gets it too when it is a member), ack `{ message_id, uuid, seq, created_at }`;
 *   `create_dm` `{ user_id }` → the pair's conversation (the same pair always gets the same one),
 *   ack `{ conversation_id, user_ids }`; `send_dm` → the message to both users' rooms;
 *   `ping` → ack `{}`. An operation without an ack that fails gets an `error` event. Events
 *   with no handler are ignored, as Socket.IO ignores them.
 * - `GET /health` → ok, `GET /stats` → counters as JSON.
 *
 * Run it in its own process (`spawnSocketIoServer`, or `node socketio-main.js --port N`) so its CPU
 * is read from /proc apart from the load generator's. socket.io is a devDependency, loaded only
 * here (socketio-package.ts): without it, both functions throw SocketIoMissing, which says how to
 * add it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'socket.io';
import { siblingEntry, spawnChildServer, type ChildServer } from './child-server.js';
import { referenceMessage } from './reference-message.js';
import { loadSocketIo, requireSocketIo } from './socketio-package.js';

export interface SocketIoServerOptions {
  port?: number;
  host?: string;
  /** Engine.IO heartbeat: a ping every `pingIntervalMs`, a client silent `pingTimeoutMs` after it is dropped. Defaults 25,000 and 20,000 (Socket.IO's). */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** Largest packet accepted from a client (Engine.IO's maxHttpBufferSize). Default 1 MiB. */
  maxPayload?: number;
}

export interface SocketIoServerStats {
  connections: number;
  opened: number;
  events_in: number;
  published: number;
  acks: number;
  errors: number;
}

export interface SocketIoServer {
  readonly port: number;
  readonly host: string;
  stats(): SocketIoServerStats;
  /** Disconnect every socket, then close the HTTP server. */
  close(): Promise<void>;
}

interface SocketData {
  userId: number;
}

type Operation = 'join_room' | 'leave_room' | 'send_message' | 'create_dm' | 'send_dm' | 'ping';
/** What clients send: untrusted arguments, checked by each handler (the ack, if any, comes last). */
type ClientEvents = { [K in Operation]: (...args: unknown[]) => void };
interface ServerEvents {
  message: (message: Record<string, unknown>) => void;
  /** The failure of an operation sent without an ack. */
  error: (error: Record<string, unknown>) => void;
}
type IoSocket = Socket<ClientEvents, ServerEvents, Record<string, never>, SocketData>;
/** Send the reply (the ack when the client asked for one). */
type Reply = (body: Record<string, unknown>) => void;
type Handler = (socket: IoSocket, data: Readonly<Record<string, unknown>>, reply: Reply) => void;

interface Conversation {
  id: number;
  /** The pair, lower id first. */
  users: readonly [number, number];
  seq: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const BENCH_TOKEN = /^t([1-9]\d{0,14})$/;

export async function startSocketIoServer(opts: SocketIoServerOptions = {}): Promise<SocketIoServer> {
  const { Server } = await loadSocketIo();
  const host = opts.host ?? '127.0.0.1';
  const stats: SocketIoServerStats = { connections: 0, opened: 0, events_in: 0, published: 0, acks: 0, errors: 0 };
  const roomSeq = new Map<number, number>();
  const dmByPair = new Map<string, Conversation>();
  const dmById = new Map<number, Conversation>();
  let nextUser = 1_000_000_000; // fresh ids stay clear of the bench's t<N> users
  let nextMessageId = 0;
  let nextConversation = 0;

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    // Engine.IO answers /socket.io/ before this handler; everything else lands here.
    if (req.method === 'GET' && req.url === '/health') res.end('ok');
    else if (req.method === 'GET' && req.url === '/stats') res.setHeader('content-type', 'application/json').end(JSON.stringify(stats));
    else res.writeHead(404).end();
  });
  const io = new Server<ClientEvents, ServerEvents, Record<string, never>, SocketData>(http, {
    transports: ['websocket'],
    allowUpgrades: false,
    serveClient: false,
    perMessageDeflate: false,
    httpCompression: false,
    pingInterval: opts.pingIntervalMs ?? 25_000,
    pingTimeout: opts.pingTimeoutMs ?? 20_000,
    maxHttpBufferSize: opts.maxPayload ?? 1024 * 1024,
  });
  const fail = (reply: Reply, code: string, message: string) => {
    stats.errors++;
    reply({ error: { code, message } });
  };

  const handlers: Record<Operation, Handler> = {
    join_room(socket, data, reply) {
      const room = Number(data.room_id);
      if (!Number.isSafeInteger(room)) return fail(reply, 'validation_failed', 'room_id must be an integer');
      void socket.join(`r:${room}`);
      reply({ room_id: room, room: { id: room, name: `room-${room}` }, last_seq: roomSeq.get(room) ?? 0 });
    },
    leave_room(socket, data, reply) {
      const room = Number(data.room_id);
      if (!Number.isSafeInteger(room)) return fail(reply, 'validation_failed', 'room_id must be an integer');
      void socket.leave(`r:${room}`);
      reply({ room_id: room });
    },
    send_message(socket, data, reply) {
      const room = Number(data.room_id);
      if (!Number.isSafeInteger(room) || typeof data.content !== 'string') return fail(reply, 'validation_failed', 'room_id and content are required');
      const seq = (roomSeq.get(room) ?? 0) + 1;
      roomSeq.set(room, seq);
      const createdAt = new Date().toISOString();
      const message = referenceMessage({ id: ++nextMessageId, conversationId: room, roomId: room, seq, authorId: socket.data.userId, data, createdAt });
      io.to(`r:${room}`).emit('message', message);
      stats.published++;
      reply({ message_id: message.id, uuid: message.uuid, seq, created_at: createdAt });
    },
    create_dm(socket, data, reply) {
      const peer = Number(data.user_id);
      const me = socket.data.userId;
      if (!Number.isSafeInteger(peer) || peer <= 0 || peer === me) return fail(reply, 'validation_failed', 'user_id must be another user');
      const users: [number, number] = me < peer ? [me, peer] : [peer, me];
      const key = `${users[0]}:${users[1]}`;
      let conv = dmByPair.get(key);
      if (conv === undefined) {
        conv = { id: ++nextConversation, users, seq: 0 };
        dmByPair.set(key, conv);
        dmById.set(conv.id, conv);
      }
      reply({ conversation_id: conv.id, user_ids: conv.users });
    },
    send_dm(socket, data, reply) {
      const conv = dmById.get(Number(data.conversation_id));
      if (typeof data.content !== 'string') return fail(reply, 'validation_failed', 'conversation_id and content are required');
      if (conv === undefined) return fail(reply, 'not_found', 'no such conversation');
      const me = socket.data.userId;
      if (conv.users[0] !== me && conv.users[1] !== me) return fail(reply, 'forbidden', 'not a member of this conversation');
      const seq = ++conv.seq;
      const createdAt = new Date().toISOString();
      const message = referenceMessage({ id: ++nextMessageId, conversationId: conv.id, seq, authorId: me, data, createdAt });
      // Both users' rooms in one emit: Socket.IO sends once to a socket that is in both.
      io.to([`u:${conv.users[0]}`, `u:${conv.users[1]}`]).emit('message', message);
      stats.published++;
      reply({ message_id: message.id, uuid: message.uuid, seq, created_at: createdAt });
    },
    ping(_socket, _data, reply) {
      reply({});
    },
  };

  io.on('connection', (socket: IoSocket) => {
    stats.connections++;
    stats.opened++;
    const auth: unknown = socket.handshake.auth;
    const token = isObject(auth) && typeof auth.token === 'string' ? BENCH_TOKEN.exec(auth.token) : null;
    socket.data.userId = token ? Number(token[1]) : ++nextUser;
    void socket.join(`u:${socket.data.userId}`);
    for (const [name, handler] of Object.entries(handlers) as Array<[Operation, Handler]>) {
      // Untrusted arguments: the ack, when asked for, is the last one (Socket.IO appends it).
      socket.on(name, (...args: unknown[]) => {
        stats.events_in++;
        const last = args[args.length - 1];
        const ack = typeof last === 'function' ? (last as (body: unknown) => void) : null;
        const reply: Reply = (body) => {
          if (ack !== null) {
            stats.acks++;
            ack(body);
          } else if (isObject(body.error)) socket.emit('error', body.error);
        };
        handler(socket, isObject(args[0]) ? args[0] : {}, reply);
      });
    }
    socket.on('disconnect', () => {
      stats.connections--;
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port ?? 0, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | null = null;
  return {
    port: (http.address() as AddressInfo).port,
    host,
    stats: () => ({ ...stats }),
    close() {
      // io.close() disconnects every socket and closes the HTTP server it is attached to.
      closing ??= io.close();
      return closing;
    },
  };
}

/* ---------- as a child process ---------- */

/** Start the Socket.IO server in a child process (child-server.ts) and wait until it listens. */
export async function spawnSocketIoServer(opts: SocketIoServerOptions & { startTimeoutMs?: number } = {}): Promise<ChildServer> {
  requireSocketIo(); // here, rather than as a child that dies on start
  const args = ['--port', String(opts.port ?? 0), '--host', opts.host ?? '127.0.0.1'];
  if (opts.pingIntervalMs !== undefined) args.push('--ping-interval', String(opts.pingIntervalMs));
  if (opts.pingTimeoutMs !== undefined) args.push('--ping-timeout', String(opts.pingTimeoutMs));
  return spawnChildServer('socket.io', siblingEntry('socketio-main'), args, opts.startTimeoutMs);
}
