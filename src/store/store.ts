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
  RotateResult,
  Sanction,
  StateChange,
  StoredEvent,
  User,
  UserCredentials,
  UserRole,
} from './types.js';
import type { RoomBan, RoomMute, UserBan } from './moderation-sql.js';
import type { ReadMarker, RoomPatch } from './reads-sql.js';
import type { AuditFilter, AuditRecord, RevokedSession } from './auth-sql.js';

/**
 * The one storage interface. Written once against `pg`: PostgreSQL and embedded PGlite differ only
 * in how the pool is opened (see ./open.ts). Errors the client should see are ChatErrors
 * (`conflict` for a duplicate username or e-mail, `not_found`); anything else is `internal`.
 */
export interface Store {
  readonly backend: 'postgres' | 'pglite' | 'remote';

  // Users
  createUser(user: NewUser): Promise<User>;
  getUser(id: number): Promise<User | null>;
  getUserByUsername(username: string): Promise<User | null>;
  getCredentials(username: string): Promise<UserCredentials | null>;
  touchUser(id: number): Promise<void>;
  /** Usernames of the given ids (unknown ids are absent). */
  usernames(ids: readonly number[]): Promise<Map<number, string>>;
  /** When each account was created (epoch ms); unknown ids are absent. One query for many users. */
  accountsCreated(ids: readonly number[]): Promise<Map<number, number>>;
  /** User ids by username, matched case-insensitively; keys are the lower-cased names (unknown names are absent). */
  usersByName(names: readonly string[]): Promise<Map<string, number>>;

  // Refresh tokens: stored as hashes; one family per login.
  insertRefreshToken(t: { userId: number; tokenHash: string; familyId: string; expiresAt: Date }): Promise<void>;
  /**
   * Atomically spend `oldHash` and store `newHash` in its family; a spent token revokes the family,
   * unless it is the same rotation again within `graceS` seconds (./auth-sql.ts).
   */
  rotateRefreshToken(oldHash: string, newHash: string, expiresAt: Date, graceS: number): Promise<RotateResult>;
  /** Revoke the token's family (logout): its user and family, or null when the token is unknown. */
  revokeRefreshToken(tokenHash: string): Promise<{ userId: number; familyId: string } | null>;
  /** Revoke every open session (family) of the user; the families revoked. */
  revokeUserRefreshTokens(userId: number): Promise<string[]>;
  /** Sessions revoked since `since` (not rotations): the revocation set at start. */
  recentRevocations(since: Date): Promise<RevokedSession[]>;
  setPasswordHash(userId: number, passwordHash: string): Promise<void>;

  // Failed logins, counted per account across threads and nodes.
  recordLoginFailure(userId: number): Promise<void>;
  /** Failures since `since`, and the oldest of them (for Retry-After). */
  loginFailures(userId: number, since: Date): Promise<{ count: number; oldest: Date | null }>;
  clearLoginFailures(userId: number): Promise<void>;

  // Conversations and membership
  createRoom(room: NewRoom): Promise<Conversation>;
  getConversation(id: number): Promise<Conversation | null>;
  /** Those of `ids` that exist, by id (one query: rooms activated together, src/actors/room.ts). */
  getConversations(ids: readonly number[]): Promise<Map<number, Conversation>>;
  /**
   * The rooms the user may see (public ones, and the private ones it is a member of and not banned
   * from), newest first (by id), from `before` (an id, exclusive) on. DMs: listDms.
   */
  listVisibleRooms(userId: number, page: { before?: number | undefined; limit: number }): Promise<Conversation[]>;
  /** The user's direct conversations, newest first (by id) from `before` on, each with its two users (lower id first). */
  listDms(userId: number, page: { before?: number | undefined; limit: number }): Promise<Array<{ conversation: Conversation; userIds: [number, number] }>>;
  /** The same pair always gets the same conversation. */
  getOrCreateDm(userA: number, userB: number): Promise<{ conversation: Conversation; created: boolean }>;
  addMember(conversationId: number, userId: number, role?: MemberRole): Promise<Member>;
  /**
   * A user joins a room as a member, in one statement with the cap on the rooms a user may be in
   * (`maxRooms`, rooms only, bans not counted): `forbidden` past the cap; an existing membership
   * (banned included) is returned unchanged.
   */
  joinRoom(conversationId: number, userId: number, maxRooms: number): Promise<Member>;
  removeMember(conversationId: number, userId: number): Promise<boolean>;
  getMember(conversationId: number, userId: number): Promise<Member | null>;
  listMembers(conversationId: number): Promise<Member[]>;
  countMemberships(userId: number): Promise<number>;
  /**
   * Where each user's presence goes: the rooms they are a member of (not banned), the other users
   * of their DMs. Many users in one query: a burst of connections asks for thousands at once.
   */
  listPresenceTargets(userIds: readonly number[]): Promise<Map<number, { rooms: number[]; peers: number[] }>>;

