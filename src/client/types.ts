/**
 * The wire contract's objects and events (docs/PROTOCOL.md), as TypeScript types for clients.
 * Written from the contract, not imported from the server's modules, so that the client library
 * carries no server code (and nothing Node-only) into a browser.
 */

export type Role = 'user' | 'moderator' | 'admin';
export type PresenceStatus = 'online' | 'away' | 'offline';

export interface User {
  id: number;
  username: string;
  role: Role;
  email?: string;
  created_at?: string;
}

export interface Reaction {
  emoji: string;
  count: number;
  reacted: boolean;
}

/** docs/PROTOCOL.md, "Objects", message. */
export interface Message {
  id: number;
  uuid: string;
  conversation_id: number;
  /** Present for rooms only. */
  room_id?: number;
  seq: number;
  author_id: number;
  author: string;
  content: string;
  message_type: 'text' | 'image' | 'file' | 'system';
  parent_message_id: number | null;
  thread_count: number;
  is_edited: boolean;
  edit_count: number;
  is_pinned: boolean;
  metadata: Record<string, unknown> & { mentions?: number[] };
  client_id: string | null;
  created_at: string;
  edited_at?: string | null;
  is_deleted?: boolean;
  reactions?: Reaction[];
}

export interface Room {
  id: number;
  uuid: string;
  name: string;
  description: string | null;
  type: 'public_room' | 'private_room';
  is_public: boolean;
  owner_id: number | null;
  max_members: number | null;
  last_seq: number;
  created_at: string;
  updated_at: string;
  /** In `GET /rooms` items. */
  unread_count?: number;
}

export interface DirectConversation {
  conversation_id: number;
  uuid: string;
  user_ids: [number, number];
  other_user: { id: number; username: string };
  last_seq: number;
  unread_count: number;
  created_at: string;
}

export interface Member {
  conversation_id: number;
  user_id: number;
  username: string;
  role: 'owner' | 'moderator' | 'member';
  joined_at: string;
  muted_until: string | null;
  banned: boolean;
  status: PresenceStatus;
  last_activity: string | null;
}

/** `POST /auth/login` and `POST /auth/refresh`. */
export interface Tokens {
  access_token: string;
  refresh_token: string;
  /** Seconds the access token lives. */
  expires_in: number;
}

export type ErrorCode =
  | 'invalid_frame'
  | 'invalid_json'
  | 'validation_failed'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'content_rejected'
  | 'rate_limited'
  | 'internal'
  | 'not_implemented'
  // The client's own, never on the wire:
  | 'disconnected'
  | 'timeout'
  | 'closed';

export interface WireError {
  code: ErrorCode | (string & {});
  message: string;
  details?: { path: string; message: string }[];
  retry_after_ms?: number;
}

// ---- acks (`ack.data` of each operation) ----

export interface AuthenticatedData {
  user: User;
  session_id: string;
  heartbeat_ms: number;
}
export interface JoinAck {
  room_id: number;
  room: Room;
  last_seq: number;
}
export interface SendAck {
  id: number;
  uuid: string;
  seq: number;
  conversation_id: number;
  client_id: string | null;
  created_at: string;
  duplicate: boolean;
}
/** The `create_dm` ack, the `dm_created` event and the `POST /dm` answer. */
export interface DmAck {
  conversation_id: number;
  user_ids: [number, number];
  /** The DM's highest seq when the reply was made (0 for a new DM): later events follow it. */
  last_seq: number;
  /** This call created the DM (false: it existed). */
  created: boolean;
}
export interface HistoryPage {
  conversation_id: number;
  messages: Message[];
  has_more: boolean;
  next_cursor: number | null;
}
export interface ChangeAck {
  conversation_id: number;
  message_id: number;
  changed: boolean;
  seq: number | null;
}
export interface ReadAck {
  conversation_id: number;
  message_id: number;
  updated: boolean;
  unread_count: number;
}
export interface PresenceData {
  user_id: number;
  status: PresenceStatus;
  last_activity: string;
}
export interface ResumedData {
  conversation_id: number;
  recovered: boolean;
  from_seq: number;
  to_seq: number;
  live: boolean;
}
export type ResumeEntry = ResumedData | { conversation_id: number; error: string };

// ---- server events (docs/PROTOCOL.md, "Server events") ----

interface Sequenced {
  conversation_id: number;
  room_id?: number;
  seq: number;
  message_id: number;
}

export interface ServerEvents {
  authenticated: AuthenticatedData;
  joined: JoinAck;
  left: { room_id: number };
  history: HistoryPage;
  pong: Record<string, never>;
  resumed: ResumedData;
  message: Message;
  member_joined: { room_id: number; user_id: number; username: string };
  member_left: { room_id: number; user_id: number; reason: 'left' | 'kicked' | 'banned' };
  member_updated: { room_id: number; user_id: number; role: 'owner' | 'moderator' | 'member'; muted_until: string | null };
  dm_created: DmAck;
  message_edited: Sequenced & { content: string; is_edited: boolean; edit_count: number; edited_at: string };
  message_deleted: Sequenced & { deleted_by: number };
  reaction_added: Sequenced & { user_id: number; emoji: string };
  reaction_removed: Sequenced & { user_id: number; emoji: string };
  message_pinned: Sequenced & { room_id: number; user_id: number };
  message_unpinned: Sequenced & { room_id: number; user_id: number };
  typing: { conversation_id: number; room_id?: number; user_id: number; username: string; state: 'start' | 'stop' };
  read: { conversation_id: number; user_id: number; message_id: number };
  room_updated: { room: Room };
  room_deleted: { room_id: number };
  presence: PresenceData;
  /** An `error` frame that answers no request of this client (e.g. a failed resume entry). */
  error: WireError;
}

/** The events that carry a conversation's `seq`; the client delivers them once each, in order. */
export const SEQUENCED_EVENTS = [
  'message',
  'message_edited',
  'message_deleted',
  'reaction_added',
  'reaction_removed',
  'message_pinned',
  'message_unpinned',
] as const;
export type SequencedEvent = (typeof SEQUENCED_EVENTS)[number];

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Events of the client itself, next to the server's. */
export interface ClientEvents extends ServerEvents {
  /** The connection's state changed. */
  state: { state: ConnectionState; attempt: number; code?: number; reason?: string };
  /** New tokens (login or refresh): persist them to restore the session later. */
  tokens: Tokens & { expires_at: number };
  /** The refresh token was refused: the user must log in again. The client is closed. */
  session_expired: WireError;
  /**
   * Events of a conversation could not be replayed (`resumed` with `recovered: false`): those
   * between `from_seq` and `to_seq` are lost to this client; reload with `fetchHistory`.
   */
  gap: { conversation_id: number; from_seq: number; to_seq: number };
}
