/**
 * What crosses the boundary between front threads and the chat actors on shard threads: one
 * discriminated union per actor kind (`t` is the discriminator), the replies, and what actors post
 * back to fronts. Everything here is plain data: it is packed with msgpackr onto the rings.
 */
import type { PresenceStatus, ServerEvent, WireMessage, WireRoom } from '../protocol/events.js';
import type { ErrorCode } from '../errors.js';
import type { JsonEvent } from '../protocol/codec.js';
import type { UserRole } from '../store/types.js';
import type { RoomPatch } from '../store/reads-sql.js';

export const ROOM = 'room';
export const USER = 'user';
export const SESSION = 'session';
/** Addressed by message id: finds the message's conversation and hands the request to its RoomActor. */
export const MESSAGE = 'message';
export type ChatActorKind = typeof ROOM | typeof USER | typeof SESSION | typeof MESSAGE;

/** Who asks. Fronts verify the token; actors trust what a front says about the caller. */
export interface Caller {
  id: number;
  username: string;
  role: UserRole;
}

/**
 * Where a subscribing socket lives: the front thread's index. REST calls subscribe nobody and
 * carry no `front`.
 */
export interface Subscriber {
  front: number;
}

export interface NewMessageInput {
  content: string;
  parentId?: number | null;
  metadata?: Record<string, unknown> | null;
  clientId?: string | null;
}

/**
 * What an operation names: `send_message` and `/rooms/:id/...` name a room, `send_dm` and
 * `/dm/:id/...` a direct conversation. The RoomActor answers `not_found` when the conversation is
 * of the other kind, so a message never lands in a DM through a room's path or the reverse.
 */
export type ConversationKind = 'room' | 'dm';

/** Messages to a RoomActor (one per conversation, rooms and DMs alike). */
export type RoomRequest =
  /** Become a member if allowed (public room, or already a member) and, with `sub`, subscribe. */
  | { t: 'join'; caller: Caller; sub?: Subscriber }
  /** Leave membership; with `sub`, one subscriber less on that front. */
  | { t: 'leave'; caller: Caller; sub?: Subscriber }
  /** A socket that had joined closed without leaving: one subscriber less on that front. */
  | { t: 'detach'; sub: Subscriber }
  /**
   * `brief`: answer with a SendAck instead of the whole message. A WebSocket sender gets the
   * message as an event anyway; its ack needs only the ids (half the bytes to pack and unpack).
   */
  | { t: 'send'; caller: Caller; msg: NewMessageInput; brief?: boolean; kind?: ConversationKind }
  | { t: 'history'; caller: Caller; before?: number | undefined; after?: number | undefined; limit: number; kind?: ConversationKind }
  /** Events after `lastSeq`; with `sub`, also subscribe (a resumed socket listens again). */
  | { t: 'resume'; caller: Caller; lastSeq: number; sub?: Subscriber }
  | MessageReadRequest
  | { t: 'info'; caller: Caller; kind?: ConversationKind }
  | { t: 'members'; caller: Caller; kind?: ConversationKind; before?: number | undefined; limit?: number }
  /** Presence and typing (./room-presence.ts). `tick`: the room's own timer (presence window, typing expiry). */
  | { t: 'typing'; caller: Caller; state: 'start' | 'stop' }
  | { t: 'presence'; userId: number; status: PresenceStatus; lastActivity: string }
  | { t: 'tick' }
  /** A change to one of the conversation's messages (each takes the next seq). */
  | MessageChangeRequest
  /** Pins are a room's: `kind` room. */
  | { t: 'pin'; caller: Caller; messageId: number; pin: boolean }
  /** The room's pinned messages, newest pin first. */
  | { t: 'pins'; caller: Caller }
  /** Move the caller's read marker forward; `except`: the session that asked (it has the ack, not the `read` event). */
  | { t: 'read'; caller: Caller; messageId: number; except?: string }
  /** PATCH /rooms/:id: owner, room moderator or admin. */
  | { t: 'update'; caller: Caller; patch: RoomPatch; ip?: string | undefined }
  /** DELETE /rooms/:id: owner or admin. The actor stops; the conversation is gone. */
  | { t: 'delete_room'; caller: Caller; ip?: string | undefined }
  /** Kick, ban, mute, roles (./room-moderation.ts). */
  | ModerationRequest
  /** The bans or mutes in force, highest user id first (moderators). */
  | { t: 'sanctions'; caller: Caller; kind: 'bans' | 'mutes'; before?: number | undefined; limit: number };

export type ModerationAction = 'kick' | 'ban' | 'unban' | 'mute' | 'unmute' | 'role';

/**
 * A moderation action on `userId` in a room. `durationS`: a ban's (absent or null: permanent) or a
 * mute's length; `role`: for `role`. `ip`: the request's source, for the audit trail.
 */
export interface ModerationRequest {
  t: 'moderate';
  caller: Caller;
  action: ModerationAction;
  userId: number;
  durationS?: number | null | undefined;
  reason?: string | null | undefined;
  role?: 'moderator' | 'member' | undefined;
  ip?: string | undefined;
}

/** The answer to a moderation action: the target's standing in the room afterwards. */
export interface ModerationReply {
  room_id: number;
  user_id: number;
  /** False when nothing changed (lifting a ban or mute there was not). */
  changed: boolean;
  /** Kick and ban: the user is no longer a member. */
  member: boolean;
  role: 'owner' | 'moderator' | 'member' | null;
  banned: boolean;
  banned_until: string | null;
  muted_until: string | null;
}

