/**
 * RoomActor: one per conversation, rooms and DMs alike. It owns the conversation's membership, its
 * `seq` counter (shared with the shard's group committer), the subscriber count per front thread,
 * and a window of recent events, so joins, recent history and resume need no query.
 *
 * Durable before visible: a send is answered and fanned out only when the group committer says
 * the row is committed. The reply is deferred (the mailbox goes on), so many sends of one room
 * ride in one flush; their commits resolve in seq order, so events are published in seq order.
 */
import { ChatError } from '../errors.js';
import type { PresenceStatus, ServerEvent, WireMessage } from '../protocol/events.js';
import { jsonEvent } from '../protocol/codec.js';
import { toWireMessage, toWireRoom } from '../protocol/events.js';
import type { Conversation, Member, Message } from '../store/types.js';
import type { ChatContext } from './context.js';
import type { SeqCounter } from './group-commit.js';
import { RoomPresence, RoomTyping } from './room-presence.js';
import {
  ROOM,
  USER,
  roomTopic,
  type Caller,
  type ConversationKind,
  type FrontPost,
  type HistoryReply,
  type JoinReply,
  type NewMessageInput,
  type ResumeReply,
  type RoomRequest,
  type SendAck,
  type SendReply,
} from './messages.js';

/** How far back `resume` reads the database when the window does not reach. */
const RESUME_MAX_EVENTS = 1000;

function sendReply(message: WireMessage, duplicate: boolean, brief: boolean): SendReply | SendAck {
  if (!brief) return { message, duplicate };
  const { id, uuid, seq, conversation_id, client_id, created_at } = message;
  return { id, uuid, seq, conversation_id, client_id, created_at, duplicate };
}

export class RoomActor {
  readonly #id: number;
  readonly #ctx: ChatContext;
  #conv: Conversation | null = null;
  readonly #members = new Map<number, Member>();
  #counter: SeqCounter;
  /** Highest seq committed and published; `lastSeq` of the counter may be ahead while a flush runs. */
  #committedSeq = 0;
  /** Recent messages in seq order (oldest first), at most `recentWindow`. */
  #recent: WireMessage[] = [];
  /** The window's messages that carry a client_id, by `author:client_id`: a retry is one lookup, not a scan. */
  readonly #recentByClient = new Map<string, WireMessage>();
  /** Subscribed sockets per front thread. */
  readonly #subs = new Map<number, number>();
  /** Members' presence and who is typing (./room-presence.ts), created with the first of each. */
  #presence: RoomPresence | null = null;
  #typing: RoomTyping | null = null;
  /** The room's one timer: the next presence window or typing expiry, as a `tick` to itself. */
  #timer: NodeJS.Timeout | null = null;
  #timerAt = 0;
  /** When the waiting presence changes are published (clock ms); 0 when none wait. */
  #flushAt = 0;

  constructor(id: number, ctx: ChatContext) {
    this.#id = id;
    this.#ctx = ctx;
    this.#counter = { conversationId: id, lastSeq: 0 };
  }

