/**
 * Moderation over WebSocket: kick_member, ban_member, unban_member, mute_member, unmute_member and
 * set_member_role, the REST endpoints' twins (src/net/http/routes-moderation.ts). The room's
 * RoomActor decides and acts (src/actors/room-moderation.ts); the reply is the target's standing.
 */
import { ROOM, type ModerationAction, type ModerationReply, type ModerationRequest } from '../../../actors/messages.js';
import type { OpContext, OpTable } from './types.js';

function ask(ctx: OpContext, roomId: number, action: ModerationAction, rest: Omit<ModerationRequest, 't' | 'caller' | 'action' | 'ip'>): Promise<ModerationReply> {
  const msg: ModerationRequest = { t: 'moderate', caller: ctx.user, action, ip: ctx.conn.remote, ...rest };
  return ctx.gw.actors.ask<ModerationReply>(ROOM, roomId, msg);
}

export const moderationOps: OpTable = {
  kick_member: (ctx, d) => ask(ctx, d.room_id, 'kick', { userId: d.user_id, reason: d.reason }),
  ban_member: (ctx, d) => ask(ctx, d.room_id, 'ban', { userId: d.user_id, reason: d.reason, durationS: d.duration_s }),
  unban_member: (ctx, d) => ask(ctx, d.room_id, 'unban', { userId: d.user_id }),
  mute_member: (ctx, d) => ask(ctx, d.room_id, 'mute', { userId: d.user_id, reason: d.reason, durationS: d.duration_s }),
  unmute_member: (ctx, d) => ask(ctx, d.room_id, 'unmute', { userId: d.user_id }),
  set_member_role: (ctx, d) => ask(ctx, d.room_id, 'role', { userId: d.user_id, role: d.role }),
};
