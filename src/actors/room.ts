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
import type { ServerEvent, WireMessage } from '../protocol/events.js';
import { jsonEvent } from '../protocol/codec.js';
import { toWireMessage, toWireRoom } from '../protocol/events.js';
import type { Conversation, Member, Message } from '../store/types.js';
import type { ChatContext } from './context.js';
import type { Committed, PendingRow, SeqCounter } from './group-commit.js';
import { mentionCandidates, namesToLookUp, resolveMentions } from './mentions.js';
import {
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
  type ThreadReply,
} from './messages.js';

/** How far back `resume` reads the database when the window does not reach. */
const RESUME_MAX_EVENTS = 1000;

function sendReply(message: WireMessage, duplicate: boolean, brief: boolean): SendReply | SendAck {
  if (!brief) return { message, duplicate };
  const { id, uuid, seq, conversation_id, client_id, created_at } = message;
  return { id, uuid, seq, conversation_id, client_id, created_at, duplicate };
}

/**
 * The client's metadata without `mentions`: that key is the server's (PROTOCOL.md "Mentions"), set
 * only from the content. Copied only when the client sent one.
 */
function ownMetadata(metadata: Record<string, unknown> | null | undefined): Record<string, unknown> {
  if (metadata == null) return {};
  if (!Object.hasOwn(metadata, 'mentions')) return metadata;
  const { mentions: _dropped, ...rest } = metadata;
  return rest;
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
  /**
   * Settles once the last send that had to wait for a check (a parent lookup, mentions) has been
   * submitted, or refused. While one waits, later sends queue behind it: without that a plain
   * message would overtake the author's own `@mention` sent just before it and take the lower seq.
   */
  #gate: Promise<void> | null = null;

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
      case 'message':
        this.#seeing(msg.caller, msg.messageId);
        return this.#find(msg.messageId);
      case 'thread':
        this.#seeing(msg.caller, msg.messageId);
        return this.#thread(msg.messageId, msg.before, msg.after, msg.limit);
      case 'info':
        this.#expect(msg.kind);
        return this.#info(msg.caller);
      case 'members':
        this.#expect(msg.kind);
        this.#readable(msg.caller);
        return [...this.#members.values()];
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
    const row: PendingRow = {
      authorId: caller.id,
      content: input.content,
      parentMessageId: input.parentId ?? null,
      metadata: ownMetadata(input.metadata),
      clientId: input.clientId ?? null,
    };
    // What must be known before the row joins a batch. The store does not check references
    // (migrations/0004): a reply's parent is checked here, from the window when it is recent, else
    // with one lookup. Mentions are resolved only when the content has an '@' at all, so a plain
    // message costs one `includes` and goes straight to the committer.
    const parent = row.parentMessageId ?? null;
    let ready: Promise<unknown> | null = parent === null || this.#windowMessage(parent) !== undefined ? null : this.#checkParent(parent);
    if (input.content.includes('@')) {
      const mentions = this.#mentions(row);
      if (mentions !== null) ready = ready === null ? mentions : Promise.all([ready, mentions]);
    }
    const gate = this.#gate;
    let submitted: Promise<Committed>;
    if (ready === null && gate === null) submitted = committer.submit(this.#counter, row);
    else {
      const before = gate === null ? ready! : ready === null ? gate : Promise.all([gate, ready]);
      // Wrapped, so the turn settles when the row is submitted, not when it is committed.
      const turn = before.then(() => ({ commit: committer.submit(this.#counter, row) }));
      // Refused or submitted, and never before the send ahead of it (a refused check can settle first).
      const done = turn.then(
        () => undefined,
        () => undefined,
      );
      const next: Promise<void> = (gate === null ? done : gate.then(() => done)).then(() => this.#openGate(next));
      this.#gate = next;
      submitted = turn.then((t) => t.commit);
    }
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

  #openGate(gate: Promise<void>): void {
    if (this.#gate === gate) this.#gate = null;
  }

  async #checkParent(id: number): Promise<void> {
    const m = await this.#ctx.services.store.getMessage(id);
    if (m === null || m.conversation_id !== this.#id) {
      const message = 'parent message not found in this conversation';
      throw new ChatError('not_found', message, { details: [{ path: 'parent_message_id', message }] });
    }
  }

  /**
   * Resolves the `@names` of `row.content` into `row.metadata.mentions`: the ids of the users named
   * who may see this conversation (#canSee), in order of first mention, at most MAX_MENTIONS names
   * looked at. Null when the content names nobody (an '@' in an e-mail address, say).
   */
  #mentions(row: PendingRow): Promise<void> | null {
    const candidates = mentionCandidates(row.content);
    if (candidates.length === 0) return null;
    return this.#ctx.services.userIds(namesToLookUp(candidates)).then((ids) => {
      const mentions = resolveMentions(candidates, ids, (id) => this.#canSee(id));
      if (mentions.length > 0) row.metadata = { ...row.metadata, mentions };
    });
  }

  /**
   * Who counts as a mention: whoever may read the conversation (#readable). A DM's two users; a
   * private room's members; for a public room anyone, since anyone may read it; never a banned
   * member. Admins read every room but are counted only where the rule above counts them: the
   * actor knows their role only when they ask something themselves.
   */
  #canSee(userId: number): boolean {
    const m = this.#members.get(userId);
    if (m !== undefined) return !m.banned;
    const conv = this.#room();
    return conv.is_public && conv.type !== 'direct_message';
  }

  /** A message of the window by id (ids increase with seq within a conversation: binary search). */
  #windowMessage(id: number): WireMessage | undefined {
    const recent = this.#recent;
    let lo = 0;
    let hi = recent.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = recent[mid]!;
      if (m.id === id) return m;
      if (m.id < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /**
   * A read of one message needs the right to read its conversation; without it the message does
   * not exist for the caller (`not_found`, not `forbidden`: its id says nothing about the room).
   */
  #seeing(caller: Caller, messageId: number): void {
    try {
      this.#readable(caller);
    } catch (e) {
      if (e instanceof ChatError && e.code === 'forbidden') throw new ChatError('not_found', `message ${messageId} not found`);
      throw e;
    }
  }

  /** One message of this conversation, from the window when there (its thread_count kept exact there), else the store. */
  async #find(id: number): Promise<WireMessage> {
    const recent = this.#windowMessage(id);
    if (recent !== undefined) return recent;
    const row = await this.#ctx.services.store.getMessage(id);
    if (row === null || row.conversation_id !== this.#id) throw new ChatError('not_found', `message ${id} not found`);
    return (await this.#wire([row]))[0]!;
  }

  async #thread(id: number, before: number | undefined, after: number | undefined, limit: number): Promise<ThreadReply> {
    const parent = await this.#find(id);
    const page = await this.#ctx.services.store.listReplies(this.#id, id, {
      limit,
      ...(before !== undefined ? { before } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    const messages = await this.#wire(page.messages);
    // The parent as it is now: its count then includes every reply the page could hold.
    return { parent: this.#windowMessage(id) ?? parent, messages, has_more: page.has_more, next_cursor: page.next_cursor };
  }

  /** A committed message: into the window, then out to every subscriber. */
  #committed(wire: WireMessage): void {
    this.#committedSeq = wire.seq;
    // The store counted this reply in the statement that wrote it; the window's copy of the parent
    // follows here, or history and joins from the window would go on showing the old count. This
    // actor is its conversation's only writer, and commits resolve in seq order, so the window's
    // count is the stored one.
    if (wire.parent_message_id !== null) {
      const parent = this.#windowMessage(wire.parent_message_id);
      if (parent !== undefined) parent.thread_count++;
    }
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

  /** One post per front that holds subscribers (rooms), or to every front (DMs go to both users' sockets). */
  #publish(event: ServerEvent): void {
    const encoded = jsonEvent(event); // stringified once, whatever the number of fronts
    if (this.#isDm()) {
      this.#ctx.broadcast({ t: 'publish', users: [...this.#members.keys()], event: encoded, conversationId: this.#id });
      return;
    }
    // One post object for every front that holds subscribers (each send packs it).
    const post: FrontPost = { t: 'publish', topics: [roomTopic(this.#id)], event: encoded };
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
}
