/**
 * A room's moderation (issue 17): kick, ban, mute and room roles, decided by the room's RoomActor
 * against the membership it holds, so a mute or a ban holds from the very next frame the actor
 * handles with no query per send. The RoomActor hands this module a narrow view of itself
 * (ModeratedRoom); every action runs in the actor's mailbox, one at a time with its sends.
 *
 * Who may act on whom goes by rank: admin (global) 4, the room's owner 3, a room moderator or a
 * global moderator 2, a member 1, anyone else 0. Kick, ban, unban, mute and unmute need rank 2,
 * room roles rank 3 (the owner or an admin); and the target must rank strictly below the actor,
 * so nobody acts on themselves, a moderator cannot silence another, and nobody but an admin
 * touches the owner (whose role never changes here).
 */
import { ChatError } from '../errors.js';
import type { ServerEvent } from '../protocol/events.js';
import type { AuditEntry, Conversation, Member, UserRole } from '../store/types.js';
import type { ChatContext } from './context.js';
import type { ModerationReply, ModerationRequest } from './messages.js';

/** What moderation needs of its RoomActor. */
export interface ModeratedRoom {
  readonly id: number;
  readonly ctx: ChatContext;
  /** The room, or `not_found` (a DM too: DMs have no moderation). */
  room(): Conversation;
  /** Members (never a banned row). */
  readonly members: Map<number, Member>;
  /** Users banned from the room: the end of each ban (null: permanent). */
  readonly bans: Map<number, string | null>;
  /** A member is gone (kicked or banned): their presence, typing, and their UserActor's list. */
  forget(userId: number): Promise<void>;
  /** To the room's subscribers. */
  publish(event: ServerEvent): void;
}

const MODERATOR = 2;
const OWNER = 3;
const ADMIN = 4;

function rank(role: UserRole, member: Member | undefined, conv: Conversation, userId: number): number {
  if (role === 'admin') return ADMIN;
  if (conv.owner_id === userId || member?.role === 'owner') return OWNER;
  if (member?.role === 'moderator' || role === 'moderator') return MODERATOR;
  return member === undefined ? 0 : 1;
}

/** A ban that ends at `until` (null: never) holds at `now`. */
export const banInForce = (until: string | null, now = Date.now()): boolean => until === null || Date.parse(until) > now;

/** A ban in force at `now` (a timed one past its end is forgotten here; the store row goes at the next join). */
export function bannedNow(bans: Map<number, string | null>, userId: number, now = Date.now()): boolean {
  const until = bans.get(userId);
  if (until === undefined) return false;
  if (banInForce(until, now)) return true;
  bans.delete(userId);
  return false;
}

const VERB: Record<ModerationRequest['action'], string> = {
  kick: 'kick',
  ban: 'ban',
  unban: 'unban',
  mute: 'mute',
  unmute: 'unmute',
  role: 'change the role of',
};