  // Read markers and room changes (./reads-sql.ts)
  /**
   * Move the user's read marker in the conversation to `messageId`, never backwards (a marker
   * already at or past it stays): the marker in force after the call. The caller checks that the
   * message belongs to the conversation.
   */
  markRead(userId: number, conversationId: number, messageId: number): Promise<ReadMarker>;
  /** Per conversation of the list: messages after the user's marker not written by the user (capped). One query. */
  unreadCounts(userId: number, conversationIds: readonly number[]): Promise<Map<number, number>>;
  /** Change a room's settings; null when there is no such room. */
  updateRoom(id: number, patch: RoomPatch): Promise<Conversation | null>;
  /** Delete a room with its messages, memberships and markers; false when there was none. */
  deleteRoom(id: number): Promise<boolean>;

  // Messages
  /** One statement over `unnest` for the whole batch, in input order. */
  insertMessages(batch: NewMessage[]): Promise<InsertedMessage[]>;
  getMessage(id: number): Promise<Message | null>;
  findByClientId(authorId: number, clientId: string): Promise<Message | null>;
  /** Every stored message matching one of the (author, client_id) pairs: one query for a batch. */
  findByClientIds(pairs: ReadonlyArray<{ authorId: number; clientId: string }>): Promise<Message[]>;
  listMessages(conversationId: number, page: Page): Promise<MessagePage>;
  /** The replies to `parentId` in the conversation, oldest first, by id cursor as listMessages. */
  listReplies(conversationId: number, parentId: number, page: Page): Promise<MessagePage>;
  /** Messages with seq > afterSeq, oldest first, at most `limit`. */
  messagesAfterSeq(conversationId: number, afterSeq: number, limit: number): Promise<Message[]>;
  lastSeq(conversationId: number): Promise<number>;
  /**
   * Apply `change` with `seq` and record it as the event `data` (to which an edit adds
   * `edit_count`), in one statement: all or nothing. `applied: false`, and no seq taken, when the
   * state already was so (a reaction already there, a message already deleted or not in the
   * conversation).
   */
  applyChange(conversationId: number, seq: number, change: StateChange, data: Record<string, unknown>): Promise<ChangeOutcome>;
  /** State events with seq > afterSeq and <= toSeq, oldest first. */
  eventsAfterSeq(conversationId: number, afterSeq: number, toSeq: number): Promise<StoredEvent[]>;
  /** The conversation's pinned messages, the latest pin first (at most 100). */
  pinnedMessages(conversationId: number): Promise<Message[]>;
  /** The reactions to these messages. */
  reactionsFor(messageIds: readonly number[]): Promise<Reaction[]>;

  // Moderation (./moderation-sql.ts). Each write and its audit entry are one transaction; the entry
  // is written only when the write changed something.
  /** A member's role in a room (not a banned row's); null when the user is not a member. */
  setMemberRole(conversationId: number, userId: number, role: MemberRole, audit: AuditEntry): Promise<Member | null>;
  /** Removes a membership (not a ban); false when the user was not a member. */
  kickMember(conversationId: number, userId: number, audit: AuditEntry): Promise<boolean>;
  /** Bans the user from the room, member or not (the row stays as the ban). */
  banMember(conversationId: number, userId: number, ban: RoomBan, audit: AuditEntry): Promise<Member>;
  /** Lifts a ban (deletes the banned row); false when there was none. `audit` null: an expired ban cleared. */
  unbanMember(conversationId: number, userId: number, audit: AuditEntry | null): Promise<boolean>;
  /** Sets (`until` null: lifts) a member's mute; null when the user is not a member. */
  muteMember(conversationId: number, userId: number, mute: RoomMute, audit: AuditEntry): Promise<Member | null>;
  /** Bans or mutes in force, highest user id first, from `before` (a user id, exclusive) on. */
  listSanctions(conversationId: number, kind: 'bans' | 'mutes', page: { before?: number | undefined; limit: number }): Promise<Sanction[]>;
  /** A user's global role; null when there is no such user. */
  setUserRole(userId: number, role: UserRole, audit: AuditEntry): Promise<User | null>;
  /** A global ban; null when there is no such user. */
  banUser(userId: number, ban: UserBan, audit: AuditEntry): Promise<User | null>;
  /** Lifts a global ban; null when there is no such user. */
  unbanUser(userId: number, audit: AuditEntry): Promise<User | null>;

  // Audit
  audit(entry: AuditEntry): Promise<void>;
  /** Audit entries, newest first by id, filtered (./auth-sql.ts). */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]>;

  /** Database reachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
