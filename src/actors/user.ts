/**
 * UserActor: one per user. It counts the user's sessions (online while one is connected), creates
 * direct conversations (the same pair always gets the same one) and the user's rooms, and lists
 * what the user may see. Per-user rate limits are taken on the front threads (see
 * docs/ARCHITECTURE.md).
 */
import { ChatError } from '../errors.js';
import { jsonEvent } from '../protocol/codec.js';
import { toWireRoom } from '../protocol/events.js';
import type { ChatContext } from './context.js';
import { USER, type Caller, type DmReply, type UserRequest } from './messages.js';
import { UserPresence } from './user-presence.js';

export type UserActorRequest =
  | UserRequest
  | { t: 'create_room'; caller: Caller; name: string; description?: string | null; isPublic?: boolean; maxMembers?: number | null }
  | { t: 'list_rooms'; caller: Caller; limit: number; before?: number | undefined }
  | { t: 'list_dms'; caller: Caller; limit: number; before?: number | undefined }
  /** The user's presence now: null when no connection is open (offline). */
  | { t: 'presence_get' };

/** A page of a list, by cursor (PROTOCOL.md: "Lists paginate by cursor"): pass `next_cursor` as `before`. */
export interface ListPage<T> {
  items: T[];
  has_more: boolean;
  next_cursor: number | null;
}

export class UserActor {
  readonly #id: number;
  readonly #ctx: ChatContext;
  /**
   * The user's sessions (session id → front). Nearly every user has one connection, and every
   * connected user has an activation, so one session is held in two fields and a Map is made only
   * for a second.
   */
  #oneSession: string | null = null;
  #oneFront = -1;
  #moreSessions: Map<string, number> | null = null;
  readonly #presence: UserPresence;

  constructor(id: number, ctx: ChatContext) {
    this.#id = id;
    this.#ctx = ctx;
    this.#presence = new UserPresence(id, ctx);
  }

  get online(): boolean {
    return this.#oneSession !== null || (this.#moreSessions?.size ?? 0) > 0;
  }

  /** Not passivated while a session is open (the sessions are not stored anywhere else) or a presence window is. */
  keepAlive(): boolean {
    return this.online || this.#presence.waiting;
  }

  receive(msg: UserActorRequest): unknown {
    switch (msg.t) {
      case 'session_opened': {
        const was = this.online;
        this.#sessionOpened(msg.sessionId, msg.front);
        return was ? undefined : this.#presence.connected(true);
      }
      case 'session_closed': {
        const was = this.online;
        this.#sessionClosed(msg.sessionId);
        return was && !this.online ? this.#presence.connected(false) : undefined;
      }
      case 'set_presence':
        return this.#presence.choose(msg.status, this.online);
      case 'conversation_added':
        this.#presence.added(msg.conversationId);
        return undefined;
      case 'conversation_removed':
        this.#presence.removed(msg.conversationId);
        return undefined;
      case 'peer_added':
        this.#presence.peerAdded(msg.userId);
        return undefined;
      case 'presence_get':
        return this.online ? this.#presence.data : null;
      case 'presence_tick':
        return this.#presence.tick();
      case 'kick':
        // Every front: a socket may be opening on one that holds no session of the user yet.
        this.#ctx.broadcast({ t: 'kick', userId: this.#id, code: msg.code, reason: msg.reason, ...(msg.sid === undefined ? {} : { sid: msg.sid }) });
        return undefined;
      case 'create_dm':
        return this.#createDm(msg.caller, msg.peerId);
      case 'create_room':
        return this.#createRoom(msg);
      case 'list_rooms':
        return this.#listRooms(msg.limit, msg.before);
      case 'list_dms':
        return this.#listDms(msg.limit, msg.before);
    }
  }

  #self(caller: Caller): void {
    if (caller.id !== this.#id) throw new ChatError('forbidden', 'acting for another user');
  }

