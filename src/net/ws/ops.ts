/**
 * The WebSocket operations: a table from `type` to handler, each a short function of the
 * validated operation. A handler sends the operation's own event (`joined`, `history`, ...) and
 * returns the `ack` data; the dispatcher (./gateway.ts) sends the ack when the frame had an `id`,
 * and turns a thrown ChatError into an `error` frame.
 */
import {
  ROOM,
  SESSION,
  USER,
  type Caller,
  type ConversationKind,
  type DmReply,
  type HistoryReply,
  type JoinReply,
  type ResumeOutcome,
  type SendAck,
} from '../../actors/messages.js';
import { ChatError } from '../../errors.js';
import { dmPeerId, type ClientOp, type ClientOpData, type ClientOpType } from '../../protocol/client-ops.js';
import type { Conn } from './conn.js';
import type { GatewayCore } from './gateway.js';

export interface OpContext {
  conn: Conn;
  user: Caller;
  gw: GatewayCore;
}

type Handler<K extends ClientOpType> = (ctx: OpContext, data: ClientOpData[K]) => Promise<object | undefined> | object | undefined;
type Table = { [K in ClientOpType]?: Handler<K> };

const notYet = (type: string) => () => {
  throw new ChatError('validation_failed', `operation "${type}" is not available on this server yet`, {
    details: [{ path: 'type', message: 'not available yet' }],
  });
};

