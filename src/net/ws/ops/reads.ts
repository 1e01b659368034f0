/** mark_read. */
import { ROOM, type ReadReply } from '../../../actors/messages.js';
import type { OpTable } from './types.js';

export const readOps: OpTable = {
  mark_read(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'mark_read');
    // `except`: this socket has the ack; the user's other sockets get the `read` event.
    return ctx.gw.actors.ask<ReadReply>(ROOM, data.conversation_id, {
      t: 'read',
      caller: ctx.user,
      messageId: data.message_id,
      except: ctx.conn.sessionId,
    });
  },
};
