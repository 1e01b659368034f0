/**
 * The statements of revocable sessions and the audit trail (issue 17), kept apart from
 * ./pg-store.ts, whose methods only delegate here. Written against `pg`, so they run on PostgreSQL
 * and PGlite alike. A session is a refresh-token family (one per login).
 */
import type pg from 'pg';
import { ChatError } from '../errors.js';
import type { RotateResult } from './types.js';

type Db = pg.Pool | pg.PoolClient;

/** A revoked session: its family and when. */
export interface RevokedSession {
  familyId: string;
  userId: number;
  revokedAt: Date;
}

/**
 * Atomically spend `oldHash` and store `newHash` in its family. The new token is derived from the
 * old one (src/auth/service.ts), so a retry of the same refresh brings the same `newHash`: when the
 * old token was spent by exactly that rotation less than `graceS` seconds ago and its replacement
 * is still live (not spent in turn, not revoked with its session), the answer is the same rotation
 * again (`retried`), not a reuse. Otherwise a spent
 * token revokes its whole family.
 */
export async function rotateRefreshToken(c: pg.PoolClient, oldHash: string, newHash: string, expiresAt: Date, graceS: number): Promise<RotateResult> {
  // FOR UPDATE: two refreshes racing with the same token are serialised here; the second one sees
  // it spent and takes the retry (within the grace window) or the reuse branch.
  const r = await c.query<{ id: number; user_id: string; family_id: string; revoked: boolean; replaced_by: string | null; expired: boolean }>(
    `SELECT id, user_id, family_id, revoked_at IS NOT NULL AS revoked, replaced_by, expires_at <= now() AS expired
       FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
    [oldHash],
  );
  const old = r.rows[0];
  if (!old) return { kind: 'invalid' };
  const userId = Number(old.user_id);
  if (old.revoked && old.replaced_by !== null) {
    // The replacement still live (neither spent nor revoked with its session) and young.
    const next = await c.query<{ token_hash: string; issued_at: Date; in_grace: boolean; live: boolean }>(
      `SELECT token_hash, created_at AS issued_at, now() - created_at < make_interval(secs => $2) AS in_grace, revoked_at IS NULL AS live
         FROM refresh_tokens WHERE id = $1`,
      [old.replaced_by, graceS],
    );
    const n = next.rows[0];
    if (n && n.token_hash === newHash && n.in_grace && n.live) {
      return { kind: 'rotated', userId, familyId: old.family_id, issuedAt: new Date(n.issued_at), retried: true };
    }
    // A spent token came back: someone holds a copy. Revoke every token of the login, after any
    // rotation of it still in flight (lockLive).
    await lockLive(c, 'family_id', old.family_id);
    await c.query('UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL', [old.family_id]);
    return { kind: 'reused', userId, familyId: old.family_id };
  }
  if (old.revoked || old.expired) return { kind: 'invalid' };
  const inserted = await c.query<{ id: string; created_at: Date }>(
    `INSERT INTO refresh_tokens (user_id, token_hash, family_id, expires_at) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
    [userId, newHash, old.family_id, expiresAt],
  );
  const row = inserted.rows[0]!;
  await c.query('UPDATE refresh_tokens SET revoked_at = now(), replaced_by = $2 WHERE id = $1', [old.id, row.id]);
  return { kind: 'rotated', userId, familyId: old.family_id, issuedAt: new Date(row.created_at), retried: false };
}

/**
 * Wait for any rotation in flight on these live tokens, and hold them: a revocation's UPDATE must
 * run after a racing rotation committed, or the token that rotation inserts (invisible to a
 * statement that started before its commit) would outlive the session it belongs to. READ
 * COMMITTED: the UPDATE that follows takes a new snapshot and sees the inserted token.
 */
async function lockLive(c: Db, column: 'family_id' | 'user_id', value: string | number): Promise<void> {
  await c.query(`SELECT id FROM refresh_tokens WHERE ${column} = $1 AND revoked_at IS NULL ORDER BY id FOR UPDATE`, [value]);
}

