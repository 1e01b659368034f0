/**
 * Changes to messages: edit_message, delete_message, add_reaction, remove_reaction (a message
 * named by its id: through the MESSAGE router to its RoomActor), pin_message, unpin_message (a
 * room's). Each is answered once committed, with its seq; everyone in the conversation gets the
 * event (`message_edited`, `message_deleted`, `reaction_added`, ...), the requester included.
 * A change that changes nothing (a reaction already there) is acked with `changed: false`.
 */
import { MESSAGE, ROOM, type ChangeReply } from '../../../actors/messages.js';
import type { OpTable } from './types.js';

export const changeOps: OpTable = {
  edit_message(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'edit_message');
    const content = ctx.gw.content.message(ctx.user.id, data.content, 'data.content', false);
    return ctx.gw.actors.ask<ChangeReply>(MESSAGE, data.message_id, { t: 'edit', caller: ctx.user, messageId: data.message_id, content });
  },

  delete_message(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'edit_message');
    return ctx.gw.actors.ask<ChangeReply>(MESSAGE, data.message_id, { t: 'delete', caller: ctx.user, messageId: data.message_id, ip: ctx.conn.remote });
  },

  add_reaction(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'send_message');
    return ctx.gw.actors.ask<ChangeReply>(MESSAGE, data.message_id, { t: 'react', caller: ctx.user, messageId: data.message_id, emoji: data.emoji, add: true });
  },

  remove_reaction(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'send_message');
    return ctx.gw.actors.ask<ChangeReply>(MESSAGE, data.message_id, { t: 'react', caller: ctx.user, messageId: data.message_id, emoji: data.emoji, add: false });
  },

  pin_message(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'edit_message');
    return ctx.gw.actors.ask<ChangeReply>(ROOM, data.room_id, { t: 'pin', caller: ctx.user, messageId: data.message_id, pin: true });
  },

  unpin_message(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'edit_message');
    return ctx.gw.actors.ask<ChangeReply>(ROOM, data.room_id, { t: 'pin', caller: ctx.user, messageId: data.message_id, pin: false });
  },
};
