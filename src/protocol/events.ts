import type { ErrorCode, ErrorDetail } from '../errors.js';
import type { Conversation, ConversationType, Message, MessageType, User, UserRole } from '../store/types.js';

/**
 * Server events of PROTOCOL.md ("Server events"): the `data` of each, and the wire objects they
 * carry (message, room, user). Fields PROTOCOL.md names are spelled as it spells them; the rest
 * are this file's choice, documented where they are defined.
 *
 * `seq`: every event that changes a conversation's stored state (message, edit, delete, reaction,
 * pin) carries the conversation's `seq` for that change. For `message` it is the message's own
 * `seq`; the other stateful events carry `conversation_id` and `seq` in their data. `typing`,
 * `presence`, `read` and membership events carry none.
 */

/** The message object, in `message`, `history` and REST. Key order as PROTOCOL.md. */
export interface WireMessage {
  id: number;
  uuid: string;
  conversation_id: number;
  /** Present for rooms (equal to conversation_id), absent for DMs. */
  room_id?: number;
  seq: number;
  author_id: number;
  /** The author's username. */
  author: string;
  content: string;
  message_type: MessageType;
  parent_message_id: number | null;
  thread_count: number;
  is_edited: boolean;
  edit_count: number;
  is_pinned: boolean;
  metadata: Record<string, unknown>;
  client_id: string | null;
  /** ISO-8601, UTC, milliseconds: `2026-01-15T10:30:00.000Z`. */
  created_at: string;
  /** When last edited; null if never. */
  edited_at: string | null;
  /** A tombstone: the content is gone (empty), the seq stays. */
  is_deleted: boolean;
  /** Per emoji, in the order first used: how many reacted, and whether the reader did. */
  reactions: ReactionSummary[];
}

export interface ReactionSummary {
  emoji: string;
  count: number;
  /** The user reading the message reacted with it (false in live `message` events). */
  reacted: boolean;
}

/** A user as others see it (no e-mail). */
export interface WireUser {
  id: number;
  username: string;
  role: UserRole;
}

/** A room as `joined` and REST return it. `last_seq` is the room's highest seq. */
export interface WireRoom {
  id: number;
  uuid: string;
  name: string | null;
  description: string | null;
  type: Exclude<ConversationType, 'direct_message'>;
  is_public: boolean;
  owner_id: number | null;
  max_members: number | null;
  last_seq: number;
  created_at: string;
  updated_at: string;
}

/** Where a conversation event happened: rooms also name `room_id` (the same id), DMs do not. */
interface InConversation {
  conversation_id: number;
  room_id?: number;
}

export interface AuthenticatedData {
  user: WireUser;
  session_id: string;
  heartbeat_ms: number;
}
export interface JoinedData {
  room_id: number;
  room: WireRoom;
  last_seq: number;
}
export interface LeftData {
  room_id: number;
}
export type MessageData = WireMessage;
export interface MessageEditedData extends InConversation {
  seq: number;
  message_id: number;
  content: string;
  is_edited: true;
  edit_count: number;
  edited_at: string;
}
export interface MessageDeletedData extends InConversation {
  seq: number;
  message_id: number;
  /** Who deleted it: the author, a room moderator or an admin. */
  deleted_by: number;
}
export interface ReactionData extends InConversation {
  seq: number;
  message_id: number;
  user_id: number;
  emoji: string;
}
export interface PinData {
  conversation_id: number;
  room_id: number;
  seq: number;
  message_id: number;
  /** Who pinned or unpinned it. */
  user_id: number;
}
export interface TypingData extends InConversation {
  user_id: number;
  username: string;
  state: 'start' | 'stop';
}
export interface ReadData {
  conversation_id: number;
  user_id: number;
  message_id: number;
}
export type PresenceStatus = 'online' | 'away' | 'offline';
export interface PresenceData {
  user_id: number;
  status: PresenceStatus;
  /** When the user last changed status or said what it is (ISO 8601). */
  last_activity?: string;
}
export interface MemberJoinedData {
  room_id: number;
  user_id: number;
  username: string;
}
export interface MemberLeftData {
  room_id: number;
  user_id: number;
  /** Why: left on their own, kicked, or banned. */
  reason: 'left' | 'kicked' | 'banned';
}
/** A member's role or mute changed (moderation): the member's standing as it is now. */
export interface MemberUpdatedData {
  room_id: number;
  user_id: number;
  role: 'owner' | 'moderator' | 'member';
  /** The end of the member's mute, or null when not muted. */
  muted_until: string | null;
}
/** A room's settings changed (PATCH /rooms/:id): the room as it is now. */
export interface RoomUpdatedData {
  room: WireRoom;
}
/** A room was deleted (DELETE /rooms/:id): its history is gone and its sockets unsubscribed. */
export interface RoomDeletedData {
  room_id: number;
}
export interface DmCreatedData {
  conversation_id: number;
  /** The pair, ascending. */
  user_ids: [number, number];
  /** The DM's last seq when the event was made (0 for a new DM): its later events follow. */
  last_seq: number;
  /** This `create_dm` created the DM (false: it existed). */
  created: boolean;
}
export interface HistoryData {
  conversation_id: number;
  /** Oldest first. */
  messages: WireMessage[];
  has_more: boolean;
  /** Pass as `before` (or `after` when paging forward) for the next page; null when no more. */
  next_cursor: number | null;
}
export interface ResumedData {
  conversation_id: number;
  /** False when `from_seq` is older than what the server keeps: reload with fetch_history. */
  recovered: boolean;
  /** The client's last seen seq; replayed events start after it. */
  from_seq: number;
  /** The conversation's seq when the replay was taken; the last replayed event has it. */
  to_seq: number;
  /**
   * This socket gets the conversation's live events after the replay (a member of the room, a
   * DM's user). False for a public room the user only reads: `join_room` to listen.
   */
  live: boolean;
}
/** What an `ack` carries depends on the operation (e.g. the stored message for send_message); `{}` when nothing. */
export type AckData = object;
export interface ErrorData {
  code: ErrorCode;
  message: string;
  retry_after_ms?: number;
  details?: ErrorDetail[];
}

