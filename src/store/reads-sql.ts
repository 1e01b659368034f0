/**
 * Read markers, unread counts and the room changes of issue 16 (PATCH and DELETE /rooms/:id): the
 * statements, kept apart from ./pg-store.ts, whose methods only delegate here. Written against
 * `pg`, so they run on PostgreSQL and PGlite alike.
 */
import type pg from 'pg';
import type { Conversation } from './types.js';

/** What `markRead` came to: the marker in force after the call. */
export interface ReadMarker {
  /** The user's last read message in the conversation (the one asked for, or a later one kept). */
  message_id: number;
  /** False when the marker was already at or past the message asked for: nothing changed. */
  updated: boolean;
  /** Messages after the marker not written by the user, at most UNREAD_COUNT_CAP. */
  unread_count: number;
}

/** What PATCH /rooms/:id may change; absent (undefined) fields stay as they are. */
export interface RoomPatch {
  name?: string | undefined;
  description?: string | undefined;
  isPublic?: boolean | undefined;
  maxMembers?: number | undefined;
}

/**
 * Unread counts stop at this: counting is a walk along the `(conversation_id, id)` index from the
 * marker, and a public room never read holds its whole history after the marker. A client shows
 * the cap as "999+" (PROTOCOL.md, unread counts).
 */
export const UNREAD_COUNT_CAP = 1000;

/**
 * Messages after `marker` (a message id, exclusive; 0: from the start) not written by `user`, at
 * most UNREAD_COUNT_CAP, as a scalar subquery over `c.id`. Message ids grow with seq within a
 * conversation, so "after the marker" is an id range of the conversation's index.
 */
const unreadOf = (user: string, marker: string, cap: string) =>
  `(SELECT count(*)::int FROM (SELECT 1 FROM messages m
     WHERE m.conversation_id = c.id AND m.id > ${marker} AND m.author_id <> ${user} LIMIT ${cap}) u)`;

const Q = {
  // One statement: the upsert moves the marker only forward (the WHERE of DO UPDATE); when it does
  // not, the outer SELECT reads the marker as it was (the CTE's snapshot), so the answer is the
  // marker in force either way, with the count after it.
  markRead: {
    name: 'veza_mark_read',
    text: `
      WITH up AS (
        INSERT INTO read_markers AS r (user_id, conversation_id, last_read_message_id) VALUES ($1, $2, $3)
        ON CONFLICT (user_id, conversation_id) DO UPDATE
          SET last_read_message_id = EXCLUDED.last_read_message_id, updated_at = now()
          WHERE r.last_read_message_id < EXCLUDED.last_read_message_id
        RETURNING last_read_message_id
      ), marker AS (
        SELECT COALESCE((SELECT last_read_message_id FROM up),
                        (SELECT last_read_message_id FROM read_markers WHERE user_id = $1 AND conversation_id = $2)) AS id
      )
      SELECT marker.id AS message_id, EXISTS (SELECT 1 FROM up) AS updated,
             ${unreadOf('$1', 'marker.id', '$4')} AS unread_count
        FROM marker, (SELECT $2::bigint AS id) c`,
  },
  // A page of conversations in one statement: the marker by the primary key, the count along the
  // messages index, per id of the page.
  unreadCounts: {
    name: 'veza_unread_counts',
    text: `
      SELECT c.id, ${unreadOf('$1', `COALESCE((SELECT r.last_read_message_id FROM read_markers r
                                                WHERE r.user_id = $1 AND r.conversation_id = c.id), 0)`, '$3')} AS unread_count
        FROM unnest($2::bigint[]) AS c(id)`,
  },
  updateRoom: {
    name: 'veza_update_room',
    text: `
      UPDATE conversations AS c SET
        name = COALESCE($2, c.name),
        description = COALESCE($3, c.description),
        is_public = COALESCE($4, c.is_public),
        type = CASE WHEN $4::boolean IS NULL THEN c.type WHEN $4 THEN 'public_room'::conversation_type ELSE 'private_room'::conversation_type END,
        max_members = COALESCE($5, c.max_members),
        updated_at = now()
      WHERE c.id = $1 AND c.type <> 'direct_message'
      RETURNING c.id, c.uuid, c.name, c.description, c.type, c.is_public, c.owner_id, c.max_members,
                c.last_seq, c.created_at, c.updated_at`,
  },
} as const;

export async function markRead(db: pg.Pool, userId: number, conversationId: number, messageId: number): Promise<ReadMarker> {
  const r = await db.query<ReadMarker>({ ...Q.markRead, values: [userId, conversationId, messageId, UNREAD_COUNT_CAP] });
  return r.rows[0]!;
}

export async function unreadCounts(db: pg.Pool, userId: number, conversationIds: readonly number[]): Promise<Map<number, number>> {
  if (conversationIds.length === 0) return new Map();
  const r = await db.query<{ id: number; unread_count: number }>({ ...Q.unreadCounts, values: [userId, conversationIds, UNREAD_COUNT_CAP] });
  return new Map(r.rows.map((row) => [Number(row.id), row.unread_count]));
}

export async function updateRoom(db: pg.Pool, id: number, patch: RoomPatch): Promise<Conversation | null> {
  const r = await db.query<Conversation>({
    ...Q.updateRoom,
    values: [id, patch.name ?? null, patch.description ?? null, patch.isPublic ?? null, patch.maxMembers ?? null],
  });
  return r.rows[0] ?? null;
}

/**
 * A room and everything in it, in one transaction (`c`). The messages go first and by hand: they
 * have no foreign key to their conversation (migrations/0004); reactions, pins, read markers
 * follow them by their own keys' cascades, memberships by the conversation's. True when the room
 * existed.
 */
export async function deleteRoom(c: pg.PoolClient, id: number): Promise<boolean> {
  const room = await c.query(`SELECT 1 FROM conversations WHERE id = $1 AND type <> 'direct_message' FOR UPDATE`, [id]);
  if (room.rowCount === 0) return false;
  await c.query('DELETE FROM messages WHERE conversation_id = $1', [id]);
  await c.query('DELETE FROM read_markers WHERE conversation_id = $1', [id]);
  await c.query('DELETE FROM conversations WHERE id = $1', [id]);
  return true;
}
