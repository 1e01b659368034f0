/**
 * Rows as the store returns them. BIGINT ids come back as JS numbers (ids stay far below 2^53);
 * timestamps as ISO-8601 strings, so rows cross thread boundaries and the wire unchanged.
 */
export type UserRole = 'user' | 'moderator' | 'admin';
export type ConversationType = 'public_room' | 'private_room' | 'direct_message';
export type MessageType = 'text' | 'image' | 'file' | 'system';
export type MessageStatus = 'sent' | 'delivered' | 'read' | 'edited' | 'deleted';
export type MemberRole = 'owner' | 'moderator' | 'member';

export interface User {
  id: number;
  username: string;
  email: string;
  role: UserRole;
  is_active: boolean;
  last_activity: string | null;
  created_at: string;
  updated_at: string;
  /** A global ban (migrations/0008): when it was set (null: not banned), and its end (null: permanent). */
  banned_at: string | null;
  banned_until: string | null;
}

/** A user with the password hash, for login only. Never serialised to a client. */
export interface UserCredentials extends User {
  password_hash: string;
}

export interface NewUser {
  username: string;
  email: string;
  passwordHash: string;
  role?: UserRole;
}

export interface Conversation {
  id: number;
  uuid: string;
  name: string | null;
  description: string | null;
  type: ConversationType;
  is_public: boolean;
  owner_id: number | null;
  max_members: number | null;
  /** Highest `seq` stored for this conversation (0 when empty). */
  last_seq: number;
  created_at: string;
  updated_at: string;
}

export interface NewRoom {
  name: string;
  description?: string | null;
  isPublic?: boolean;
  ownerId: number;
  maxMembers?: number | null;
}

export interface Member {
  conversation_id: number;
  user_id: number;
  role: MemberRole;
  joined_at: string;
  muted_until: string | null;
  banned: boolean;
  /** The end of a timed ban (null: permanent, or not banned). */
  banned_until: string | null;
}

/** A room ban or mute in force, as `GET /rooms/:id/bans|mutes` lists it (moderation-sql.ts). */
export interface Sanction {
  user_id: number;
  username: string;
  /** The end (null: a permanent ban). */
  until: string | null;
  reason: string | null;
  by: number | null;
  /** When the ban was set (null for mutes: not recorded). */
  at: string | null;
}

export interface Message {
  id: number;
  uuid: string;
  conversation_id: number;
  seq: number;
  author_id: number;
  content: string;
  message_type: MessageType;
  parent_message_id: number | null;
  thread_count: number;
  status: MessageStatus;
  is_edited: boolean;
  edit_count: number;
  is_pinned: boolean;
  metadata: Record<string, unknown>;
  client_id: string | null;
  created_at: string;
  updated_at: string;
  edited_at: string | null;
  /** Set when deleted: the row is a tombstone (content emptied) that keeps its seq. */
  deleted_at: string | null;
}

/** The changes that take a conversation's seq after a message is written (conversation_events). */
export type StateChange =
  | { type: 'message_edited'; messageId: number; content: string; at: string }
  | { type: 'message_deleted'; messageId: number; by: number; at: string }
  | { type: 'reaction_added' | 'reaction_removed'; messageId: number; userId: number; emoji: string }
  | { type: 'message_pinned' | 'message_unpinned'; messageId: number; userId: number };

export type StateEventType = StateChange['type'];

/** A stored state event, as `resume` replays it: its seq, type and wire data. */
export interface StoredEvent {
  seq: number;
  type: StateEventType;
  data: Record<string, unknown>;
}

/** What `applyChange` did: nothing (the state already was so), or the change with its seq. */
export type ChangeOutcome = { applied: false } | { applied: true; editCount?: number };

export interface Reaction {
  message_id: number;
  user_id: number;
  emoji: string;
}

/** One row of a batch insert; `seq` is assigned by the conversation's owner before the insert. */
export interface NewMessage {
  conversationId: number;
  seq: number;
  authorId: number;
  content: string;
  messageType?: MessageType;
  parentMessageId?: number | null;
  metadata?: Record<string, unknown>;
  clientId?: string | null;
}

export interface InsertedMessage {
  id: number;
  uuid: string;
  created_at: string;
}

export interface Page {
  /** Message id cursor: rows strictly older than it. */
  before?: number;
  /** Message id cursor: rows strictly newer than it. */
  after?: number;
  /** 1..100. */
  limit: number;
}

export interface MessagePage {
  /** Oldest first. */
  messages: Message[];
  has_more: boolean;
  /** Pass as `before` (or `after` when paging forward) for the next page; null when no more. */
  next_cursor: number | null;
}

/** What rotating a refresh token came to. */
export type RotateResult =
  /** `issuedAt`: when the new token was stored; `retried`: the same rotation again, within its grace window. */
  | { kind: 'rotated'; userId: number; familyId: string; issuedAt: Date; retried: boolean }
  /** The token was already spent: its whole family is now revoked. */
  | { kind: 'reused'; userId: number; familyId: string }
  /** Unknown, expired or revoked. */
  | { kind: 'invalid' };

export interface AuditEntry {
  actorId: number | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  details?: Record<string, unknown>;
  ip?: string | null;
}
