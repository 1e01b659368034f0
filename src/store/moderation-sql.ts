/**
 * Moderation's statements (issue 17): room roles, kicks, bans and mutes, global roles and bans.
 * Each write runs in one transaction with its audit entry (`audit_log`), written only when the
 * write changed something: an action is in the trail exactly when it happened. PgStore calls
 * these inside its transaction helper; they use only the connection they are given.
 */
import type pg from 'pg';
import type { AuditEntry, Member, MemberRole, Sanction, User, UserRole } from './types.js';

/** A membership row as the store returns it (pg-store.ts uses the same list). */
export const MEMBER_COLUMNS = 'conversation_id, user_id, role, joined_at, muted_until, banned, banned_until';
/** A user row as the store returns it (pg-store.ts uses the same list). */
export const USER_COLUMNS = 'id, username, email, role, is_active, last_activity, created_at, updated_at, banned_at, banned_until';

/** A room ban: its end (null: permanent), who set it and why. */
export interface RoomBan {
  until: string | null;
  by: number;
  reason: string | null;
}

/** A mute: its end (null: lift it), who set it and why. */
export interface RoomMute {
  until: string | null;
  by: number;
  reason: string | null;
}

/** A global ban: its end (null: permanent) and why. */
export interface UserBan {
  until: string | null;
  reason: string | null;
}

type Db = pg.PoolClient | pg.Pool;