export const OPS: Table = {
  async join_room(ctx, data) {
    if (data.user_id != null && data.user_id !== ctx.user.id) throw new ChatError('forbidden', 'join_room: user_id must be the caller');
    ctx.gw.limit(ctx.conn, ctx.user.id, 'join_room');
    const { conn, gw } = ctx;
    const id = data.room_id;
    const already = (conn.rooms?.has(id) ?? false);
    // As for resume: the reply and the room's live events come different ways, and every event
    // after `last_seq` must follow `joined` (unless a resume of the room already holds them).
    const hold = !already && !(conn.held?.has(id) ?? false);
    if (hold) gw.hold(conn, id);
    let reply: JoinReply;
    try {
      reply = await gw.actors.ask<JoinReply>(ROOM, id, { t: 'join', caller: ctx.user, ...(already ? {} : { sub: { front: gw.front } }) });
      if (reply.room === null) throw new ChatError('not_found', `room ${id} not found`);
    } catch (e) {
      if (hold) gw.release(conn, id, null);
      throw e;
    }
    if (!already && !gw.subscribe(conn, id)) return undefined;
    const joined = { room_id: id, room: reply.room, last_seq: reply.last_seq };
    gw.send(conn, 'joined', joined);
    if (hold) gw.release(conn, id, reply.last_seq);
    return joined;
  },

  async leave_room(ctx, data) {
    const subscribed = (ctx.conn.rooms?.has(data.room_id) ?? false);
    await ctx.gw.actors.ask(ROOM, data.room_id, {
      t: 'leave',
      caller: ctx.user,
      ...(subscribed ? { sub: { front: ctx.gw.front } } : {}),
    });
    ctx.gw.unsubscribe(ctx.conn, data.room_id);
    ctx.gw.send(ctx.conn, 'left', { room_id: data.room_id });
    return { room_id: data.room_id };
  },

  async send_message(ctx, data) {
    return sendTo(ctx, 'room', data.room_id, data);
  },

  async send_dm(ctx, data) {
    return sendTo(ctx, 'dm', data.conversation_id, data);
  },

  async create_dm(ctx, data) {
    const peer = dmPeerId(data, ctx.user.id);
    if (peer === ctx.user.id) {
      throw new ChatError('validation_failed', 'create_dm: a direct conversation needs another user', {
        details: [{ path: 'data.user_id', message: 'cannot be the caller' }],
      });
    }
    const dm = await ctx.gw.actors.ask<DmReply>(USER, ctx.user.id, { t: 'create_dm', caller: ctx.user, peerId: peer });
    // The actor publishes dm_created to both users' sockets (this one included).
    return { conversation_id: dm.conversation_id, user_ids: dm.user_ids };
  },

  async fetch_history(ctx, data) {
    const reply = await ctx.gw.actors.ask<HistoryReply>(ROOM, data.conversation_id, {
      t: 'history',
      caller: ctx.user,
      before: data.before,
      after: data.after,
      limit: data.limit,
    });
    ctx.gw.send(ctx.conn, 'history', reply);
    // The ack carries the page too, as join_room's carries `joined`: PROTOCOL.md names `history`
    // as the reply and promises the `ack`, and a client may wait for either.
    return { ...reply, count: reply.messages.length };
  },

  async resume(ctx, data) {
    const { conn, gw } = ctx;
    const ids = data.positions.map((p) => p.conversation_id);
    const subscribe = ids.filter((id) => !conn.rooms?.has(id));
    // Until its reply is sent, each conversation's live events wait for this socket (gw.hold):
    // the reply comes through the session actor, the live events straight from the room's shard.
    // Only what this resume holds: a join or resume of one of them in flight keeps its own hold.
    const held: number[] = [];
    const releaseAll = () => {
      for (const id of held) gw.release(conn, id, null);
    };
    try {
      for (const id of ids) {
        gw.hold(conn, id);
        held.push(id);
      }
    } catch (e) {
      releaseAll();
      throw e;
    }
    let outcomes: ResumeOutcome[];
    try {
      // The session answers what spans conversations: one RoomActor after another, in order.
      outcomes = await gw.actors.ask<ResumeOutcome[]>(SESSION, gw.session(conn), { t: 'resume', positions: data.positions, subscribe });
    } catch (e) {
      releaseAll();
      throw e;
    }
    const results = [];
    for (const r of outcomes) {
      if (conn.closed) return undefined;
      const id = r.conversation_id;
      if ('error' in r) {
        // This one fails alone; the others are resumed.
        gw.release(conn, id, null);
        gw.send(conn, 'error', { ...r.error, details: [{ path: `data.positions.${id}`, message: r.error.message }] });
        results.push({ conversation_id: id, error: r.error.code });
        continue;
      }
      if (subscribe.includes(id) && r.subscribed) gw.subscribe(conn, id);
      gw.send(conn, 'resumed', { conversation_id: id, recovered: r.recovered, from_seq: r.from_seq, to_seq: r.to_seq });
      for (const ev of r.events) gw.send(conn, ev.type, ev.data);
      // Then what happened since, held meanwhile: nothing lost, nothing twice.
      gw.release(conn, id, r.to_seq);
      results.push({ conversation_id: id, recovered: r.recovered, from_seq: r.from_seq, to_seq: r.to_seq });
    }
    releaseAll(); // anything the session did not answer for
    return { conversations: results };
  },

  ping(ctx) {
    ctx.gw.send(ctx.conn, 'pong', undefined);
    return {};
  },

  edit_message: notYet('edit_message'),
  delete_message: notYet('delete_message'),
  add_reaction: notYet('add_reaction'),
  remove_reaction: notYet('remove_reaction'),
  pin_message: notYet('pin_message'),
  unpin_message: notYet('unpin_message'),
  typing: notYet('typing'),
  mark_read: notYet('mark_read'),
  set_presence: notYet('set_presence'),
};

async function sendTo(ctx: OpContext, kind: ConversationKind, conversationId: number, data: ClientOpData['send_message'] | ClientOpData['send_dm']) {
  ctx.gw.limit(ctx.conn, ctx.user.id, 'send_message');
  return ctx.gw.actors.ask<SendAck>(ROOM, conversationId, {
    t: 'send',
    kind,
    caller: ctx.user,
    msg: { content: data.content, parentId: data.parent_id ?? null, metadata: data.metadata ?? null, clientId: data.client_id ?? null },
    brief: true,
  });
}

export function handlerFor(op: ClientOp): Handler<ClientOpType> | undefined {
  return OPS[op.type] as Handler<ClientOpType> | undefined;
}
