/** create_dm. */
import { USER, type DmReply } from '../../../actors/messages.js';
import { ChatError } from '../../../errors.js';
import { dmPeerId } from '../../../protocol/client-ops.js';
import type { OpTable } from './types.js';

export const dmOps: OpTable = {
  async create_dm(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'read');
    const peer = dmPeerId(data, ctx.user.id);
    if (peer === ctx.user.id) {
      throw new ChatError('validation_failed', 'create_dm: a direct conversation needs another user', {
        details: [{ path: 'data.user_id', message: 'cannot be the caller' }],
      });
    }
    const dm = await ctx.gw.actors.ask<DmReply>(USER, ctx.user.id, { t: 'create_dm', caller: ctx.user, peerId: peer });
    // The actor also sends dm_created to both users' sockets (this one included): that tells the peer.
    return { conversation_id: dm.conversation_id, user_ids: dm.user_ids, last_seq: dm.last_seq, created: dm.created };
  },
};
