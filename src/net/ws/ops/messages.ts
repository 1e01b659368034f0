/** send_message, send_dm and fetch_history. */
import { ROOM, type ConversationKind, type HistoryReply, type SendAck } from '../../../actors/messages.js';
import type { ClientOpData } from '../../../protocol/client-ops.js';
import type { OpContext, OpTable } from './types.js';

export const messageOps: OpTable = {
  send_message(ctx, data) {
    return sendTo(ctx, 'room', data.room_id, data);
  },

  send_dm(ctx, data) {
    return sendTo(ctx, 'dm', data.conversation_id, data);
  },

  fetch_history(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'fetch_history');
    return ctx.gw.actors.ask<HistoryReply>(ROOM, data.conversation_id, {
      t: 'history',
      caller: ctx.user,
      before: data.before,
      after: data.after,
      limit: data.limit,
    });
  },
};

function sendTo(ctx: OpContext, kind: ConversationKind, conversationId: number, data: ClientOpData['send_message'] | ClientOpData['send_dm']) {
  ctx.gw.limit(ctx.conn, ctx.user.id, 'send_message');
  const content = ctx.gw.content.message(ctx.user.id, data.content, 'data.content', true, data.client_id ?? null);
  return ctx.gw.actors.ask<SendAck>(ROOM, conversationId, {
    t: 'send',
    kind,
    caller: ctx.user,
    msg: { content, parentId: data.parent_id ?? null, metadata: data.metadata ?? null, clientId: data.client_id ?? null },
    brief: true,
  });
}