export async function insertAudit(db: Db, entry: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (actor_id, action, target_type, target_id, details, ip) VALUES ($1, $2, $3, $4, $5, $6)`,
    [entry.actorId, entry.action, entry.targetType ?? null, entry.targetId ?? null, JSON.stringify(entry.details ?? {}), entry.ip ?? null],
  );
}

/** `row`, with `audit` written when there is one. */
async function audited<T>(c: pg.PoolClient, row: T | undefined, audit: AuditEntry | null): Promise<T | null> {
  if (row === undefined) return null;
  if (audit !== null) await insertAudit(c, audit);
  return row;
}

/** A member's role in the room (not a banned row's); null when the user is not a member. */
export async function setMemberRole(c: pg.PoolClient, conversationId: number, userId: number, role: MemberRole, audit: AuditEntry): Promise<Member | null> {
  const r = await c.query<Member>(
    `UPDATE conversation_members SET role = $3 WHERE conversation_id = $1 AND user_id = $2 AND NOT banned RETURNING ${MEMBER_COLUMNS}`,
    [conversationId, userId, role],
  );
  return audited(c, r.rows[0], audit);
}

/** Removes the membership (a kick); false when the user was not a member. */
export async function kickMember(c: pg.PoolClient, conversationId: number, userId: number, audit: AuditEntry): Promise<boolean> {
  const r = await c.query(`DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2 AND NOT banned RETURNING 1`, [conversationId, userId]);
  return (await audited(c, r.rows[0], audit)) !== null;
}

/**
 * The user is banned from the room, member or not: the row becomes (or is made as) a banned one,
 * with no role beyond `member` and no mute. Banning again replaces the end and the reason.
 */
export async function banMember(c: pg.PoolClient, conversationId: number, userId: number, ban: RoomBan, audit: AuditEntry): Promise<Member> {
  const r = await c.query<Member>(
    `INSERT INTO conversation_members (conversation_id, user_id, role, banned, banned_until, banned_at, banned_by, ban_reason)
     VALUES ($1, $2, 'member', true, $3, now(), $4, $5)
     ON CONFLICT (conversation_id, user_id) DO UPDATE SET
       role = 'member', banned = true, banned_until = EXCLUDED.banned_until, banned_at = now(),
       banned_by = EXCLUDED.banned_by, ban_reason = EXCLUDED.ban_reason,
       muted_until = NULL, muted_by = NULL, mute_reason = NULL
     RETURNING ${MEMBER_COLUMNS}`,
    [conversationId, userId, ban.until, ban.by, ban.reason],
  );
  return (await audited(c, r.rows[0], audit))!;
}

/** Lifts a ban (the row goes: the user is no member until they join again); false when there was none. */
export async function unbanMember(c: pg.PoolClient, conversationId: number, userId: number, audit: AuditEntry | null): Promise<boolean> {
  const r = await c.query(`DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2 AND banned RETURNING 1`, [conversationId, userId]);
  return (await audited(c, r.rows[0], audit)) !== null;
}

/** Sets (or, with `until` null, lifts) a member's mute; null when the user is not a member. */
export async function muteMember(c: pg.PoolClient, conversationId: number, userId: number, mute: RoomMute, audit: AuditEntry): Promise<Member | null> {
  const r = await c.query<Member>(
    `UPDATE conversation_members SET muted_until = $3, muted_by = $4, mute_reason = $5
      WHERE conversation_id = $1 AND user_id = $2 AND NOT banned RETURNING ${MEMBER_COLUMNS}`,
    [conversationId, userId, mute.until, mute.until === null ? null : mute.by, mute.until === null ? null : mute.reason],
  );
  return audited(c, r.rows[0], audit);
}

/** Bans or mutes in force, highest user id first, from `before` (a user id, exclusive) on, at most `limit`. */
export async function listSanctions(db: Db, conversationId: number, kind: 'bans' | 'mutes', page: { before?: number | undefined; limit: number }): Promise<Sanction[]> {
  const where =
    kind === 'bans'
      ? 'm.banned AND (m.banned_until IS NULL OR m.banned_until > now())'
      : 'NOT m.banned AND m.muted_until > now()';
  const cols =
    kind === 'bans'
      ? 'm.banned_until AS until, m.ban_reason AS reason, m.banned_by AS by, m.banned_at AS at'
      : 'm.muted_until AS until, m.mute_reason AS reason, m.muted_by AS by, NULL::timestamptz AS at';
  const r = await db.query<Sanction>(
    `SELECT m.user_id, u.username, ${cols}
       FROM conversation_members m JOIN users u ON u.id = m.user_id
      WHERE m.conversation_id = $1 AND ${where} AND ($2::bigint IS NULL OR m.user_id < $2)
      ORDER BY m.user_id DESC LIMIT $3`,
    [conversationId, page.before ?? null, page.limit],
  );
  return r.rows;
}

/** A user's global role; null when there is no such user. */
export async function setUserRole(c: pg.PoolClient, userId: number, role: UserRole, audit: AuditEntry): Promise<User | null> {
  const r = await c.query<User>(`UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING ${USER_COLUMNS}`, [userId, role]);
  return audited(c, r.rows[0], audit);
}

/** A global ban (banning again replaces its end and reason); null when there is no such user. */
export async function banUser(c: pg.PoolClient, userId: number, ban: UserBan, audit: AuditEntry): Promise<User | null> {
  const r = await c.query<User>(
    `UPDATE users SET banned_at = now(), banned_until = $2, ban_reason = $3, updated_at = now() WHERE id = $1 RETURNING ${USER_COLUMNS}`,
    [userId, ban.until, ban.reason],
  );
  return audited(c, r.rows[0], audit);
}

/** Lifts a global ban; null when there is no such user. Audited only when there was a ban. */
export async function unbanUser(c: pg.PoolClient, userId: number, audit: AuditEntry): Promise<User | null> {
  const was = await c.query<{ banned: boolean }>(`SELECT banned_at IS NOT NULL AS banned FROM users WHERE id = $1 FOR UPDATE`, [userId]);
  if (was.rows[0] === undefined) return null;
  const r = await c.query<User>(
    `UPDATE users SET banned_at = NULL, banned_until = NULL, ban_reason = NULL, updated_at = now() WHERE id = $1 RETURNING ${USER_COLUMNS}`,
    [userId],
  );
  return audited(c, r.rows[0], was.rows[0].banned ? audit : null);
}

/** Whether a user's global ban is in force at `now` (epoch ms). */
export function isUserBanned(u: Pick<User, 'banned_at' | 'banned_until'>, now: number): boolean {
  return u.banned_at !== null && (u.banned_until === null || Date.parse(u.banned_until) > now);
}