export async function moderate(room: ModeratedRoom, msg: ModerationRequest): Promise<ModerationReply> {
  const conv = room.room();
  const { caller, userId, action } = msg;
  const verb = VERB[action];
  const actorRank = rank(caller.role, room.members.get(caller.id), conv, caller.id);
  if (actorRank < (action === 'role' ? OWNER : MODERATOR)) {
    const who = action === 'role' ? 'the owner of room' : 'the owner or a moderator of room';
    throw new ChatError('forbidden', `only ${who} ${room.id} or an admin may ${verb} its members`);
  }
  const { store } = room.ctx.services;
  const target = await store.getUser(userId);
  if (target === null) throw new ChatError('not_found', `user ${userId} not found`);
  const member = room.members.get(userId);
  if (userId === caller.id) throw new ChatError('forbidden', `you cannot ${verb} yourself`);
  // Not even by an admin: the owner's standing is the room's (an admin deletes the room instead).
  if (conv.owner_id === userId || member?.role === 'owner') throw new ChatError('forbidden', `you cannot ${verb} the owner of room ${room.id}`);
  if (rank(target.role, member, conv, userId) >= actorRank) {
    throw new ChatError('forbidden', `you cannot ${verb} user ${userId}: they rank as high as you in room ${room.id}`);
  }
  const audit = (what: string, details: Record<string, unknown> = {}): AuditEntry => ({
    actorId: caller.id,
    action: `room.${what}`,
    targetType: 'user',
    targetId: String(userId),
    details: { room_id: room.id, ...details },
    ip: msg.ip ?? null,
  });
  const notMember = () => new ChatError('not_found', `user ${userId} is not a member of room ${room.id}`);
  const reason = msg.reason ?? null;

  switch (action) {
    case 'kick': {
      if (member === undefined || !(await store.kickMember(room.id, userId, audit('kick', { reason })))) throw notMember();
      await removed(room, userId, 'kicked');
      return standing(room, userId, true);
    }
    case 'ban': {
      const until = msg.durationS == null ? null : new Date(Date.now() + msg.durationS * 1000).toISOString();
      const row = await store.banMember(room.id, userId, { until, by: caller.id, reason }, audit('ban', { until, reason }));
      room.bans.set(userId, row.banned_until);
      if (member !== undefined) await removed(room, userId, 'banned');
      return standing(room, userId, true);
    }
    case 'unban': {
      const changed = await store.unbanMember(room.id, userId, audit('unban'));
      room.bans.delete(userId);
      return standing(room, userId, changed);
    }
    case 'mute':
    case 'unmute': {
      if (member === undefined) throw notMember();
      const muted = member.muted_until !== null && Date.parse(member.muted_until) > Date.now();
      if (action === 'unmute' && !muted) return standing(room, userId, false);
      const until = action === 'mute' ? new Date(Date.now() + (msg.durationS ?? 0) * 1000).toISOString() : null;
      const row = await store.muteMember(room.id, userId, { until, by: caller.id, reason }, audit(action, action === 'mute' ? { until, reason } : {}));
      if (row === null) throw notMember();
      room.members.set(userId, row);
      updated(room, row);
      return standing(room, userId, true);
    }
    case 'role': {
      if (member === undefined) throw notMember();
      const role = msg.role ?? 'member';
      if (member.role === role) return standing(room, userId, false);
      const row = await store.setMemberRole(room.id, userId, role, audit('role', { from: member.role, to: role }));
      if (row === null) throw notMember();
      room.members.set(userId, row);
      updated(room, row);
      return standing(room, userId, true);
    }
  }
}

/** The bans or mutes in force, a page at a time (moderators and up). */
export async function sanctions(room: ModeratedRoom, msg: { caller: ModerationRequest['caller']; kind: 'bans' | 'mutes'; before?: number | undefined; limit: number }) {
  const conv = room.room();
  if (rank(msg.caller.role, room.members.get(msg.caller.id), conv, msg.caller.id) < MODERATOR) {
    throw new ChatError('forbidden', `only the owner or a moderator of room ${room.id} or an admin may list its ${msg.kind}`);
  }
  const rows = await room.ctx.services.store.listSanctions(room.id, msg.kind, { before: msg.before, limit: msg.limit + 1 });
  const page = rows.slice(0, msg.limit);
  const items =
    msg.kind === 'bans'
      ? page.map((r) => ({ room_id: room.id, user_id: r.user_id, username: r.username, banned_until: r.until, reason: r.reason, banned_by: r.by, banned_at: r.at }))
      : page.map((r) => ({ room_id: room.id, user_id: r.user_id, username: r.username, muted_until: r.until, reason: r.reason, muted_by: r.by }));
  const has_more = rows.length > msg.limit;
  return { [msg.kind]: items, has_more, next_cursor: has_more ? page[page.length - 1]!.user_id : null };
}

/**
 * A member kicked or banned: out of the membership, then every front tells the user's sockets,
 * takes the subscribed ones off the room, and publishes `member_left` to the room's other
 * subscribers (src/net/ws/member-removed.ts). One actor's posts reach a front in order, so the
 * user's sockets get the room's earlier events, then `member_left`, then nothing of the room.
 */
async function removed(room: ModeratedRoom, userId: number, reason: 'kicked' | 'banned'): Promise<void> {
  room.members.delete(userId);
  await room.forget(userId);
  room.ctx.broadcast({ t: 'member_removed', roomId: room.id, userId, reason });
}

function updated(room: ModeratedRoom, m: Member): void {
  room.publish({ type: 'member_updated', data: { room_id: room.id, user_id: m.user_id, role: m.role, muted_until: m.muted_until } });
}

function standing(room: ModeratedRoom, userId: number, changed: boolean): ModerationReply {
  const m = room.members.get(userId);
  const banned = bannedNow(room.bans, userId);
  return {
    room_id: room.id,
    user_id: userId,
    changed,
    member: m !== undefined,
    role: m?.role ?? null,
    banned,
    banned_until: banned ? (room.bans.get(userId) ?? null) : null,
    muted_until: m?.muted_until ?? null,
  };
}
