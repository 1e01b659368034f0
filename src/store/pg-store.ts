import type pg from 'pg';
import { ChatError, toChatError } from '../errors.js';
import { log } from '../log.js';
import { BUMP_THREADS, bumpThreads, copyBatch, IdBlocks, RESERVE_IDS } from './message-copy.js';
import { isConnectionFailure } from './pg-errors.js';
import * as mod from './moderation-sql.js';
import * as reads from './reads-sql.js';
import * as authSql from './auth-sql.js';
import type { Store } from './store.js';
import { inTransaction, rollback } from './transaction.js';
import type {
  AuditEntry,
  ChangeOutcome,
  Conversation,
  InsertedMessage,
  Member,
  MemberRole,
  Message,
  MessagePage,
  NewMessage,
  NewRoom,
  NewUser,
  Page,
  Reaction,
  Sanction,
  StateChange,
  StoredEvent,
  RotateResult,
  User,
  UserCredentials,
  UserRole,
} from './types.js';

/**
 * The Store, written once against `pg`. The same code runs on PostgreSQL and on embedded PGlite
 * (a `pg.Pool` over PGlite's node-postgres adapter); only ./postgres.ts and ./pglite.ts differ.
 *
 * The pool must parse int8 as number and timestamptz as ISO string (./pg-types.ts). Hot queries
 * are named prepared statements (`{ name, text, values }`): parsed and planned once per connection.
 * Every method throws ChatError only (./pg-errors.ts); a method that writes more than one
 * statement does it in one transaction, so a failure leaves nothing half-written.
 */
export interface PgStoreOptions {
  backend: 'postgres' | 'pglite';
  pool: pg.Pool;
  /** Reads that may lag (listMessages, messagesAfterSeq); the primary serves them when unset or down. */
  replica?: pg.Pool | null;
  /** Runs once when closing starts, while the pools still serve (stops PGlite's checkpoints). */
  beforeClose?: () => Promise<void>;
  /** Runs once, after the pools have ended (closes PGlite, releases its lock). */
  onClose?: () => Promise<void>;
  /**
   * Embedded PGlite: runs COPY_MESSAGES over `data`, then `then` if given, in one transaction, with
   * the pool's one connection held so no other statement runs in between. When set, batches of
   * messages are written with COPY (./message-copy.ts) instead of the INSERT.
   */
  copyMessages?: (data: Uint8Array, then: { text: string; values: unknown[] } | null) => Promise<void>;
}

/** Larger than any id, for the open end of an id range (a string: it exceeds 2^53). */
const MAX_ID = '9223372036854775807';
/** While the replica is failing, reads go to the primary for this long before it is tried again. */
const REPLICA_RETRY_MS = 5_000;

const USER = mod.USER_COLUMNS;
const MEMBER = mod.MEMBER_COLUMNS;
const MESSAGE =
  'id, uuid, conversation_id, seq, author_id, content, message_type, parent_message_id, thread_count, status, ' +
  'is_edited, edit_count, is_pinned, metadata, client_id, created_at, updated_at, edited_at, deleted_at';
/** The last seq is the greater of the column (non-message events) and the highest message seq. */
const CONVERSATION =
  'c.id, c.uuid, c.name, c.description, c.type, c.is_public, c.owner_id, c.max_members, ' +
  'GREATEST(c.last_seq, COALESCE((SELECT max(m.seq) FROM messages m WHERE m.conversation_id = c.id), 0)) AS last_seq, ' +
  'c.created_at, c.updated_at';

/**
 * A state change and its event in one statement: `did` is the change (RETURNING one row when it
 * happened, none when the state already was so); the event row and the conversation's last seq
 * are written only when it did. $1 conversation, $2 seq, $3 message, $4 the event's data.
 */
const change = (name: string, type: string, did: string, data = '$4::jsonb', extra = '') => ({
  name,
  text: `
    WITH did AS (${did}),${extra}
    ev AS (
      INSERT INTO conversation_events (conversation_id, seq, type, message_id, data)
      SELECT $1, $2, '${type}', $3, ${data} FROM did LIMIT 1
      RETURNING 1
    ), conv AS (
      UPDATE conversations SET last_seq = GREATEST(last_seq, $2) WHERE id = $1 AND EXISTS (SELECT 1 FROM ev)
    )
    SELECT * FROM did`,
});
/** The message exists in the conversation and is not deleted. */
const LIVE_MESSAGE = 'SELECT 1 FROM messages WHERE id = $3 AND conversation_id = $1 AND deleted_at IS NULL';

