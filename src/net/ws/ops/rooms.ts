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
    if (!gw.fanout.begin(conn, id)) throw new ChatError('conflict', `room ${id} is already being joined or resumed on this connection`);
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
    const subscribed = ctx.conn.rooms?.has(data.room_id) ?? false;
    await ctx.gw.actors.ask(ROOM, data.room_id, { t: 'leave', caller: ctx.user, ...(subscribed ? { sub: { front: ctx.gw.front } } : {}) });
    ctx.gw.unsubscribe(ctx.conn, data.room_id);
    return { room_id: data.room_id };
  },
};