/** What can be asked of a message by its id alone (through the MESSAGE actor, or of its room). */
export type MessageChangeRequest =
  | { t: 'edit'; caller: Caller; messageId: number; content: string }
  | { t: 'delete'; caller: Caller; messageId: number; ip?: string | undefined }
  | { t: 'react'; caller: Caller; messageId: number; emoji: string; add: boolean };

/** Reads of a message by its id alone (through the MESSAGE actor, or of its room). */
export type MessageReadRequest =
  /** The message (`not_found` when the caller may not read its conversation). */
  | { t: 'message'; caller: Caller; messageId: number }
  /** A page of the message's replies, with the message. */
  | { t: 'thread'; caller: Caller; messageId: number; before?: number | undefined; after?: number | undefined; limit: number };

/** The answer to a change: its seq, or `changed: false` when the state already was so. */
export interface ChangeReply {
  conversation_id: number;
  message_id: number;
  changed: boolean;
  seq: number | null;
}

/** The reply to `read` (mark_read's ack, the body of POST /conversations/:id/read). */
export interface ReadReply {
  conversation_id: number;
  /** The marker in force: the message asked for, or a later one already there. */
  message_id: number;
  /** False when the marker was already at or past the message: nothing changed, nothing sent. */
  updated: boolean;
  unread_count: number;
}

export interface JoinReply {
  room: WireRoom | null;
  conversation_id: number;
  last_seq: number;
  /** False when the caller was already a member (no `member_joined` was sent). */
  newMember: boolean;
}

export interface SendReply {
  message: WireMessage;
  duplicate: boolean;
}

/** The reply to a `brief` send: the fields of PROTOCOL.md's `send_message` ack. */
export interface SendAck {
  id: number;
  uuid: string;
  seq: number;
  conversation_id: number;
  client_id: string | null;
  created_at: string;
  duplicate: boolean;
}

export interface HistoryReply {
  conversation_id: number;
  messages: WireMessage[];
  has_more: boolean;
  next_cursor: number | null;
}

/** `GET /messages/:id/thread`: the parent with its exact `thread_count`, and a page of its replies. */
export interface ThreadReply {
  parent: WireMessage;
  messages: WireMessage[];
  has_more: boolean;
  next_cursor: number | null;
}

export interface ResumeReply {
  conversation_id: number;
  recovered: boolean;
  from_seq: number;
  to_seq: number;
  events: ServerEvent[];
  /** The caller may listen to this conversation (and, when asked, was counted as a subscriber). */
  subscribed: boolean;
  /** The caller gets the conversation's live events after the replay: a member, or a DM's user. */
  live: boolean;
}



/** Messages to a UserActor (one per user). */
export type UserRequest =
  | { t: 'create_dm'; caller: Caller; peerId: number }
  | { t: 'session_opened'; sessionId: string; front: number }
  | { t: 'session_closed'; sessionId: string }
  /** Close the user's sockets, on every front, with `code`: those of login session `sid` only, when given (logout). */
  | { t: 'kick'; code: number; reason: string; sid?: string }
  /** Presence (./user-presence.ts): the user's choice, the rooms and DM peers where it goes, the actor's timer. */
  | { t: 'set_presence'; status: 'online' | 'away' }
  | { t: 'conversation_added'; conversationId: number }
  | { t: 'conversation_removed'; conversationId: number }
  | { t: 'peer_added'; userId: number }
  | { t: 'presence_tick' };

export interface DmReply {
  conversation_id: number;
  user_ids: [number, number];
  /** The DM's last seq when the reply was made (0 for a new one): a client follows it from there. */
  last_seq: number;
  created: boolean;
}

/** What an actor posts to a front thread. */
export type FrontPost =
  /**
   * Publish one event to a conversation's subscribers (`topics`, uWS pub/sub) or to every socket
   * of some users (`users`: DMs, dm_created). The front serialises it once per sub-protocol in use.
   * `exceptUser`: a user whose sockets do not get it (typing: not to the typist).
   */
  | { t: 'publish'; topics: string[]; event: JsonEvent; exceptUser?: number }
  /**
   * `conversationId`: a socket with a join or resume of it in flight is skipped (the reply carries
   * the event). `except`: the socket of that session is skipped (it asked, and has the ack).
   */
  | { t: 'publish'; users: number[]; event: JsonEvent; conversationId?: number; except?: string }
  /**
   * A room was deleted: `room_deleted` to every socket subscribed to it and every socket of its
   * last members (`users`), then every subscribed socket is taken off its topic.
   */
  | { t: 'room_deleted'; roomId: number; users: number[] }
  /**
   * A user was kicked or banned from a room: `member_left` to each of the user's sockets, which
   * are then taken off the room's topic, and to the room's other subscribers (src/net/ws/member-removed.ts).
   */
  | { t: 'member_removed'; roomId: number; userId: number; reason: 'kicked' | 'banned' }
  /** Close every socket of a user (logout, ban) with a close code; only those of login session `sid` when given. */
  | { t: 'kick'; userId: number; code: number; reason: string; sid?: string };

/** Topic of a conversation's subscribers. */
export const roomTopic = (conversationId: number): string => `r:${conversationId}`;

/** The port fronts use to reach actors: implemented by the runtime's actor client. */
export interface ActorCaller {
  ask<R>(kind: ChatActorKind, id: number | string, msg: unknown, opts?: { timeoutMs?: number }): Promise<R>;
  /**
   * `ask` whose answer is handed to `settle` synchronously, as it is read from the ring: in order
   * with the actor's posts read before and after it (see src/net/ws/fanout.ts).
   */
  call<R>(kind: ChatActorKind, id: number | string, msg: unknown, settle: (err: Error | null, value?: R) => void): void;
  tell(kind: ChatActorKind, id: number | string, msg: unknown): void;
}