const CHANGES = {
  // $5 content, $6 when
  message_edited: change(
    'veza_edit_message',
    'message_edited',
    `UPDATE messages SET content = $5, is_edited = true, edit_count = edit_count + 1, edited_at = $6, updated_at = $6
       WHERE id = $3 AND conversation_id = $1 AND deleted_at IS NULL RETURNING edit_count`,
    `$4::jsonb || jsonb_build_object('edit_count', (SELECT edit_count FROM did))`,
  ),
  // $5 by, $6 when. The content goes, from the row and from the edit events that carried it; so
  // do its reactions and its pin.
  message_deleted: change(
    'veza_delete_message',
    'message_deleted',
    `UPDATE messages SET content = '', metadata = '{}', deleted_at = $6, deleted_by = $5, updated_at = $6, is_pinned = false
       WHERE id = $3 AND conversation_id = $1 AND deleted_at IS NULL RETURNING id`,
    '$4::jsonb',
    `
    scrub AS (
      UPDATE conversation_events SET data = data || '{"content": ""}'::jsonb
       WHERE message_id = $3 AND type = 'message_edited' AND EXISTS (SELECT 1 FROM did)
    ), unreact AS (
      DELETE FROM message_reactions WHERE message_id = $3 AND EXISTS (SELECT 1 FROM did)
    ), unpin AS (
      DELETE FROM pinned_messages WHERE message_id = $3 AND EXISTS (SELECT 1 FROM did)
    ),`,
  ),
  // $5 user, $6 emoji
  reaction_added: change(
    'veza_add_reaction',
    'reaction_added',
    // clock_timestamp(), not the default now(): the changes of one group commit share a transaction,
    // and the reactions' order (by created_at) must stay the order they were made in.
    `INSERT INTO message_reactions (message_id, user_id, emoji, created_at) SELECT $3, $5, $6, clock_timestamp() WHERE EXISTS (${LIVE_MESSAGE})
       ON CONFLICT DO NOTHING RETURNING 1 AS n`,
  ),
  reaction_removed: change(
    'veza_remove_reaction',
    'reaction_removed',
    `DELETE FROM message_reactions WHERE message_id = $3 AND user_id = $5 AND emoji = $6 AND EXISTS (${LIVE_MESSAGE}) RETURNING 1 AS n`,
  ),
  // $5 user
  message_pinned: change(
    'veza_pin_message',
    'message_pinned',
    `INSERT INTO pinned_messages (conversation_id, message_id, pinned_by) SELECT $1, $3, $5 WHERE EXISTS (${LIVE_MESSAGE})
       ON CONFLICT DO NOTHING RETURNING 1 AS n`,
    '$4::jsonb',
    `
    flag AS (UPDATE messages SET is_pinned = true WHERE id = $3 AND EXISTS (SELECT 1 FROM did)),`,
  ),
  message_unpinned: change(
    'veza_unpin_message',
    'message_unpinned',
    // $5 (who unpins) is in the event's data only; typed here, as every parameter must be.
    `DELETE FROM pinned_messages WHERE conversation_id = $1 AND message_id = $3 AND $5::bigint > 0 RETURNING 1 AS n`,
    '$4::jsonb',
    `
    flag AS (UPDATE messages SET is_pinned = false WHERE id = $3 AND EXISTS (SELECT 1 FROM did)),`,
  ),
} as const;

