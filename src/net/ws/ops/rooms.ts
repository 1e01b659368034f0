/** join_room and leave_room. */
import { ROOM, type JoinReply } from '../../../actors/messages.js';
import { ChatError } from '../../../errors.js';
import type { OpTable } from './types.js';

export const roomOps: OpTable = {
  join_room(ctx, data) {
    if (data.user_id != null && data.user_id !== ctx.user.id) throw new ChatError('forbidden', 'join_room: user_id must be the caller');
    ctx.gw.limit(ctx.conn, ctx.user.id, 'join_room');
    const { conn, gw } = ctx;
    const id = data.room_id;
    const already = conn.rooms?.has(id) ?? false;
    if (!gw.fanout.begin(conn, id)) throw new ChatError('conflict', `room ${id} is already being joined, resumed or left on this connection`);
    // Answered as the reply is read from the ring, before the room's next event (../fanout.ts).
    gw.actors.call<JoinReply>(ROOM, id, { t: 'join', caller: ctx.user, ...(already ? {} : { sub: { front: gw.front } }) }, (err, reply) => {
      if (err !== null || reply === undefined || reply.room === null) {
        gw.fanout.settle(conn, id);
        ctx.fail(err ?? new ChatError('not_found', `room ${id} not found`));
        return;
      }
      if (!already && !gw.subscribe(conn, id)) return; // the socket went away meanwhile
      ctx.reply({ room_id: id, room: reply.room, last_seq: reply.last_seq });
      gw.fanout.settle(conn, id);
    });
    return undefined;
  },

  async leave_room(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'leave_room');
    const { conn, gw } = ctx;
    const id = data.room_id;
    // A join pipelined behind this leave would otherwise see the socket still subscribed, ask for
    // no subscription, and then be unsubscribed by this leave's end: a member who hears nothing.
    if (!gw.fanout.begin(conn, id, false)) throw new ChatError('conflict', `room ${id} is already being joined, resumed or left on this connection`);
    try {
      const subscribed = conn.rooms?.has(id) ?? false;
      await gw.actors.ask(ROOM, id, { t: 'leave', caller: ctx.user, ...(subscribed ? { sub: { front: gw.front } } : {}) });
      gw.unsubscribe(conn, id);
    } finally {
      gw.fanout.settle(conn, id);
    }
    return { room_id: id };
  },
};