/** Revoke the token's family (logout): its user and family, or null when the token is unknown. */
export async function revokeRefreshToken(c: pg.PoolClient, tokenHash: string): Promise<{ userId: number; familyId: string } | null> {
  const r = await c.query<{ user_id: string; family_id: string }>('SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1', [tokenHash]);
  const row = r.rows[0];
  if (!row) return null;
  await lockLive(c, 'family_id', row.family_id);
  await c.query('UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL', [row.family_id]);
  return { userId: Number(row.user_id), familyId: row.family_id };
}

/** Revoke every session of the user still open: their families. */
export async function revokeUserRefreshTokens(c: pg.PoolClient, userId: number): Promise<string[]> {
  await lockLive(c, 'user_id', userId);
  const r = await c.query<{ family_id: string }>(
    `WITH revoked AS (UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING family_id)
     SELECT DISTINCT family_id FROM revoked`,
    [userId],
  );
  return r.rows.map((row) => row.family_id);
}

/**
 * Sessions revoked since `since` (a logout, a reuse, a password change, a ban): families with a
 * token revoked without being replaced. Rotation revokes a token *with* a replacement, so it is not
 * one. For the revocation set at start.
 */
export async function recentRevocations(db: Db, since: Date): Promise<RevokedSession[]> {
  const r = await db.query<{ family_id: string; user_id: string; revoked_at: Date }>(
    `SELECT family_id, min(user_id) AS user_id, max(revoked_at) AS revoked_at FROM refresh_tokens
      WHERE revoked_at >= $1 AND replaced_by IS NULL GROUP BY family_id`,
    [since],
  );
  return r.rows.map((row) => ({ familyId: row.family_id, userId: Number(row.user_id), revokedAt: new Date(row.revoked_at) }));
}

export async function setPasswordHash(db: Db, userId: number, passwordHash: string): Promise<void> {
  const r = await db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [userId, passwordHash]);
  if (r.rowCount === 0) throw new ChatError('not_found', 'no such user');
}

// ---------------------------------------------------------------------------------------- audit

export interface AuditFilter {
  action?: string | undefined;
  actorId?: number | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Entries with an id below this (the previous page's `next_cursor`). */
  before?: number | undefined;
  limit: number;
}

export interface AuditRecord {
  id: number;
  actor_id: number | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: Record<string, unknown>;
  ip: string | null;
  created_at: string;
}

/** Newest first, by id; one more than `limit` is read to tell whether more follow. */
export async function listAudit(db: Db, f: AuditFilter): Promise<AuditRecord[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    values.push(v);
    where.push(sql.replace('?', `$${values.length}`));
  };
  if (f.action !== undefined) {
    // `auth.*` matches every action of that family.
    if (f.action.endsWith('.*')) add(`action LIKE ?`, `${f.action.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`);
    else add('action = ?', f.action);
  }
  if (f.actorId !== undefined) add('actor_id = ?', f.actorId);
  if (f.targetType !== undefined) add('target_type = ?', f.targetType);
  if (f.targetId !== undefined) add('target_id = ?', f.targetId);
  if (f.since !== undefined) add('created_at >= ?', f.since);
  if (f.until !== undefined) add('created_at < ?', f.until);
  if (f.before !== undefined) add('id < ?', f.before);
  values.push(f.limit);
  const r = await db.query<AuditRecord & { id: string; actor_id: string | null; created_at: Date }>(
    `SELECT id, actor_id, action, target_type, target_id, details, ip, created_at FROM audit_log
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${values.length}`,
    values,
  );
  return r.rows.map((row) => ({
    ...row,
    id: Number(row.id),
    actor_id: row.actor_id === null ? null : Number(row.actor_id),
    created_at: new Date(row.created_at).toISOString(),
  }));
}
