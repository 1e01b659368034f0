/**
 * What reaches sockets: frames to one socket, an actor's event to a conversation's topic, or to
 * some users' sockets.
 *
 * Topics: a socket that joined conversation C subscribes to the uWS topic `r:C|j` or `r:C|m` (by
 * sub-protocol). An actor posts one event per front; the front serialises it once per
 * sub-protocol that has subscribers and publishes, and uWS copies the bytes to every subscriber in
 * C++. DM events go to the users' sockets (./sockets.ts).
 *
 * One order per conversation, by construction. A room's events and the replies to joins and
 * resumes of that room come to this front on one ring (from the room's shard), and are handled in
 * the order they were written, synchronously: the reply is acted on in the same turn as it is read
 * (ActorClient.call), before the next envelope. The RoomActor writes the reply in the same instant
 * it fixes `last_seq` / `to_seq` (ctx.answer). So while a join or resume of C is in flight on a
 * socket (`pending`), every event of C that reaches the front is one the reply carries or covers:
 * the socket is off C's topic and its DM events of C are not sent. The reply's handler puts it
 * back (subscribes it) right after sending the reply, and every later event follows. Nothing is
 * held, and nothing is lost or sent twice.
 */
import { roomTopic } from '../../actors/messages.js';
import { encodeEvent, preencodeJson, type JsonEvent, type PreEncoded } from '../../protocol/codec.js';
import type { ServerEventDataMap, ServerEventType } from '../../protocol/events.js';
import type { TemplatedApp, WebSocket } from '../uws.js';
import { topicFor, type Conn, type SocketData } from './conn.js';
import type { Sockets } from './sockets.js';

const PROTOCOLS = ['veza.json', 'veza.msgpack'] as const;

export class Fanout {
  readonly #sockets: Sockets;
  #app: TemplatedApp | null = null;

  constructor(sockets: Sockets) {
    this.#sockets = sockets;
  }

  attach(app: TemplatedApp): void {
    this.#app = app;
  }

  /** One frame to one socket. */
  send<K extends ServerEventType>(conn: Conn, type: K, data: ServerEventDataMap[K], replyTo?: string): void {
    const ws = conn.ws;
    if (conn.closed || ws === null) return;
    const frame = encodeEvent(conn.protocol, type, data, replyTo === undefined ? undefined : { reply_to: replyTo });
    // Corked: what uWS holds for this socket from this turn's publishes (the sender's own
    // `message` event, before its ack) and this frame leave in one write, not one each.
    ws.cork(() => ws.send(frame, conn.binary));
  }

  /** An actor's event to every subscriber of `topics` on this front. */
  publish(topics: readonly string[], event: JsonEvent): void {
    const app = this.#app;
    if (app === null) return;
    const pre = preencodeJson(event);
    for (const base of topics) {
      const j = topicFor(base, 'veza.json');
      if (app.numSubscribers(j) > 0) app.publish(j, pre.json, false);
      const m = topicFor(base, 'veza.msgpack');
      if (app.numSubscribers(m) > 0) app.publish(m, pre.msgpack, true);
    }
  }