  async activate(): Promise<void> {
    const { store } = this.#ctx.services;
    this.#conv = await store.getConversation(this.#id);
    if (this.#conv === null) return;
    for (const m of await store.listMembers(this.#id)) this.#members.set(m.user_id, m);
    const last = await store.lastSeq(this.#id);
    this.#counter = { conversationId: this.#id, lastSeq: last };
    this.#committedSeq = last;
    const window = this.#ctx.services.config.runtime.recentWindow;
    if (window > 0 && last > 0) {
      const rows = await store.messagesAfterSeq(this.#id, Math.max(0, last - window), window);
      this.#recent = await this.#wire(rows);
      for (const m of this.#recent) this.#indexClient(m);
    }
  }

  /**
   * Kept while sockets listen (their counts live nowhere else), while members are online (their
   * presence is told once, when it changes) and while a window or a typist waits for the timer.
   */
  keepAlive(): boolean {
    return this.#subs.size > 0 || (this.#presence?.online ?? 0) > 0 || this.#timer !== null;
  }

  receive(msg: RoomRequest): unknown {
    switch (msg.t) {
      case 'join':
        return this.#join(msg.caller, msg.sub?.front);
      case 'leave':
        return this.#leave(msg.caller, msg.sub?.front);
      case 'detach':
        this.#unsub(msg.sub.front);
        return undefined;
      case 'send':
        this.#expect(msg.kind);
        return this.#send(msg.caller, msg.msg, msg.brief === true);
      case 'history':
        this.#expect(msg.kind);
        return this.#history(msg.caller, msg.before, msg.after, msg.limit);
      case 'resume':
        return this.#resume(msg.caller, msg.lastSeq, msg.sub?.front);
      case 'info':
        this.#expect(msg.kind);
        return this.#info(msg.caller);
      case 'members':
        this.#expect(msg.kind);
        this.#readable(msg.caller);
        return this.#listMembers(msg.before, msg.limit);
      case 'typing':
        return this.#typed(msg.caller, msg.state);
      case 'presence':
        return this.#presenceOf(msg.userId, msg.status, msg.lastActivity);
      case 'tick':
        return this.#tick();
    }
  }

  // ---------------------------------------------------------------------------------------------

  #room(): Conversation {
    if (this.#conv === null) throw new ChatError('not_found', `conversation ${this.#id} not found`);
    return this.#conv;
  }

  #isDm(): boolean {
    return this.#room().type === 'direct_message';
  }

  /** A conversation of the kind the operation names, or `not_found` (see ConversationKind). */
  #expect(kind: ConversationKind | undefined): void {
    if (kind === undefined || (kind === 'dm') === this.#isDm()) return;
    throw new ChatError('not_found', kind === 'dm' ? `direct conversation ${this.#id} not found` : `room ${this.#id} not found`);
  }

  /** A member who may post: not banned, not muted. */
  #writer(caller: Caller): Member {
    this.#room();
    const m = this.#members.get(caller.id);
    if (m === undefined) throw new ChatError('forbidden', `not a member of conversation ${this.#id}: join it first`);
    if (m.banned) throw new ChatError('forbidden', `banned from conversation ${this.#id}`);
    if (m.muted_until !== null && Date.parse(m.muted_until) > Date.now()) {
      throw new ChatError('forbidden', `muted in conversation ${this.#id} until ${m.muted_until}`);
    }
    return m;
  }

  /** Members read; so does anyone for a public room (as the REST listing shows it). */
  #readable(caller: Caller): void {
    const conv = this.#room();
    const m = this.#members.get(caller.id);
    if (m?.banned) throw new ChatError('forbidden', `banned from conversation ${this.#id}`);
    if (m === undefined && !(conv.is_public && conv.type !== 'direct_message') && caller.role !== 'admin') {
      throw new ChatError('forbidden', `not a member of conversation ${this.#id}`);
    }
  }

  #wireRoom() {
    const conv = this.#room();
    return conv.type === 'direct_message' ? null : toWireRoom({ ...conv, last_seq: this.#committedSeq });
  }

  async #join(caller: Caller, front: number | undefined): Promise<JoinReply> {
    const conv = this.#room();
    if (conv.type === 'direct_message') throw new ChatError('forbidden', `conversation ${this.#id} is a direct conversation, not a room`);
    let member = this.#members.get(caller.id);
    let newMember = false;
    if (member?.banned) throw new ChatError('forbidden', `banned from room ${this.#id}`);
    if (member === undefined) {
      if (!conv.is_public && caller.role !== 'admin') throw new ChatError('forbidden', `room ${this.#id} is private`);
      if (conv.max_members !== null && this.#members.size >= conv.max_members) {
        throw new ChatError('forbidden', `room ${this.#id} is full (${conv.max_members} members)`);
      }
      const { store, config } = this.#ctx.services;
      // One store round trip: joins of a room are handled one at a time, and 1,000 members
      // joining at once wait for each other's.
      member = await store.joinRoom(this.#id, caller.id, config.limits.roomsPerUser);
      this.#members.set(caller.id, member);
      if (member.banned) throw new ChatError('forbidden', `banned from room ${this.#id}`);
      this.#ctx.services.rememberUsername(caller.id, caller.username);
      newMember = true;
      // The user's actor adds the room to where its presence goes, and tells it the current one.
      this.#ctx.tell(USER, caller.id, { t: 'conversation_added', conversationId: this.#id });
    }
    // One step, no await: count the subscriber, fix last_seq and answer. The reply enters the ring
    // to that front ahead of every later event, and after every earlier one (which the socket,
    // not yet subscribed, does not get): nothing lost, nothing twice, by construction.
    if (front !== undefined) this.#subs.set(front, (this.#subs.get(front) ?? 0) + 1);
    const reply = this.#ctx.answer({ room: this.#wireRoom(), conversation_id: this.#id, last_seq: this.#committedSeq, newMember });
    // After the reply: the joining socket sees its own arrival, as the other members do.
    if (newMember) this.#publish({ type: 'member_joined', data: { room_id: this.#id, user_id: caller.id, username: caller.username } });
    return reply;
  }

  async #leave(caller: Caller, front: number | undefined): Promise<{ left: boolean }> {
    const conv = this.#room();
    if (conv.type === 'direct_message') throw new ChatError('forbidden', 'a direct conversation cannot be left');
    // The subscriber goes only with a leave that happens: on a refusal the socket stays subscribed.
    if (!this.#members.has(caller.id)) {
      if (front !== undefined) this.#unsub(front);
      return { left: false };
    }
    // Nobody could let the owner back in, nor anyone else: the room would be lost.
    if (!conv.is_public && conv.owner_id === caller.id) {
      throw new ChatError('forbidden', `the owner cannot leave private room ${this.#id}: no one could join it again`);
    }
    await this.#ctx.services.store.removeMember(this.#id, caller.id);
    this.#members.delete(caller.id);
    this.#presence?.forget(caller.id);
    if (this.#typing?.stop(caller.id)) this.#publishTyping(caller.id, caller.username, 'stop');
    this.#ctx.tell(USER, caller.id, { t: 'conversation_removed', conversationId: this.#id });
    if (front !== undefined) this.#unsub(front);
    this.#publish({ type: 'member_left', data: { room_id: this.#id, user_id: caller.id, reason: 'left' } });
    return { left: true };
  }

  #unsub(front: number): void {
    const n = (this.#subs.get(front) ?? 0) - 1;
    if (n > 0) this.#subs.set(front, n);
    else this.#subs.delete(front);
  }

  #send(caller: Caller, input: NewMessageInput, brief: boolean): SendReply | SendAck {
    this.#writer(caller);
    const conv = this.#room();
    if (input.clientId) {
      // A retry the window still holds is answered without touching the database.
      const seen = this.#recentByClient.get(`${caller.id}:${input.clientId}`);
      if (seen) return sendReply(seen, true, brief);
    }
    const { committer } = this.#ctx.services;
    const row = {
      authorId: caller.id,
      content: input.content,
      parentMessageId: input.parentId ?? null,
      metadata: input.metadata ?? {},
      clientId: input.clientId ?? null,
    };
    // The store does not check references (migrations/0004): a reply's parent is checked here,
    // from the window when it is recent, else with one lookup, before the row joins a batch.
    const parent = row.parentMessageId;
    const submitted =
      parent === null || this.#recent.some((m) => m.id === parent)
        ? committer.submit(this.#counter, row)
        : this.#checkParent(parent).then(() => committer.submit(this.#counter, row));
    const committed = submitted
      .then(({ message, duplicate }) => {
        if (message.conversation_id !== this.#id) {
          // client_id is unique per author across conversations: a reuse elsewhere is a conflict.
          throw new ChatError('conflict', 'client_id already used for a message in another conversation');
        }
        // A duplicate is the caller's own earlier message (client_id is unique per author).
        const wire = toWireMessage(message, conv, caller.username);
        if (!duplicate) this.#committed(wire);
        return sendReply(wire, duplicate, brief);
      });
    return this.#ctx.defer(committed);
  }

  async #checkParent(id: number): Promise<void> {
    const m = await this.#ctx.services.store.getMessage(id);
    if (m === null || m.conversation_id !== this.#id) {
      const message = 'parent message not found in this conversation';
      throw new ChatError('not_found', message, { details: [{ path: 'parent_message_id', message }] });
    }
  }

  /** A committed message: into the window, then out to every subscriber. */
  #committed(wire: WireMessage): void {
    this.#committedSeq = wire.seq;
    const window = this.#ctx.services.config.runtime.recentWindow;
    if (window > 0) {
      this.#recent.push(wire);
      this.#indexClient(wire);
      if (this.#recent.length > window) {
        for (const old of this.#recent.splice(0, this.#recent.length - window)) {
          if (old.client_id !== null) this.#recentByClient.delete(`${old.author_id}:${old.client_id}`);
        }
      }
    }
    this.#publish({ type: 'message', data: wire });
  }

  /**
   * One post per front that holds subscribers (rooms), or to every front (DMs go to both users' sockets).
   * `except`: a user whose sockets must not get it (typing).
   */
  #publish(event: ServerEvent, except?: number): void {
    const encoded = jsonEvent(event); // stringified once, whatever the number of fronts
    if (this.#isDm()) {
      const users = except === undefined ? [...this.#members.keys()] : [...this.#members.keys()].filter((u) => u !== except);
      this.#ctx.broadcast({ t: 'publish', users, event: encoded, conversationId: this.#id });
      return;
    }
    // One post object for every front that holds subscribers (each send packs it).
    const topics = [roomTopic(this.#id)];
    const post: FrontPost = except === undefined ? { t: 'publish', topics, event: encoded } : { t: 'publish', topics, event: encoded, except };
    for (const [front, n] of this.#subs) if (n > 0) this.#ctx.post(front, post);
  }

  async #history(caller: Caller, before: number | undefined, after: number | undefined, limit: number): Promise<HistoryReply> {
    this.#readable(caller);
    const recent = this.#recent;
    // The window answers when it certainly holds the whole page.
    if (after === undefined && recent.length > 0 && this.#committedSeq === recent[recent.length - 1]!.seq) {
      const upto = before === undefined ? recent.length : recent.findIndex((m) => m.id >= before);
      const end = upto === -1 ? recent.length : upto;
      const start = end - limit;
      const windowIsWholeHistory = recent[0]!.seq === 1;
      if (start >= 0 || windowIsWholeHistory) {
        const messages = recent.slice(Math.max(0, start), end);
        const hasMore = start > 0 || (!windowIsWholeHistory && start === 0) ;
        return {
          conversation_id: this.#id,
          messages,
          has_more: hasMore,
          next_cursor: hasMore && messages.length > 0 ? messages[0]!.id : null,
        };
      }
    }
    const page = await this.#ctx.services.store.listMessages(this.#id, {
      limit,
      ...(before !== undefined ? { before } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    const messages = await this.#wire(page.messages);
    return { conversation_id: this.#id, messages, has_more: page.has_more, next_cursor: page.next_cursor };
  }

  /**
   * Events after `lastSeq` up to the committed seq at the instant of the answer (`to_seq`). With
   * `front`, the caller is counted as a subscriber in that same instant, and the answer goes out
   * then (`ctx.answer`): every event after `to_seq` follows it on the ring to that front, every
   * earlier one is in it. What the store must supply is read first; the final step has no await.
   */
  async #resume(caller: Caller, lastSeq: number, front: number | undefined): Promise<ResumeReply> {
    this.#readable(caller);
    const subscribed = this.#members.has(caller.id) && !this.#isDm();
    // Older than the window: read from the store, then take what was committed meanwhile from
    // the window. A window too small to bridge the read (or none) reads again, a few times.
    let stored: WireMessage[] = [];
    for (let attempt = 0; attempt < 3 && !this.#windowFrom(lastSeq + 1 + stored.length); attempt++) {
      const from = lastSeq + stored.length;
      const to = this.#committedSeq;
      if (to - lastSeq > RESUME_MAX_EVENTS) break;
      const rows = await this.#ctx.services.store.messagesAfterSeq(this.#id, from, to - from);
      stored = stored.concat(await this.#wire(rows.filter((r) => r.seq <= to)));
    }
    // From here to the answer: no await.
    const to = this.#committedSeq;
    if (front !== undefined && subscribed) this.#subs.set(front, (this.#subs.get(front) ?? 0) + 1);
    const reply = (recovered: boolean, events: ServerEvent[]): ResumeReply =>
      this.#ctx.answer({ conversation_id: this.#id, recovered, from_seq: lastSeq + 1, to_seq: to, events, subscribed });
    // A position ahead of the server (a client restored from elsewhere, or lying) cannot be
    // trusted for what it has: the client reloads with fetch_history.
    if (lastSeq > to) return reply(false, []);
    const next = lastSeq + 1 + stored.length;
    if (next <= to && !this.#windowFrom(next)) return reply(false, []);
    const recent = next > to ? [] : this.#recent.filter((m) => m.seq >= next && m.seq <= to);
    const events = stored.concat(recent).map((m): ServerEvent => ({ type: 'message', data: m }));
    return reply(true, events);
  }

  /** The window holds every committed message from `seq` on (or there is none past it). */
  #windowFrom(seq: number): boolean {
    if (seq > this.#committedSeq) return true;
    const first = this.#recent[0];
    return first !== undefined && first.seq <= seq;
  }

  #indexClient(m: WireMessage): void {
    if (m.client_id !== null) this.#recentByClient.set(`${m.author_id}:${m.client_id}`, m);
  }

  /** Stored rows as wire messages, with their authors' names. */
  async #wire(rows: Message[]): Promise<WireMessage[]> {
    const conv = this.#room();
    const names = await this.#ctx.services.usernames(new Set(rows.map((r) => r.author_id)));
    return rows.map((r) => toWireMessage(r, conv, names.get(r.author_id) ?? `user ${r.author_id}`));
  }

  #info(caller: Caller) {
    this.#readable(caller);
    return { room: this.#wireRoom(), conversation: { ...this.#room(), last_seq: this.#committedSeq }, member: this.#members.get(caller.id) ?? null };
  }

  // ---------------------------------------------------------------------------------------------
  // Members listing, presence and typing (see ./room-presence.ts)

  /** A page of members, by user id descending (`before`: a user id, exclusive), with names and presence. */
  async #listMembers(before: number | undefined, limit = 100) {
    const ids = [...this.#members.keys()].filter((id) => before === undefined || id < before).sort((a, b) => b - a);
    const page = ids.slice(0, limit).map((id) => this.#members.get(id) as Member);
    const presence = page.map((m) => this.#presence?.of(m.user_id) ?? { status: 'offline' as const, last_activity: null });
    const names = await this.#ctx.services.usernames(page.map((m) => m.user_id));
    const members = page.map((m, i) => {
      const id = m.user_id;
      const p = presence[i]!;
      return {
        conversation_id: m.conversation_id,
        user_id: id,
        username: names.get(id) ?? `user ${id}`,
        role: m.role,
        joined_at: m.joined_at,
        muted_until: m.muted_until,
        banned: m.banned,
        status: p.status,
        last_activity: p.last_activity,
      };
    });
    const has_more = ids.length > limit;
    return { members, has_more, next_cursor: has_more ? page[page.length - 1]!.user_id : null };
  }

  /** A member's typing: to the others only, never stored; throttled and ended by itself (RoomTyping). */
  #typed(caller: Caller, state: 'start' | 'stop'): object {
    this.#writer(caller);
    const { typingExpireMs, typingThrottleMs } = this.#ctx.services.config.presence;
    const typing = (this.#typing ??= new RoomTyping(typingExpireMs, typingThrottleMs));
    const now = Date.now();
    if (state === 'start' ? typing.start(caller.id, caller.username, now) : typing.stop(caller.id)) {
      this.#publishTyping(caller.id, caller.username, state);
    }
    const next = typing.next();
    if (next !== null) this.#wake(next);
    return {};
  }

  #publishTyping(userId: number, username: string, state: 'start' | 'stop'): void {
    const data = this.#isDm()
      ? { conversation_id: this.#id, user_id: userId, username, state }
      : { conversation_id: this.#id, room_id: this.#id, user_id: userId, username, state };
    this.#publish({ type: 'typing', data }, userId);
  }

  /** A member's status from their UserActor: collected, published with the next window. */
  #presenceOf(userId: number, status: PresenceStatus, lastActivity: string): undefined {
    // DMs get presence from the users' actors directly (./user-presence.ts).
    if (this.#conv === null || this.#isDm() || !this.#members.has(userId)) return undefined;
    const presence = (this.#presence ??= new RoomPresence());
    // The window opens with the first change that waits, and closes windowMs later: a status that
    // comes back to the published one meanwhile (a reconnect, a flap) is never published.
    if (presence.update(userId, status, lastActivity) && this.#flushAt === 0) {
      this.#flushAt = Date.now() + this.#ctx.services.config.presence.windowMs;
      this.#wake(this.#flushAt);
    }
    return undefined;
  }

  /** The timer: a presence window, typing expiries; then the next wake-up, if anything waits. */
  #tick(): undefined {
    // A tick already queued when the timer was moved earlier leaves a later one behind: cleared
    // here, and set again below for whatever still waits.
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const now = Date.now();
    const { windowMs, maxPerWindow } = this.#ctx.services.config.presence;
    const presence = this.#presence;
    if (this.#flushAt !== 0 && now >= this.#flushAt) {
      if (presence !== null) for (const data of presence.take(maxPerWindow)) this.#publish({ type: 'presence', data });
      // More than one window's worth: the rest goes a window later.
      this.#flushAt = presence !== null && presence.pending > 0 ? now + windowMs : 0;
    }
    if (this.#typing !== null) {
      for (const t of this.#typing.expire(now)) this.#publishTyping(t.userId, t.username, 'stop');
    }
    if (this.#flushAt !== 0) this.#wake(this.#flushAt);
    const next = this.#typing?.next() ?? null;
    if (next !== null) this.#wake(next);
    return undefined;
  }

  /** Have the timer tick at `at` (clock ms) or earlier. The tick is a message, so it runs in turn with the rest. */
  #wake(at: number): void {
    if (this.#timer !== null) {
      if (this.#timerAt <= at) return;
      clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#ctx.tell(ROOM, this.#id, { t: 'tick' }), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }
}