/** Named statements. A name must always carry the same text: pg checks it per connection. */
const Q = {
  eventsAfterSeq: {
    name: 'veza_events_after_seq',
    text: `SELECT seq, type, data FROM conversation_events WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`,
  },
  pinnedMessages: {
    name: 'veza_pinned_messages',
    text: `SELECT ${MESSAGE} FROM messages m JOIN (SELECT message_id, pinned_at FROM pinned_messages WHERE conversation_id = $1) p
             ON p.message_id = m.id ORDER BY p.pinned_at DESC, m.id DESC LIMIT 100`,
  },
  reactionsFor: {
    name: 'veza_reactions_for',
    text: `SELECT message_id, user_id, emoji FROM message_reactions WHERE message_id = ANY($1::bigint[]) ORDER BY created_at, emoji`,
  },
  insertMessages: {
    name: 'veza_insert_messages',
    // One statement for the whole batch. `input` numbers the rows (WITH ORDINALITY); the result is
    // joined back to it on (conversation_id, seq), unique per row, and sorted by that number, so
    // the output order is guaranteed, not an accident of RETURNING. Ids are taken from the
    // sequence in `input`, row by row in input order, so history by id and replay by seq agree.
    //
    // Replies add to their parent's thread_count in the same statement, exactly once each. The
    // UPDATE sees the snapshot the statement started with, so it cannot reach a parent inserted
    // by this same batch: such a parent is inserted with its count already made (`kids`, matched
    // on the ids taken in `input`), and the UPDATE bumps only the parents stored before.
    text: `
      WITH input AS (
        SELECT t.*, nextval('messages_id_seq') AS id
          FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::uuid[])
          WITH ORDINALITY AS t(conversation_id, seq, author_id, content, message_type, parent_message_id, metadata, client_id, ord)
      ), kids AS (
        SELECT conversation_id, parent_message_id, count(*)::int AS n FROM input
         WHERE parent_message_id IS NOT NULL GROUP BY conversation_id, parent_message_id
      ), ins AS (
        INSERT INTO messages (id, conversation_id, seq, author_id, content, message_type, parent_message_id, metadata, client_id, thread_count)
        SELECT i.id, i.conversation_id, i.seq, i.author_id, i.content, i.message_type::message_type, i.parent_message_id,
               i.metadata::jsonb, i.client_id, COALESCE(k.n, 0)
          FROM input i LEFT JOIN kids k ON k.conversation_id = i.conversation_id AND k.parent_message_id = i.id
         ORDER BY i.ord
        RETURNING id, uuid, created_at, conversation_id, seq
      ), threads AS (${bumpThreads('input')}
      )
      SELECT ins.id, ins.uuid, ins.created_at FROM ins JOIN input USING (conversation_id, seq) ORDER BY input.ord`,
  },
  joinRoom: {
    name: 'veza_join_room',
    // The cap and the insert in one round trip: `cap` counts the user's rooms (not DMs, not bans);
    // the insert happens only under the cap. One row always comes back: the membership if it was
    // inserted, else only the count (the caller then reads an existing membership, or refuses).
    text: `
      WITH cap AS (
        SELECT count(*)::int AS rooms FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.user_id = $2 AND NOT m.banned AND c.type <> 'direct_message'
      ), ins AS (
        INSERT INTO conversation_members (conversation_id, user_id, role)
        SELECT $1, $2, 'member' FROM cap WHERE cap.rooms < $3
        ON CONFLICT (conversation_id, user_id) DO NOTHING
        RETURNING ${MEMBER}
      )
      SELECT ins.*, cap.rooms, ins.user_id IS NOT NULL AS inserted FROM cap LEFT JOIN ins ON true`,
  },
  getMessage: { name: 'veza_get_message', text: `SELECT ${MESSAGE} FROM messages WHERE id = $1` },
  findByClientId: {
    name: 'veza_find_by_client_id',
    text: `SELECT ${MESSAGE} FROM messages WHERE author_id = $1 AND client_id = $2`,
  },
  findByClientIds: {
    name: 'veza_find_by_client_ids',
    text:
      `SELECT ${MESSAGE} FROM messages ` +
      `WHERE (author_id, client_id) IN (SELECT * FROM unnest($1::bigint[], $2::uuid[]))`,
  },
  usersByName: {
    name: 'veza_users_by_name',
    // users_username_key is on lower(username): one index probe per name.
    text: `SELECT id, username FROM users WHERE lower(username) = ANY($1::text[])`,
  },
  repliesBackward: {
    name: 'veza_replies_before',
    text: `SELECT ${MESSAGE} FROM messages WHERE parent_message_id = $1 AND conversation_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
  },
  repliesForward: {
    name: 'veza_replies_after',
    text: `SELECT ${MESSAGE} FROM messages WHERE parent_message_id = $1 AND conversation_id = $2 AND id > $3 AND id < $4 ORDER BY id ASC LIMIT $5`,
  },
  usernames: {
    name: 'veza_usernames',
    text: `SELECT id, username FROM users WHERE id = ANY($1::bigint[])`,
  },
  accountsCreated: {
    name: 'veza_accounts_created',
    text: `SELECT id, created_at FROM users WHERE id = ANY($1::bigint[])`,
  },
  pageBackward: {
    name: 'veza_messages_before',
    text: `SELECT ${MESSAGE} FROM messages WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
  },
  pageForward: {
    name: 'veza_messages_after',
    text: `SELECT ${MESSAGE} FROM messages WHERE conversation_id = $1 AND id > $2 AND id < $3 ORDER BY id ASC LIMIT $4`,
  },
  afterSeq: {
    name: 'veza_messages_after_seq',
    text: `SELECT ${MESSAGE} FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3`,
  },
  lastSeq: {
    name: 'veza_last_seq',
    text: `SELECT GREATEST(COALESCE((SELECT last_seq FROM conversations WHERE id = $1), 0),
                          COALESCE((SELECT max(seq) FROM messages WHERE conversation_id = $1), 0)) AS last_seq`,
  },
  getMember: {
    name: 'veza_get_member',
    text: `SELECT ${MEMBER} FROM conversation_members WHERE conversation_id = $1 AND user_id = $2`,
  },
  getConversation: { name: 'veza_get_conversation', text: `SELECT ${CONVERSATION} FROM conversations c WHERE c.id = $1` },
  getConversations: { name: 'veza_get_conversations', text: `SELECT ${CONVERSATION} FROM conversations c WHERE c.id = ANY($1::bigint[])` },
  getUser: { name: 'veza_get_user', text: `SELECT ${USER} FROM users WHERE id = $1` },
  getUserByUsername: {
    name: 'veza_get_user_by_username',
    text: `SELECT ${USER} FROM users WHERE lower(username) = lower($1)`,
  },
  getCredentials: {
    name: 'veza_get_credentials',
    text: `SELECT ${USER}, password_hash FROM users WHERE lower(username) = lower($1)`,
  },
  touchUser: { name: 'veza_touch_user', text: 'UPDATE users SET last_activity = now() WHERE id = $1' },
} as const;

function positiveInt(value: unknown, path: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new ChatError('validation_failed', `${path} must be an integer from 1 to ${max}`, {
      details: [{ path, message: `expected an integer from 1 to ${max}` }],
    });
  }
  return value;
}

export class PgStore implements Store {
  readonly backend: 'postgres' | 'pglite';
  readonly #pool: pg.Pool;
  readonly #replica: pg.Pool | null;
  readonly #beforeClose: (() => Promise<void>) | undefined;
  readonly #onClose: (() => Promise<void>) | undefined;
  readonly #copyMessages: NonNullable<PgStoreOptions['copyMessages']> | null;
  /** Message ids for COPY, which has no RETURNING. */
  readonly #ids: IdBlocks;
  #replicaDownUntil = 0;
  #closing: Promise<void> | null = null;