  /**
   * `publish`, but not to `userId`'s sockets (typing: not to the typist). uWS cannot leave a
   * socket out of `app.publish`; `ws.publish` leaves out its own socket, so one socket of the
   * user on the topic publishes, and the user's other sockets there (tabs on the same front) are
   * off the topic for that one call. Only typing takes this path, at most once per throttle
   * window per typist: the `message` path is untouched.
   */
  publishExcept(topics: readonly string[], event: JsonEvent, userId: number): void {
    const app = this.#app;
    if (app === null) return;
    const pre = preencodeJson(event);
    for (const base of topics) {
      for (const protocol of PROTOCOLS) {
        const topic = topicFor(base, protocol);
        if (app.numSubscribers(topic) === 0) continue;
        const bytes = pre.for(protocol);
        const binary = protocol === 'veza.msgpack';
        const own: WebSocket<SocketData>[] = [];
        this.#sockets.eachOf(userId, (conn) => {
          if (!conn.closed && conn.ws !== null && conn.protocol === protocol && conn.ws.isSubscribed(topic)) own.push(conn.ws);
        });
        const [publisher, ...others] = own;
        if (publisher === undefined) {
          app.publish(topic, bytes, binary);
          continue;
        }
        // uWS writes this turn's publishes to a socket at the end of the turn, to the topics it is
        // on then: a socket taken off the topic now would lose what was published to it earlier in
        // this turn (a room message just before the typing). A ping makes uWS write out what it
        // holds for the socket first (as any send does), and costs the client nothing.
        for (const ws of others) {
          ws.ping();
          ws.unsubscribe(topic);
        }
        publisher.publish(topic, bytes, binary);
        for (const ws of others) ws.subscribe(topic);
      }
    }
  }

  /**
   * An event for every socket of some users, but those with a join or resume of the conversation
   * in flight (the reply carries it) and the one of `exceptSession` (a `read` goes to the others). `ws.send` writes out what uWS still holds for the socket
   * from this turn's publishes first, so a socket's events keep the order they came in.
   */
  toUsers(users: readonly number[], event: JsonEvent, conversationId: number | undefined, exceptSession?: string): void {
    let pre: PreEncoded | undefined;
    // Every DM message and presence change comes this way: no closure per user and event.
    for (const userId of users) {
      const held = this.#sockets.held(userId);
      if (held === undefined) continue;
      pre ??= preencodeJson(event);
      if (held instanceof Set) for (const conn of held) this.#toUser(conn, pre, conversationId, exceptSession);
      else this.#toUser(held, pre, conversationId, exceptSession);
    }
  }

  #toUser(conn: Conn, pre: PreEncoded, conversationId: number | undefined, exceptSession: string | undefined): void {
    if (conversationId !== undefined && conn.pending?.has(conversationId)) return;
    if (exceptSession !== undefined && conn.sessionId === exceptSession) return;
    this.#sendBytes(conn, pre);
  }

  /** Put the socket on the conversation's topic. False when it is gone. */
  listen(conn: Conn, conversationId: number): boolean {
    const ws = conn.ws;
    if (conn.closed || ws === null) return false;
    ws.subscribe(topicFor(roomTopic(conversationId), conn.protocol));
    return true;
  }

  /** Take the socket off the conversation's topic. */
  unlisten(conn: Conn, conversationId: number): void {
    const ws = conn.ws;
    if (conn.closed || ws === null) return;
    ws.unsubscribe(topicFor(roomTopic(conversationId), conn.protocol));
  }

  /**
   * A join or resume of the conversation starts on this socket: until `settle`, it gets none of
   * the conversation's events (see the header). False when a join, resume or leave of it is
   * already in flight. A leave passes `quiet` false: the socket still listens until it has left
   * (a refused leave loses nothing), but no join or resume may race it.
   */
  begin(conn: Conn, conversationId: number, quiet = true): boolean {
    if (conn.pending?.has(conversationId)) return false;
    (conn.pending ??= new Set()).add(conversationId);
    if (quiet && conn.rooms?.has(conversationId)) this.unlisten(conn, conversationId);
    return true;
  }

  /** The reply was sent: a subscriber listens again (call right after sending the reply, same turn). */
  settle(conn: Conn, conversationId: number): void {
    if (!conn.pending?.delete(conversationId)) return;
    if (conn.pending.size === 0) conn.pending = null;
    if (conn.rooms?.has(conversationId)) this.listen(conn, conversationId);
  }

  #sendBytes(conn: Conn, pre: PreEncoded): void {
    const ws = conn.ws;
    if (conn.closed || ws === null) return;
    const bytes = pre.for(conn.protocol);
    ws.cork(() => ws.send(bytes, conn.binary));
  }
}
