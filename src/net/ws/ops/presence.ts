/** typing and set_presence: nothing stored, nothing sequenced (docs/ARCHITECTURE.md "Presence and typing"). */
import { ROOM, USER } from '../../../actors/messages.js';
import type { OpTable } from './types.js';

export const presenceOps: OpTable = {
  /** The room checks membership, throttles, broadcasts to the others and ends it if no stop comes. */
  async typing(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'typing');
    await ctx.gw.actors.ask(ROOM, data.conversation_id, { t: 'typing', caller: ctx.user, state: data.state });
    return {};
  },

  /** The user's status across all of their connections, told to the conversations they are in. */
  set_presence(ctx, data) {
    ctx.gw.limit(ctx.conn, ctx.user.id, 'typing');
    return ctx.gw.actors.ask<object>(USER, ctx.user.id, { t: 'set_presence', status: data.status });
  },
};