  constructor(opts: PgStoreOptions) {
    this.backend = opts.backend;
    this.#pool = opts.pool;
    this.#replica = opts.replica ?? null;
    this.#beforeClose = opts.beforeClose;
    this.#onClose = opts.onClose;
    this.#copyMessages = opts.copyMessages ?? null;
    this.#ids = new IdBlocks(async (n) => {
      const r = await this.#pool.query<{ last: string }>({ name: 'veza_reserve_ids', text: RESERVE_IDS, values: [n] });
      return Number(r.rows[0]!.last);
    });
  }

  // ---------------------------------------------------------------- users

  createUser(user: NewUser): Promise<User> {
    return this.#guard(async () => {
      const r = await this.#pool.query<User>(
        `INSERT INTO users (username, email, password_hash, role)
         VALUES ($1, $2, $3, COALESCE($4::user_role, 'user')) RETURNING ${USER}`,
        [user.username, user.email, user.passwordHash, user.role ?? null],
      );
      return r.rows[0]!;
    });
  }

  getUser(id: number): Promise<User | null> {
    return this.#guard(async () => this.#one<User>(this.#pool, { ...Q.getUser, values: [id] }));
  }

  /** Usernames are unique case-insensitively, and looked up the same way. */
  getUserByUsername(username: string): Promise<User | null> {
    return this.#guard(async () => this.#one<User>(this.#pool, { ...Q.getUserByUsername, values: [username] }));
  }

  getCredentials(username: string): Promise<UserCredentials | null> {
    return this.#guard(async () => this.#one<UserCredentials>(this.#pool, { ...Q.getCredentials, values: [username] }));
  }

  touchUser(id: number): Promise<void> {
    return this.#guard(async () => {
      await this.#pool.query({ ...Q.touchUser, values: [id] });
    });
  }

  // ---------------------------------------------------------------- refresh tokens

  insertRefreshToken(t: { userId: number; tokenHash: string; familyId: string; expiresAt: Date }): Promise<void> {
    return this.#guard(async () => {
      await this.#pool.query(
        'INSERT INTO refresh_tokens (user_id, token_hash, family_id, expires_at) VALUES ($1, $2, $3, $4)',
        [t.userId, t.tokenHash, t.familyId, t.expiresAt],
      );
    });
  }

  rotateRefreshToken(oldHash: string, newHash: string, expiresAt: Date, graceS: number): Promise<RotateResult> {
    return this.#guard(() => this.#tx((c) => authSql.rotateRefreshToken(c, oldHash, newHash, expiresAt, graceS)));
  }

  revokeRefreshToken(tokenHash: string): Promise<{ userId: number; familyId: string } | null> {
    return this.#guard(() => this.#tx((c) => authSql.revokeRefreshToken(c, tokenHash)));
  }

  revokeUserRefreshTokens(userId: number): Promise<string[]> {
    return this.#guard(() => this.#tx((c) => authSql.revokeUserRefreshTokens(c, userId)));
  }

  recentRevocations(since: Date): Promise<authSql.RevokedSession[]> {
    return this.#guard(() => authSql.recentRevocations(this.#pool, since));
  }

  setPasswordHash(userId: number, passwordHash: string): Promise<void> {
    return this.#guard(() => authSql.setPasswordHash(this.#pool, userId, passwordHash));
  }

  // ---------------------------------------------------------------- failed logins

  recordLoginFailure(userId: number): Promise<void> {
    return this.#guard(async () => {
      await this.#pool.query('INSERT INTO login_failures (user_id) VALUES ($1)', [userId]);
    });
  }

  loginFailures(userId: number, since: Date): Promise<{ count: number; oldest: Date | null }> {
    return this.#guard(async () => {
      const r = await this.#pool.query<{ count: number; oldest: string | null }>(
        'SELECT count(*)::int AS count, min(failed_at) AS oldest FROM login_failures WHERE user_id = $1 AND failed_at >= $2',
        [userId, since],
      );
      const row = r.rows[0]!;
      return { count: row.count, oldest: row.oldest === null ? null : new Date(row.oldest) };
    });
  }

  clearLoginFailures(userId: number): Promise<void> {
    return this.#guard(async () => {
      await this.#pool.query('DELETE FROM login_failures WHERE user_id = $1', [userId]);
    });
  }

  // ---------------------------------------------------------------- conversations

  /**
   * The room and its owner's membership (role owner) in one transaction. Private unless
   * `isPublic` (the seed's default); the type follows: public_room or private_room.
   */
  createRoom(room: NewRoom): Promise<Conversation> {
    return this.#guard(() =>
      this.#tx(async (c) => {
        const isPublic = room.isPublic ?? false;
        const r = await c.query<Conversation>(
          `INSERT INTO conversations AS c (name, description, type, is_public, owner_id, max_members)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING c.id, c.uuid, c.name, c.description, c.type, c.is_public, c.owner_id, c.max_members,
                     c.last_seq, c.created_at, c.updated_at`,
          [
            room.name,
            room.description ?? null,
            isPublic ? 'public_room' : 'private_room',
            isPublic,
            room.ownerId,
            room.maxMembers ?? null,
          ],
        );
        const conversation = r.rows[0]!;
        await c.query(`INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'owner')`, [
          conversation.id,
          room.ownerId,
        ]);
        return conversation;
      }),
    );
  }

  getConversation(id: number): Promise<Conversation | null> {
    return this.#guard(async () => this.#one<Conversation>(this.#pool, { ...Q.getConversation, values: [id] }));
  }

  getConversations(ids: readonly number[]): Promise<Map<number, Conversation>> {
    return this.#guard(async () => {
      if (ids.length === 0) return new Map();
      const r = await this.#pool.query<Conversation>({ ...Q.getConversations, values: [ids] });
      return new Map(r.rows.map((c) => [c.id, c]));
    });
  }

  /**
   * Public rooms, plus the rooms and DMs the user is a member of (not banned from), newest first.
   * Two index-backed sets united, rather than one OR over every conversation.
   */
  listVisibleRooms(userId: number, page: { before?: number | undefined; limit: number }): Promise<Conversation[]> {
    return this.#guard(async () => {
      positiveInt(page.limit, 'limit', 1000);
      // Newest first along the primary key, from the cursor on.
      const r = await this.#pool.query<Conversation>(
        `SELECT ${CONVERSATION} FROM conversations c
          WHERE c.type <> 'direct_message' AND ($2::bigint IS NULL OR c.id < $2)
            AND (c.is_public OR EXISTS (SELECT 1 FROM conversation_members m
                                         WHERE m.conversation_id = c.id AND m.user_id = $1 AND NOT m.banned))
          ORDER BY c.id DESC LIMIT $3`,
        [userId, page.before ?? null, page.limit],
      );
      return r.rows;
    });
  }

  listDms(userId: number, page: { before?: number | undefined; limit: number }): Promise<Array<{ conversation: Conversation; userIds: [number, number] }>> {
    return this.#guard(async () => {
      positiveInt(page.limit, 'limit', 1000);
      // Both sides of the pair are indexed (the primary key, dm_pairs_high_idx).
      const r = await this.#pool.query<Conversation & { user_low: string | number; user_high: string | number }>(
        `SELECT ${CONVERSATION}, p.user_low, p.user_high FROM dm_pairs p JOIN conversations c ON c.id = p.conversation_id
          WHERE (p.user_low = $1 OR p.user_high = $1) AND ($2::bigint IS NULL OR c.id < $2)
          ORDER BY c.id DESC LIMIT $3`,
        [userId, page.before ?? null, page.limit],
      );
      return r.rows.map(({ user_low, user_high, ...conversation }) => ({
        conversation: conversation as Conversation,
        userIds: [Number(user_low), Number(user_high)] as [number, number],
      }));
    });
  }

  /**
   * The pair's conversation, created with both memberships if it does not exist. Race-safe: the
   * pair's primary key in dm_pairs decides. A creator that loses the race (ON CONFLICT DO NOTHING
   * returns no row) rolls its own conversation back and reads the winner's.
   */
  getOrCreateDm(userA: number, userB: number): Promise<{ conversation: Conversation; created: boolean }> {
    return this.#guard(async () => {
      if (userA === userB) {
        throw new ChatError('validation_failed', 'a direct conversation needs two different users', {
          details: [{ path: 'user_id', message: 'must differ from the caller' }],
        });
      }
      const low = Math.min(userA, userB);
      const high = Math.max(userA, userB);
      const existing = await this.#dmOf(this.#pool, low, high);
      if (existing) return { conversation: existing, created: false };

      const c = await this.#pool.connect();
      let broken: unknown;
      try {
        await c.query('BEGIN');
        try {
          const conv = await c.query<Conversation>(
            `INSERT INTO conversations AS c (type, is_public) VALUES ('direct_message', false)
             RETURNING c.id, c.uuid, c.name, c.description, c.type, c.is_public, c.owner_id, c.max_members,
                       c.last_seq, c.created_at, c.updated_at`,
          );
          const conversation = conv.rows[0]!;
          const won = await c.query(
            `INSERT INTO dm_pairs (user_low, user_high, conversation_id) VALUES ($1, $2, $3)
             ON CONFLICT (user_low, user_high) DO NOTHING RETURNING conversation_id`,
            [low, high, conversation.id],
          );
          if (won.rowCount === 0) {
            await c.query('ROLLBACK');
          } else {
            await c.query(
              `INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'member'), ($1, $3, 'member')`,
              [conversation.id, low, high],
            );
            await c.query('COMMIT');
            return { conversation, created: true };
          }
        } catch (e) {
          await rollback(c, e).catch((re: unknown) => {
            broken = re;
          });
          throw e;
        }
        // Lost the race: the winner has committed (ON CONFLICT waited for it), so a new statement sees it.
        const winner = await this.#dmOf(c, low, high);
        if (!winner) throw new ChatError('internal', 'direct conversation vanished while being created');
        return { conversation: winner, created: false };
      } finally {
        c.release(broken as Error | undefined);
      }
    });
  }

  /**
   * Adds the user, or returns the existing membership unchanged (joining twice is not an error,
   * and a banned member stays banned: the caller checks `banned`).
   */
  addMember(conversationId: number, userId: number, role: MemberRole = 'member'): Promise<Member> {
    return this.#guard(async () => {
      const r = await this.#pool.query<Member>(
        `INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (conversation_id, user_id) DO NOTHING RETURNING ${MEMBER}`,
        [conversationId, userId, role],
      );
      if (r.rows[0]) return r.rows[0];
      const existing = await this.#one<Member>(this.#pool, { ...Q.getMember, values: [conversationId, userId] });
      // Removed between the two statements: report it rather than loop.
      if (!existing) throw new ChatError('conflict', 'membership changed concurrently; retry');
      return existing;
    });
  }

  /**
   * Deletes the membership; false when there is none. A banned membership is kept (false): the
   * row is the ban, and leaving must not lift it.
   */
  removeMember(conversationId: number, userId: number): Promise<boolean> {
    return this.#guard(async () => {
      const r = await this.#pool.query(
        'DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2 AND NOT banned',
        [conversationId, userId],
      );
      return (r.rowCount ?? 0) > 0;
    });
  }

  getMember(conversationId: number, userId: number): Promise<Member | null> {
    return this.#guard(async () => this.#one<Member>(this.#pool, { ...Q.getMember, values: [conversationId, userId] }));
  }

  /** Every membership row, banned ones included (the RoomActor loads bans from here), oldest first. */
  listMembers(conversationId: number): Promise<Member[]> {
    return this.#guard(async () => {
      const r = await this.#pool.query<Member>(
        `SELECT ${MEMBER} FROM conversation_members WHERE conversation_id = $1 ORDER BY joined_at, user_id`,
        [conversationId],
      );
      return r.rows;
    });
  }

  /** Rooms (not DMs) the user belongs to and is not banned from: what the rooms-per-user limit counts. */
  joinRoom(conversationId: number, userId: number, maxRooms: number): Promise<Member> {
    return this.#guard(async () => {
      const r = await this.#pool.query<Member & { rooms: number; inserted: boolean }>({ ...Q.joinRoom, values: [conversationId, userId, maxRooms] });
      const row = r.rows[0]!;
      if (row.inserted) {
        const { rooms: _rooms, inserted: _inserted, ...member } = row;
        return member;
      }
      const existing = await this.#one<Member>(this.#pool, { ...Q.getMember, values: [conversationId, userId] });
      if (existing) return existing;
      if (row.rooms >= maxRooms) throw new ChatError('forbidden', `a user may be in at most ${maxRooms} rooms`);
      // Neither inserted nor there: removed between the insert's conflict and the read.
      throw new ChatError('conflict', 'membership changed concurrently; retry');
    });
  }

  listPresenceTargets(userIds: readonly number[]): Promise<Map<number, { rooms: number[]; peers: number[] }>> {
    return this.#guard(async () => {
      const r = await this.#pool.query<{ user_id: number; id: number; peer: number | null }>(
        `SELECT m.user_id, m.conversation_id AS id, o.user_id AS peer
           FROM conversation_members m
           JOIN conversations c ON c.id = m.conversation_id
           LEFT JOIN conversation_members o
             ON c.type = 'direct_message' AND o.conversation_id = m.conversation_id AND o.user_id <> m.user_id
          WHERE m.user_id = ANY($1::bigint[]) AND NOT m.banned`,
        [userIds],
      );
      const out = new Map<number, { rooms: number[]; peers: number[] }>();
      for (const id of userIds) out.set(id, { rooms: [], peers: [] });
      for (const row of r.rows) {
        const t = out.get(row.user_id)!;
        if (row.peer !== null) t.peers.push(row.peer);
        else t.rooms.push(row.id);
      }
      return out;
    });
  }

  countMemberships(userId: number): Promise<number> {
    return this.#guard(async () => {
      const r = await this.#pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
          WHERE m.user_id = $1 AND NOT m.banned AND c.type <> 'direct_message'`,
        [userId],
      );
      return r.rows[0]!.n;
    });
  }

  // ---------------------------------------------------------------- read markers, room changes (./reads-sql.ts)

  markRead(userId: number, conversationId: number, messageId: number): Promise<reads.ReadMarker> {
    return this.#guard(() => reads.markRead(this.#pool, userId, conversationId, messageId));
  }

  unreadCounts(userId: number, conversationIds: readonly number[]): Promise<Map<number, number>> {
    return this.#guard(() => reads.unreadCounts(this.#pool, userId, conversationIds));
  }

  updateRoom(id: number, patch: reads.RoomPatch): Promise<Conversation | null> {
    return this.#guard(() => reads.updateRoom(this.#pool, id, patch));
  }

  deleteRoom(id: number): Promise<boolean> {
    return this.#guard(() => this.#tx((c) => reads.deleteRoom(c, id)));
  }

  // ---------------------------------------------------------------- messages

  insertMessages(batch: NewMessage[]): Promise<InsertedMessage[]> {
    return this.#guard(async () => {
      if (batch.length === 0) return [];
      const copy = this.#copyMessages;
      if (copy !== null) {
        const rows = copyBatch(batch, await this.#ids.take(batch.length), new Date());
        const { conversations, parents } = rows.replies;
        await copy(rows.data, parents.length > 0 ? { text: BUMP_THREADS, values: [conversations, parents] } : null);
        return rows.inserted;
      }
      const n = batch.length;
      const conv = new Array<number>(n);
      const seq = new Array<number>(n);
      const author = new Array<number>(n);
      const content = new Array<string>(n);
      const type = new Array<string>(n);
      const parent = new Array<number | null>(n);
      const metadata = new Array<string>(n);
      const clientId = new Array<string | null>(n);
      for (let i = 0; i < n; i++) {
        const m = batch[i]!;
        conv[i] = m.conversationId;
        seq[i] = m.seq;
        author[i] = m.authorId;
        content[i] = m.content;
        type[i] = m.messageType ?? 'text';
        parent[i] = m.parentMessageId ?? null;
        metadata[i] = JSON.stringify(m.metadata ?? {});
        clientId[i] = m.clientId ?? null;
      }
      const r = await this.#pool.query<InsertedMessage>({
        ...Q.insertMessages,
        values: [conv, seq, author, content, type, parent, metadata, clientId],
      });
      return r.rows;
    });
  }

  getMessage(id: number): Promise<Message | null> {
    return this.#guard(async () => this.#one<Message>(this.#pool, { ...Q.getMessage, values: [id] }));
  }

  findByClientId(authorId: number, clientId: string): Promise<Message | null> {
    return this.#guard(async () => this.#one<Message>(this.#pool, { ...Q.findByClientId, values: [authorId, clientId] }));
  }

  findByClientIds(pairs: ReadonlyArray<{ authorId: number; clientId: string }>): Promise<Message[]> {
    return this.#guard(async () => {
      if (pairs.length === 0) return [];
      const r = await this.#pool.query<Message>({
        ...Q.findByClientIds,
        values: [pairs.map((p) => p.authorId), pairs.map((p) => p.clientId)],
      });
      return r.rows;
    });
  }

  usernames(ids: readonly number[]): Promise<Map<number, string>> {
    return this.#guard(async () => {
      if (ids.length === 0) return new Map();
      const r = await this.#pool.query<{ id: number; username: string }>({ ...Q.usernames, values: [ids] });
      return new Map(r.rows.map((row) => [row.id, row.username]));
    });
  }

  accountsCreated(ids: readonly number[]): Promise<Map<number, number>> {
    return this.#guard(async () => {
      if (ids.length === 0) return new Map();
      const r = await this.#pool.query<{ id: number; created_at: Date | string }>({ ...Q.accountsCreated, values: [ids] });
      return new Map(r.rows.map((row) => [row.id, new Date(row.created_at).getTime()]));
    });
  }

  usersByName(names: readonly string[]): Promise<Map<string, number>> {
    return this.#guard(async () => {
      if (names.length === 0) return new Map();
      const lower = names.map((n) => n.toLowerCase());
      const r = await this.#pool.query<{ id: number; username: string }>({ ...Q.usersByName, values: [lower] });
      return new Map(r.rows.map((row) => [row.username.toLowerCase(), row.id]));
    });
  }

  /**
   * Cursor pagination by message id, oldest first in the page.
   * - `after` set: the `limit` oldest messages newer than it (and older than `before`, when also
   *   set); `next_cursor` is the page's newest id, to pass as `after`.
   * - otherwise: the `limit` newest messages older than `before` (or the latest ones);
   *   `next_cursor` is the page's oldest id, to pass as `before`.
   * One row more than asked tells whether there are more.
   */
  listMessages(conversationId: number, page: Page): Promise<MessagePage> {
    return this.#guard(async () => {
      const limit = positiveInt(page.limit, 'limit', 100);
      if (page.before !== undefined) positiveInt(page.before, 'before');
      // `after` 0: from the start (no message has id 0).
      if (page.after !== undefined && page.after !== 0) positiveInt(page.after, 'after');
      const before = page.before ?? MAX_ID;
      if (page.after !== undefined) {
        const rows = await this.#read<Message>({ ...Q.pageForward, values: [conversationId, page.after, before, limit + 1] });
        const has_more = rows.length > limit;
        const messages = has_more ? rows.slice(0, limit) : rows;
        return { messages, has_more, next_cursor: has_more ? messages[messages.length - 1]!.id : null };
      }
      const rows = await this.#read<Message>({ ...Q.pageBackward, values: [conversationId, before, limit + 1] });
      const has_more = rows.length > limit;
      const messages = (has_more ? rows.slice(0, limit) : rows).reverse();
      return { messages, has_more, next_cursor: has_more ? messages[0]!.id : null };
    });
  }

  /** A thread's replies (`parent_message_id` = `parentId` in the conversation), paged as listMessages. */
  listReplies(conversationId: number, parentId: number, page: Page): Promise<MessagePage> {
    return this.#guard(async () => {
      const limit = positiveInt(page.limit, 'limit', 100);
      if (page.before !== undefined) positiveInt(page.before, 'before');
      // `after` 0: from the first reply, as listMessages.
      if (page.after !== undefined && page.after !== 0) positiveInt(page.after, 'after');
      const before = page.before ?? MAX_ID;
      if (page.after !== undefined) {
        const rows = await this.#read<Message>({ ...Q.repliesForward, values: [parentId, conversationId, page.after, before, limit + 1] });
        const has_more = rows.length > limit;
        const messages = has_more ? rows.slice(0, limit) : rows;
        return { messages, has_more, next_cursor: has_more ? messages[messages.length - 1]!.id : null };
      }
      const rows = await this.#read<Message>({ ...Q.repliesBackward, values: [parentId, conversationId, before, limit + 1] });
      const has_more = rows.length > limit;
      const messages = (has_more ? rows.slice(0, limit) : rows).reverse();
      return { messages, has_more, next_cursor: has_more ? messages[0]!.id : null };
    });
  }

  /**
   * From the primary: resume must return every event up to the seq the RoomActor reports, and a
   * lagging replica would silently leave a gap.
   */
  messagesAfterSeq(conversationId: number, afterSeq: number, limit: number): Promise<Message[]> {
    return this.#guard(async () => {
      positiveInt(limit, 'limit', 100_000);
      return (await this.#pool.query<Message>({ ...Q.afterSeq, values: [conversationId, afterSeq, limit] })).rows;
    });
  }

  applyChange(conversationId: number, seq: number, c: StateChange, data: Record<string, unknown>): Promise<ChangeOutcome> {
    return this.#guard(async () => {
      const head = [conversationId, seq, c.messageId, JSON.stringify(data)];
      const values =
        c.type === 'message_edited'
          ? [...head, c.content, c.at]
          : c.type === 'message_deleted'
            ? [...head, c.by, c.at]
            : c.type === 'reaction_added' || c.type === 'reaction_removed'
              ? [...head, c.userId, c.emoji]
              : [...head, c.userId];
      const r = await this.#pool.query<{ edit_count?: number }>({ ...CHANGES[c.type], values });
      const row = r.rows[0];
      if (row === undefined) return { applied: false };
      return row.edit_count === undefined ? { applied: true } : { applied: true, editCount: row.edit_count };
    });
  }

  /** From the primary, as messagesAfterSeq: a resume must not see a gap. */
  eventsAfterSeq(conversationId: number, afterSeq: number, toSeq: number): Promise<StoredEvent[]> {
    return this.#guard(async () => (await this.#pool.query<StoredEvent>({ ...Q.eventsAfterSeq, values: [conversationId, afterSeq, toSeq] })).rows);
  }

  pinnedMessages(conversationId: number): Promise<Message[]> {
    return this.#guard(async () => this.#read<Message>({ ...Q.pinnedMessages, values: [conversationId] }));
  }

  reactionsFor(messageIds: readonly number[]): Promise<Reaction[]> {
    return this.#guard(async () => {
      if (messageIds.length === 0) return [];
      return this.#read<Reaction>({ ...Q.reactionsFor, values: [messageIds] });
    });
  }

  /** From the primary always: the RoomActor continues its sequence from this. 0 when empty or unknown. */
  lastSeq(conversationId: number): Promise<number> {
    return this.#guard(async () => {
      const r = await this.#pool.query<{ last_seq: number }>({ ...Q.lastSeq, values: [conversationId] });
      return r.rows[0]!.last_seq;
    });
  }

  // ---------------------------------------------------------------- moderation (./moderation-sql.ts)

  setMemberRole(conversationId: number, userId: number, role: MemberRole, audit: AuditEntry): Promise<Member | null> {
    return this.#guard(() => this.#tx((c) => mod.setMemberRole(c, conversationId, userId, role, audit)));
  }

  kickMember(conversationId: number, userId: number, audit: AuditEntry): Promise<boolean> {
    return this.#guard(() => this.#tx((c) => mod.kickMember(c, conversationId, userId, audit)));
  }

  banMember(conversationId: number, userId: number, ban: mod.RoomBan, audit: AuditEntry): Promise<Member> {
    return this.#guard(() => this.#tx((c) => mod.banMember(c, conversationId, userId, ban, audit)));
  }

  unbanMember(conversationId: number, userId: number, audit: AuditEntry | null): Promise<boolean> {
    return this.#guard(() => this.#tx((c) => mod.unbanMember(c, conversationId, userId, audit)));
  }

  muteMember(conversationId: number, userId: number, mute: mod.RoomMute, audit: AuditEntry): Promise<Member | null> {
    return this.#guard(() => this.#tx((c) => mod.muteMember(c, conversationId, userId, mute, audit)));
  }

  listSanctions(conversationId: number, kind: 'bans' | 'mutes', page: { before?: number | undefined; limit: number }): Promise<Sanction[]> {
    return this.#guard(() => mod.listSanctions(this.#pool, conversationId, kind, page));
  }

  setUserRole(userId: number, role: UserRole, audit: AuditEntry): Promise<User | null> {
    return this.#guard(() => this.#tx((c) => mod.setUserRole(c, userId, role, audit)));
  }

  banUser(userId: number, ban: mod.UserBan, audit: AuditEntry): Promise<User | null> {
    return this.#guard(() => this.#tx((c) => mod.banUser(c, userId, ban, audit)));
  }

  unbanUser(userId: number, audit: AuditEntry): Promise<User | null> {
    return this.#guard(() => this.#tx((c) => mod.unbanUser(c, userId, audit)));
  }

  // ---------------------------------------------------------------- audit, health

  audit(entry: AuditEntry): Promise<void> {
    return this.#guard(async () => {
      await this.#pool.query(
        `INSERT INTO audit_log (actor_id, action, target_type, target_id, details, ip) VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          entry.actorId,
          entry.action,
          entry.targetType ?? null,
          entry.targetId ?? null,
          JSON.stringify(entry.details ?? {}),
          entry.ip ?? null,
        ],
      );
    });
  }

  listAudit(filter: authSql.AuditFilter): Promise<authSql.AuditRecord[]> {
    return this.#guard(() => authSql.listAudit(this.#pool, filter));
  }

  ping(): Promise<void> {
    return this.#guard(async () => {
      await this.#pool.query('SELECT 1');
    });
  }

  /** Ends the pools, then runs the backend's own close (idempotent). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#beforeClose) await this.#beforeClose();
      const ends = [this.#pool.end()];
      if (this.#replica) ends.push(this.#replica.end());
      const results = await Promise.allSettled(ends);
      if (this.#onClose) await this.#onClose();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw toChatError(failed.reason);
    })();
    return this.#closing;
  }

  // ---------------------------------------------------------------- helpers

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new ChatError('internal', 'store is closed');
    try {
      return await fn();
    } catch (e) {
      throw toChatError(e);
    }
  }

  async #one<T extends pg.QueryResultRow>(db: pg.Pool | pg.PoolClient, q: pg.QueryConfig): Promise<T | null> {
    const r = await db.query<T>(q);
    return r.rows[0] ?? null;
  }

  async #dmOf(db: pg.Pool | pg.PoolClient, low: number, high: number): Promise<Conversation | null> {
    return this.#one<Conversation>(db, {
      name: 'veza_dm_of',
      text: `SELECT ${CONVERSATION} FROM dm_pairs p JOIN conversations c ON c.id = p.conversation_id
              WHERE p.user_low = $1 AND p.user_high = $2`,
      values: [low, high],
    });
  }

  /**
   * A read that may lag goes to the replica; if the replica cannot be reached it goes to the
   * primary, and the replica is left alone for REPLICA_RETRY_MS so a dead replica does not add
   * a failed connection attempt to every read.
   */
  async #read<T extends pg.QueryResultRow>(q: pg.QueryConfig): Promise<T[]> {
    const replica = this.#replica;
    if (replica && Date.now() >= this.#replicaDownUntil) {
      try {
        return (await replica.query<T>(q)).rows;
      } catch (e) {
        if (!isConnectionFailure(e)) throw e;
        this.#replicaDownUntil = Date.now() + REPLICA_RETRY_MS;
        log.warn('store: replica unreachable, reading from the primary', {
          retryInMs: REPLICA_RETRY_MS,
          err: e instanceof Error ? e : new Error(String(e)),
        });
      }
    }
    return (await this.#pool.query<T>(q)).rows;
  }

  /** See `inTransaction`. */
  #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, fn);
  }
}