/** `data` of every server event. `pong` has none (`{"type":"pong"}`). */
export interface ServerEventDataMap {
  authenticated: AuthenticatedData;
  joined: JoinedData;
  left: LeftData;
  message: MessageData;
  message_edited: MessageEditedData;
  message_deleted: MessageDeletedData;
  reaction_added: ReactionData;
  reaction_removed: ReactionData;
  message_pinned: PinData;
  message_unpinned: PinData;
  typing: TypingData;
  read: ReadData;
  presence: PresenceData;
  member_joined: MemberJoinedData;
  member_left: MemberLeftData;
  member_updated: MemberUpdatedData;
  dm_created: DmCreatedData;
  room_updated: RoomUpdatedData;
  room_deleted: RoomDeletedData;
  history: HistoryData;
  resumed: ResumedData;
  ack: AckData;
  error: ErrorData;
  pong: undefined;
}

export type ServerEventType = keyof ServerEventDataMap;

/** A server frame: `reply_to` on `ack` and on an `error` that answers a request with an `id`. */
export type ServerEvent = {
  [K in ServerEventType]: { type: K; reply_to?: string; data: ServerEventDataMap[K] };
}[ServerEventType];

// ---------------------------------------------------------------------------------------------
// Row → wire

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A timestamp as `2026-01-15T10:30:00.000Z`, whatever form the driver returned it in. */
function toIso(t: string | Date): string {
  if (typeof t === 'string' && ISO_MS.test(t)) return t;
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) throw new RangeError(`not a timestamp: ${String(t)}`);
  return d.toISOString();
}

/** The PROTOCOL message object of a row: `room_id` for rooms only, `created_at` in ISO form. */
export function toWireMessage(row: Message, conv: { type: ConversationType }, authorName: string): WireMessage {
  const isRoom = conv.type !== 'direct_message';
  // Two literals rather than a conditional property: each keeps one hidden class and the key
  // order of PROTOCOL.md, which JSON.stringify and msgpackr then follow.
  if (isRoom) {
    return {
      id: row.id,
      uuid: row.uuid,
      conversation_id: row.conversation_id,
      room_id: row.conversation_id,
      seq: row.seq,
      author_id: row.author_id,
      author: authorName,
      content: row.content,
      message_type: row.message_type,
      parent_message_id: row.parent_message_id ?? null,
      thread_count: row.thread_count,
      is_edited: row.is_edited,
      edit_count: row.edit_count,
      is_pinned: row.is_pinned,
      metadata: row.metadata ?? {},
      client_id: row.client_id ?? null,
      created_at: toIso(row.created_at),
      edited_at: row.edited_at == null ? null : toIso(row.edited_at),
      is_deleted: row.deleted_at != null,
      reactions: [],
    };
  }
  return {
    id: row.id,
    uuid: row.uuid,
    conversation_id: row.conversation_id,
    seq: row.seq,
    author_id: row.author_id,
    author: authorName,
    content: row.content,
    message_type: row.message_type,
    parent_message_id: row.parent_message_id ?? null,
    thread_count: row.thread_count,
    is_edited: row.is_edited,
    edit_count: row.edit_count,
    is_pinned: row.is_pinned,
    metadata: row.metadata ?? {},
    client_id: row.client_id ?? null,
    created_at: toIso(row.created_at),
    edited_at: row.edited_at == null ? null : toIso(row.edited_at),
    is_deleted: row.deleted_at != null,
    reactions: [],
  };
}

export function toWireUser(user: Pick<User, 'id' | 'username' | 'role'>): WireUser {
  return { id: user.id, username: user.username, role: user.role };
}

/** A room conversation as the wire shows it. A DM is not a room: that is a caller's bug. */
export function toWireRoom(conv: Conversation): WireRoom {
  if (conv.type === 'direct_message') throw new TypeError(`conversation ${conv.id} is a DM, not a room`);
  return {
    id: conv.id,
    uuid: conv.uuid,
    name: conv.name,
    description: conv.description,
    type: conv.type,
    is_public: conv.is_public,
    owner_id: conv.owner_id,
    max_members: conv.max_members,
    last_seq: conv.last_seq,
    created_at: toIso(conv.created_at),
    updated_at: toIso(conv.updated_at),
  };
}