  #sessionOpened(sessionId: string, front: number): void {
    if (this.#oneSession === null && this.#moreSessions === null) {
      this.#oneSession = sessionId;
      this.#oneFront = front;
      return;
    }
    const more = (this.#moreSessions ??= new Map());
    if (this.#oneSession !== null) {
      more.set(this.#oneSession, this.#oneFront);
      this.#oneSession = null;
    }
    more.set(sessionId, front);
  }

  #sessionClosed(sessionId: string): void {
    if (this.#oneSession === sessionId) this.#oneSession = null;
    else this.#moreSessions?.delete(sessionId);
  }

  async #createDm(caller: Caller, peerId: number): Promise<DmReply> {
    this.#self(caller);
    if (peerId === caller.id) throw new ChatError('validation_failed', 'a direct conversation needs another user');
    const { store } = this.#ctx.services;
    const peer = await store.getUser(peerId);
    if (peer === null || !peer.is_active) throw new ChatError('not_found', `user ${peerId} not found`);
    const { conversation, created } = await store.getOrCreateDm(caller.id, peerId);
    const user_ids: [number, number] = caller.id < peerId ? [caller.id, peerId] : [peerId, caller.id];
    // `last_seq` (read with the conversation, from the primary) lets a client that does not follow
    // the DM yet follow it from there: what is at or below it is committed (history has it), and
    // an event above it is committed after this read, then published, so it reaches the client
    // live or by resume.
    const last_seq = conversation.last_seq;
    const event = { type: 'dm_created' as const, data: { conversation_id: conversation.id, user_ids, last_seq, created } };
    const encoded = jsonEvent(event);
    this.#ctx.broadcast({ t: 'publish', users: user_ids, event: encoded });
    if (created) {
      // Presence goes to the new DM's other user too, both ways.
      this.#presence.peerAdded(peerId);
      this.#ctx.tell(USER, peerId, { t: 'peer_added', userId: caller.id });
    }
    return { conversation_id: conversation.id, user_ids, last_seq, created };
  }

  async #createRoom(msg: Extract<UserActorRequest, { t: 'create_room' }>) {
    this.#self(msg.caller);
    const { store, config } = this.#ctx.services;
    if ((await store.countMemberships(msg.caller.id)) >= config.limits.roomsPerUser) {
      throw new ChatError('forbidden', `a user may be in at most ${config.limits.roomsPerUser} rooms`);
    }
    const conv = await store.createRoom({
      name: msg.name,
      description: msg.description ?? null,
      isPublic: msg.isPublic ?? true,
      ownerId: msg.caller.id,
      maxMembers: msg.maxMembers ?? null,
    });
    await store.audit({ actorId: msg.caller.id, action: 'room.create', targetType: 'conversation', targetId: String(conv.id) });
    return toWireRoom(conv);
  }

  /** With the other user's name (the shard's cache, one query for the misses) and the unread count. */
  async #listDms(limit: number, before: number | undefined) {
    const services = this.#ctx.services;
    const dms = await services.store.listDms(this.#id, { before, limit: limit + 1 });
    const other = (ids: [number, number]) => (ids[0] === this.#id ? ids[1] : ids[0]);
    const [names, unread] = await Promise.all([
      services.usernames(new Set(dms.map((d) => other(d.userIds)))),
      services.store.unreadCounts(this.#id, dms.slice(0, limit).map((d) => d.conversation.id)),
    ]);
    return page(dms, limit, (d) => d.conversation.id, ({ conversation: c, userIds }) => {
      const otherId = other(userIds);
      return {
        conversation_id: c.id,
        uuid: c.uuid,
        user_ids: userIds,
        other_user: { id: otherId, username: names.get(otherId) ?? `user ${otherId}` },
        last_seq: c.last_seq,
        unread_count: unread.get(c.id) ?? 0,
        created_at: c.created_at,
      };
    });
  }

  /** Each room with the caller's unread count: one query for the page, not one per room. */
  async #listRooms(limit: number, before: number | undefined) {
    const { store } = this.#ctx.services;
    const rooms = await store.listVisibleRooms(this.#id, { before, limit: limit + 1 });
    const unread = await store.unreadCounts(this.#id, rooms.slice(0, limit).map((c) => c.id));
    return page(rooms, limit, (c) => c.id, (c) => ({ ...toWireRoom(c), unread_count: unread.get(c.id) ?? 0 }));
  }
}

/** `rows` read with one more than `limit`: the page, whether more follow, and the cursor to them. */
function page<R, T>(rows: R[], limit: number, idOf: (r: R) => number, wire: (r: R) => T): ListPage<T> {
  const has_more = rows.length > limit;
  const kept = has_more ? rows.slice(0, limit) : rows;
  return { items: kept.map(wire), has_more, next_cursor: has_more ? idOf(kept[kept.length - 1] as R) : null };
}
