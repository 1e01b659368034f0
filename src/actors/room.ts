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
import type { PresenceData, PresenceStatus, ReactionSummary, ServerEvent, WireMessage } from '../protocol/events.js';
import { jsonEvent } from '../protocol/codec.js';
import { sent } from '../metrics/index.js';
import { toWireMessage, toWireRoom } from '../protocol/events.js';
import type { RoomPatch } from '../store/reads-sql.js';
import type { AuditEntry, Conversation, Member, Message, StateChange } from '../store/types.js';
import type { ChatContext } from './context.js';
import type { Store } from '../store/store.js';
import { batchedPerStore } from '../store/batch.js';
import type { Committed, PendingRow, SeqCounter } from './group-commit.js';
import { mentionCandidates, namesToLookUp, resolveMentions } from './mentions.js';
import { banInForce, bannedNow, moderate, sanctions, type ModeratedRoom } from './room-moderation.js';
import { RoomPresence, RoomTyping, type MemberPresence } from './room-presence.js';
import {
  ROOM,
  USER,
  roomTopic,
  type Caller,
  type ChangeReply,
  type ConversationKind,
  type MessageChangeRequest,
  type FrontPost,
  type HistoryReply,
  type JoinReply,
  type NewMessageInput,
  type ReadReply,
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
 * Rooms activated in the same turn read their conversation rows in one query (../store/batch.ts):
 * a `resume` names up to 200 conversations, each an activation, and 200 single-row reads queued
 * on the store (the embedded one runs them one by one on the main thread) held up everyone's
 * commits behind them: in the first second of a flood of resumes of made-up ids, other users' p99
 * was 400 ms; 140 ms with this (`veza-chat bench flood`). One batcher per store (per shard
 * thread); no wait beyond the turn.
 */
const loadConversation = batchedPerStore((store: Store, ids: number[]) => store.getConversations(ids), 0);

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
  /** Users banned from the room (never in #members): the end of each ban, null when permanent. */
  readonly #bans = new Map<number, string | null>();
  /** This actor as moderation sees it (./room-moderation.ts), made with the first action. */
  #moderated: ModeratedRoom | null = null;
  #counter: SeqCounter;
  /** Highest seq committed and published; `lastSeq` of the counter may be ahead while a flush runs. */
  #committedSeq = 0;
  /**
   * Committed messages and changes that came back ahead of a lower seq, by seq, to be published
   * right after it (null when none, nearly always). The committer answers in seq order, but a send
   * that waited for a check (a reply's parent, mentions) gets its answer a few microtasks after a
   * plain send of the same batch does: published as they came, subscribers saw seq n + 1 before n.
   */
  #held: Map<number, () => void> | null = null;
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
  /**
   * Settles once the last send that had to wait for a check (a parent lookup, mentions) has been
   * submitted, or refused. While one waits, later sends queue behind it: without that a plain
   * message would overtake the author's own `@mention` sent just before it and take the lower seq.
   */
  #gate: Promise<void> | null = null;
  /**
   * The state events (edits, deletes, reactions, pins) of the window's seq range, in seq order:
   * with the window's messages, every seq from `#windowStart` to the committed seq, for `resume`.
   */
  #events: { seq: number; event: ServerEvent }[] = [];
  /** The lowest seq from which the window holds every event (committed seq + 1: holds nothing). */
  #windowStart = 1;
  /** The window's messages by id (edits, deletes and pins change them in place). */
  readonly #byId = new Map<number, WireMessage>();
  /**
   * Who reacted with what, for the window's messages that have reactions: user → the rank of their
   * reaction (its seq; below every seq for those read from the store at activation, in the store's
   * order). A Map keeps insertion order, so each emoji's first entry is its earliest reaction, by
   * which emojis are listed, as the store lists them (by created_at).
   */
  readonly #reactions = new Map<number, Map<string, Map<number, number>>>();
  /**
   * Sends accepted and not yet settled, and what a deletion waiting for them to settle calls (no
   * row may land after the room's DELETE). A count, not a set of promises: nothing more per send.
   */
  #sending = 0;
  #drained: (() => void) | null = null;
  /**
   * Messages whose delete took a seq and is not committed yet, and those deleted while sends were
   * in flight (null when none): a reply is checked against them when it takes its seq, for its
   * parent, checked live earlier, may have been deleted at a seq before it meanwhile (a tombstone
   * takes no replies). The second set goes when no send is in flight: no earlier check is pending.
   */
  readonly #deleting = new Set<number>();
  #deletedLately: Set<number> | null = null;

  constructor(id: number, ctx: ChatContext) {
    this.#id = id;
    this.#ctx = ctx;
    this.#counter = { conversationId: id, lastSeq: 0 };
  }

  async activate(): Promise<void> {
    const { store } = this.#ctx.services;
    this.#conv = (await loadConversation(store, this.#id)) ?? null;
    if (this.#conv === null) return;
    for (const m of await store.listMembers(this.#id)) {
      if (m.banned) this.#bans.set(m.user_id, m.banned_until);
      else this.#members.set(m.user_id, m);
    }
    const last = await store.lastSeq(this.#id);
    this.#counter = { conversationId: this.#id, lastSeq: last };
    this.#committedSeq = last;
    this.#windowStart = last + 1;
    const window = this.#ctx.services.config.runtime.recentWindow;
    if (window > 0 && last > 0) {
      const rows = await store.messagesAfterSeq(this.#id, Math.max(0, last - window), window);
      this.#recent = await this.#wire(rows);
      for (const m of this.#recent) this.#indexClient(m);
      const first = this.#recent[0];
      if (first !== undefined) {
        const [events, reactions] = await Promise.all([
          store.eventsAfterSeq(this.#id, first.seq - 1, last),
          store.reactionsFor(this.#recent.map((m) => m.id)),
        ]);
        this.#events = events.map((e) => ({ seq: e.seq, event: { type: e.type, data: e.data } as unknown as ServerEvent }));
        let rank = -reactions.length;
        for (const r of reactions) this.#reactionSet(r.message_id, r.emoji, true).set(r.user_id, rank++);
        this.#windowStart = first.seq;
      }
    }
  }

  /**
   * Not passivated while sockets listen: the subscriber counts live here only, and a room
   * re-activated without them would post to no front (its subscribers would hear nothing). Nor
   * while members are online (their presence is told once, when it changes) or the timer waits.
   */
  keepAlive(): boolean {
    for (const n of this.#subs.values()) if (n > 0) return true;
    return (this.#presence?.online ?? 0) > 0 || this.#timer !== null;
  }

  /** No such conversation (never was, or deleted): the host drops this activation once idle. */
  vacant(): boolean {
    return this.#conv === null && !this.keepAlive();
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
        return this.#find(msg.messageId, msg.caller.id);
      case 'thread':
        this.#seeing(msg.caller, msg.messageId);
        return this.#thread(msg.messageId, msg.caller.id, msg.before, msg.after, msg.limit);
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
      case 'edit':
      case 'delete':
      case 'react':
      case 'pin':
        return this.#change(msg);
      case 'pins':
        return this.#pins(msg.caller);
      case 'read':
        return this.#markRead(msg.caller, msg.messageId, msg.except);
      case 'update':
        return this.#update(msg.caller, msg.patch, msg.ip);
      case 'delete_room':
        return this.#delete(msg.caller, msg.ip);
      case 'moderate':
        this.#expect('room');
        return moderate(this.#moderation(), msg);
      case 'sanctions':
        this.#expect('room');
        return sanctions(this.#moderation(), msg);
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

  /** A member who may post, edit, react or type: not banned, not muted. */
  #writer(caller: Caller): Member {
    this.#room();
    const m = this.#members.get(caller.id);
    if (m === undefined) throw this.#outsider(caller.id);
    if (m.banned) throw new ChatError('forbidden', `banned from conversation ${this.#id}`);
    if (m.muted_until !== null && Date.parse(m.muted_until) > Date.now()) {
      throw new ChatError('forbidden', `muted in conversation ${this.#id} until ${m.muted_until}`);
    }
    return m;
  }

  /** A member, muted or not (an author deletes their own message even while muted). */
  #member(caller: Caller): Member {
    this.#room();
    const m = this.#members.get(caller.id);
    if (m === undefined) throw this.#outsider(caller.id);
    if (m.banned) throw new ChatError('forbidden', `banned from conversation ${this.#id}`);
    return m;
  }

  /** Why a user who is not a member may not write: banned, or not joined. */
  #outsider(userId: number): ChatError {
    if (bannedNow(this.#bans, userId)) return new ChatError('forbidden', `banned from conversation ${this.#id}`);
    return new ChatError('forbidden', `not a member of conversation ${this.#id}: join it first`);
  }

  /** Members read; so does anyone for a public room (as the REST listing shows it), but the banned. */
  #readable(caller: Caller): void {
    const conv = this.#room();
    const m = this.#members.get(caller.id);
    if (m?.banned || (m === undefined && this.#bans.size > 0 && bannedNow(this.#bans, caller.id))) {
      throw new ChatError('forbidden', `banned from conversation ${this.#id}`);
    }
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
    if (member?.banned || (member === undefined && bannedNow(this.#bans, caller.id))) throw new ChatError('forbidden', `banned from room ${this.#id}`);
    if (member === undefined) {
      if (!conv.is_public && caller.role !== 'admin') throw new ChatError('forbidden', `room ${this.#id} is private`);
      if (conv.max_members !== null && this.#members.size >= conv.max_members) {
        throw new ChatError('forbidden', `room ${this.#id} is full (${conv.max_members} members)`);
      }
      const { store, config } = this.#ctx.services;
      // One store round trip: joins of a room are handled one at a time, and 1,000 members
      // joining at once wait for each other's.
      member = await store.joinRoom(this.#id, caller.id, config.limits.roomsPerUser);
      if (member.banned) {
        // A ban this actor does not hold in force: a timed one that ended goes, and the join goes on.
        if (banInForce(member.banned_until)) {
          this.#bans.set(caller.id, member.banned_until);
          throw new ChatError('forbidden', `banned from room ${this.#id}`);
        }
        await store.unbanMember(this.#id, caller.id, null);
        member = await store.joinRoom(this.#id, caller.id, config.limits.roomsPerUser);
        if (member.banned) throw new ChatError('forbidden', `banned from room ${this.#id}`);
      }
      this.#members.set(caller.id, member);
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
    const known = parent === null ? undefined : this.#windowMessage(parent);
    let ready: Promise<unknown> | null = parent === null || (known !== undefined && !known.is_deleted) ? null : this.#checkParent(parent);
    if (input.content.includes('@')) {
      const mentions = this.#mentions(row);
      if (mentions !== null) ready = ready === null ? mentions : Promise.all([ready, mentions]);
    }
    const gate = this.#gate;
    let submitted: Promise<Committed>;
    if (ready === null && gate === null) {
      if (parent !== null) this.#stillParent(parent);
      submitted = committer.submit(this.#counter, row);
    } else {
      const before = gate === null ? ready! : ready === null ? gate : Promise.all([gate, ready]);
      // Wrapped, so the turn settles when the row is submitted, not when it is committed.
      const turn = before.then(() => {
        if (parent !== null) this.#stillParent(parent);
        return { commit: committer.submit(this.#counter, row) };
      });
      // Refused or submitted, and never before the send ahead of it (a refused check can settle first).
      const done = turn.then(
        () => undefined,
        () => undefined,
      );
      const next: Promise<void> = (gate === null ? done : gate.then(() => done)).then(() => this.#openGate(next));
      this.#gate = next;
      submitted = turn.then((t) => t.commit);
    }
    this.#sending++;
    const committed = submitted
      .then(({ message, duplicate }) => {
        // The rest of this callback runs before a deletion waiting on it resumes (a microtask later).
        this.#sent();
        if (message.conversation_id !== this.#id) {
          // client_id is unique per author across conversations: a reuse elsewhere is a conflict.
          throw new ChatError('conflict', 'client_id already used for a message in another conversation');
        }
        // A duplicate is the caller's own earlier message (client_id is unique per author).
        const wire = toWireMessage(message, conv, caller.username);
        if (!duplicate) this.#committed(wire);
        return sendReply(wire, duplicate, brief);
      }, (e: unknown) => {
        this.#sent();
        throw e;
      });
    return this.#ctx.defer(committed);
  }

  #openGate(gate: Promise<void>): void {
    if (this.#gate === gate) this.#gate = null;
  }

  #sent(): void {
    if (--this.#sending === 0) this.#deletedLately = null;
    if (this.#sending > 0 || this.#drained === null) return;
    const drained = this.#drained;
    this.#drained = null;
    drained();
  }

  /** A reply's parent is a message of this conversation, and not deleted (a tombstone takes no replies). */
  async #checkParent(id: number): Promise<void> {
    const known = this.#windowMessage(id);
    const m = known === undefined ? await this.#ctx.services.store.getMessage(id) : null;
    if (known?.is_deleted === true || (known === undefined && (m === null || m.conversation_id !== this.#id || m.deleted_at !== null))) {
      throw parentNotFound();
    }
  }

  /** A delete committed (or refused): sends checked before it may still be waiting for their seq. */
  #deleteSettled(id: number, applied: boolean): void {
    this.#deleting.delete(id);
    if (applied && this.#sending > 0) (this.#deletedLately ??= new Set()).add(id);
  }

  /** As the reply takes its seq: its parent was not deleted since it was checked. */
  #stillParent(id: number): void {
    if (this.#deleting.has(id) || this.#deletedLately?.has(id) === true || this.#windowMessage(id)?.is_deleted === true) throw parentNotFound();
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
    if (this.#bans.size > 0 && bannedNow(this.#bans, userId)) return false;
    const m = this.#members.get(userId);
    if (m !== undefined) return !m.banned;
    const conv = this.#room();
    return conv.is_public && conv.type !== 'direct_message';
  }

  /** A message of the window by id. */
  #windowMessage(id: number): WireMessage | undefined {
    return this.#byId.get(id);
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

  /**
   * One message of this conversation as `reader` sees it (a deleted one as its tombstone, as
   * history shows it), from the window when there (its thread_count kept exact there), else the store.
   */
  async #find(id: number, reader: number): Promise<WireMessage> {
    const recent = this.#windowMessage(id);
    if (recent !== undefined) return this.#forReader([recent], reader)[0]!;
    const row = await this.#ctx.services.store.getMessage(id);
    if (row === null || row.conversation_id !== this.#id) throw new ChatError('not_found', `message ${id} not found`);
    const wire = await this.#wire([row]);
    await this.#withReactions(wire, reader);
    return wire[0]!;
  }

  async #thread(id: number, reader: number, before: number | undefined, after: number | undefined, limit: number): Promise<ThreadReply> {
    const page = await this.#ctx.services.store.listReplies(this.#id, id, {
      limit,
      ...(before !== undefined ? { before } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    // The parent read after the page, from the window or the store (whose count each reply's own
    // statement raised): its count then includes every reply the page holds. Read before it, a
    // parent outside the window missed the replies committed meanwhile. An unknown id is
    // `not_found` here (its page is empty).
    const parent = await this.#find(id, reader);
    const messages = await this.#wire(page.messages);
    await this.#withReactions(messages, reader);
    return { parent, messages, has_more: page.has_more, next_cursor: page.next_cursor };
  }

  /** A committed message: into the window, then out to every subscriber. */
  #committed(wire: WireMessage): void {
    if (wire.seq !== this.#committedSeq + 1) return this.#hold(wire.seq, () => this.#committed(wire));
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
          this.#byId.delete(old.id);
          this.#reactions.delete(old.id);
        }
        this.#trimEvents();
      }
    } else {
      this.#windowStart = wire.seq + 1;
    }
    sent[this.#isDm() ? 'dm' : 'room'].inc();
    this.#publish({ type: 'message', data: wire });
    if (this.#held !== null) this.#release();
  }

  /** Keeps a committed event until the seqs before it are published. */
  #hold(seq: number, publish: () => void): void {
    if (this.#held === null) {
      this.#held = new Map();
      // Every answer of a flush reaches this actor within the microtasks that follow it: by the next
      // turn of the event loop a seq still missing will not come (it never should), and what is
      // held goes out in seq order rather than never.
      setImmediate(() => this.#releaseAll());
    }
    this.#held.set(seq, publish);
  }

  /** Publishes the held event that is next in seq, if any (which releases the one after it). */
  #release(): void {
    const held = this.#held!;
    const next = held.get(this.#committedSeq + 1);
    if (next === undefined) return;
    held.delete(this.#committedSeq + 1);
    if (held.size === 0) this.#held = null;
    next();
  }

  #releaseAll(): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    for (const seq of [...held.keys()].sort((x, y) => x - y)) {
      const top = this.#committedSeq;
      this.#committedSeq = seq - 1;
      held.get(seq)!();
      this.#committedSeq = Math.max(top, this.#committedSeq);
    }
  }

  /** Events older than the window's first message leave with it. */
  #trimEvents(): void {
    const first = this.#recent[0];
    this.#windowStart = first === undefined ? this.#committedSeq + 1 : first.seq;
    let drop = 0;
    while (drop < this.#events.length && this.#events[drop]!.seq < this.#windowStart) drop++;
    if (drop > 0) this.#events.splice(0, drop);
  }

  // ---------------------------------------------------------------------------------------------
  // Changes to messages: edits, deletes, reactions, pins. Each is checked here, against the
  // message as it is now, then takes the next seq in the group committer (ordered with the
  // messages), and is published once committed, like a message.

  async #change(msg: MessageChangeRequest | { t: 'pin'; caller: Caller; messageId: number; pin: boolean }): Promise<ChangeReply> {
    const conv = this.#room();
    const m = await this.#message(msg.messageId);
    const caller = msg.caller;
    const where = this.#isDm() ? { conversation_id: this.#id } : { conversation_id: this.#id, room_id: this.#id };
    let change: StateChange;
    let data: (seq: number) => Record<string, unknown>;
    /** A deletion by someone else than the author: audited once committed. */
    let moderated: AuditEntry | null = null;
    switch (msg.t) {
      case 'edit': {
        this.#writer(caller);
        if (m.author_id !== caller.id) throw new ChatError('forbidden', 'only the author edits a message');
        const at = new Date().toISOString();
        change = { type: 'message_edited', messageId: m.id, content: msg.content, at };
        data = (seq) => ({ ...where, seq, message_id: m.id, content: msg.content, is_edited: true, edited_at: at });
        break;
      }
      case 'delete': {
        const member = this.#members.get(caller.id);
        const moderates = member !== undefined && !member.banned && (member.role === 'owner' || member.role === 'moderator');
        const global = caller.role === 'moderator' || caller.role === 'admin';
        if (m.author_id === caller.id) this.#member(caller);
        else if (!moderates && !global) throw new ChatError('forbidden', "only the author, the room's owner or moderators, or a moderator deletes a message");
        else moderated = { actorId: caller.id, action: 'message.delete', targetType: 'message', targetId: String(m.id), details: { conversation_id: this.#id, author_id: m.author_id }, ip: msg.ip ?? null };
        const at = new Date().toISOString();
        change = { type: 'message_deleted', messageId: m.id, by: caller.id, at };
        data = (seq) => ({ ...where, seq, message_id: m.id, deleted_by: caller.id });
        break;
      }
      case 'react': {
        this.#writer(caller);
        const type = msg.add ? 'reaction_added' : 'reaction_removed';
        const has = this.#reactions.get(m.id)?.get(msg.emoji)?.has(caller.id);
        // Known from the window: nothing to change, no seq to take.
        if (this.#byId.has(m.id) && has === msg.add) return { conversation_id: this.#id, message_id: m.id, changed: false, seq: null };
        change = { type, messageId: m.id, userId: caller.id, emoji: msg.emoji };
        data = (seq) => ({ ...where, seq, message_id: m.id, user_id: caller.id, emoji: msg.emoji });
        break;
      }
      case 'pin': {
        if (conv.type === 'direct_message') throw new ChatError('not_found', `room ${this.#id} not found`);
        const member = this.#members.get(caller.id);
        const moderates = member !== undefined && !member.banned && (member.role === 'owner' || member.role === 'moderator');
        if (!moderates && caller.role !== 'admin') throw new ChatError('forbidden', "only the room's owner or moderators pin messages");
        if (this.#byId.has(m.id) && m.is_pinned === msg.pin) return { conversation_id: this.#id, message_id: m.id, changed: false, seq: null };
        change = { type: msg.pin ? 'message_pinned' : 'message_unpinned', messageId: m.id, userId: caller.id };
        data = (seq) => ({ conversation_id: this.#id, room_id: this.#id, seq, message_id: m.id, user_id: caller.id });
        break;
      }
    }
    // A delete of it has taken a seq: this change would come after it, to a tombstone.
    if (this.#deleting.has(m.id)) throw new ChatError('not_found', `message ${m.id} not found`);
    const deleting = change.type === 'message_deleted';
    if (deleting) this.#deleting.add(m.id);
    const committed = this.#ctx.services.committer.submitChange(this.#counter, change, data).then(
      (out): ChangeReply => {
        if (deleting) this.#deleteSettled(m.id, out.applied);
        if (!out.applied) {
          // The store refused it because the message was deleted meanwhile (an edit or a delete is
          // refused for nothing else): `not_found`, as for any change to a tombstone.
          if (deleting || change.type === 'message_edited' || this.#windowMessage(m.id)?.is_deleted === true) {
            throw new ChatError('not_found', `message ${m.id} not found`);
          }
          return { conversation_id: this.#id, message_id: m.id, changed: false, seq: null };
        }
        const event = { type: change.type, data: { ...data(out.seq), ...(out.editCount === undefined ? {} : { edit_count: out.editCount }) } } as unknown as ServerEvent;
        this.#changed(change, event, out.seq);
        return { conversation_id: this.#id, message_id: m.id, changed: true, seq: out.seq };
      },
      (e: unknown) => {
        if (deleting) this.#deleteSettled(m.id, false);
        throw e;
      },
    );
    if (moderated !== null) {
      const entry = moderated;
      // After the commit, off the mailbox (deferred): a moderator's deletion is rare, and the
      // answer waits for its entry so the trail holds it when the client hears of it.
      return this.#ctx.defer(committed.then(async (reply) => (reply.changed ? (await this.#ctx.services.store.audit(entry), reply) : reply)));
    }
    return this.#ctx.defer(committed);
  }

  async #pins(caller: Caller): Promise<WireMessage[]> {
    if (this.#isDm()) throw new ChatError('not_found', `room ${this.#id} not found`);
    this.#readable(caller);
    const messages = await this.#wire(await this.#ctx.services.store.pinnedMessages(this.#id));
    await this.#withReactions(messages, caller.id);
    return messages;
  }

  /** A committed change: the window's message follows it, the event joins the window, then out. */
  #changed(change: StateChange, event: ServerEvent, seq: number): void {
    if (seq !== this.#committedSeq + 1) return this.#hold(seq, () => this.#changed(change, event, seq));
    this.#committedSeq = seq;
    const m = this.#byId.get(change.messageId);
    if (m !== undefined) {
      switch (change.type) {
        case 'message_edited':
          m.content = change.content;
          m.is_edited = true;
          m.edit_count = (event.data as { edit_count: number }).edit_count;
          m.edited_at = change.at;
          break;
        case 'message_deleted':
          m.content = '';
          m.metadata = {};
          m.is_deleted = true;
          m.is_pinned = false;
          this.#reactions.delete(m.id);
          // The content goes from the window's edit events too, as from the store's.
          for (const e of this.#events) {
            if (e.event.type === 'message_edited' && e.event.data.message_id === m.id) e.event = { type: 'message_edited', data: { ...e.event.data, content: '' } };
          }
          break;
        case 'reaction_added':
          this.#reactionSet(m.id, change.emoji, true).set(change.userId, seq);
          break;
        case 'reaction_removed':
          this.#reactionSet(m.id, change.emoji, false)?.delete(change.userId);
          break;
        case 'message_pinned':
        case 'message_unpinned':
          m.is_pinned = change.type === 'message_pinned';
      }
    }
    if (this.#ctx.services.config.runtime.recentWindow > 0 && this.#recent.length > 0) this.#events.push({ seq, event });
    else this.#windowStart = seq + 1;
    this.#publish(event);
    if (this.#held !== null) this.#release();
  }

  /** The message, from the window or the store; `not_found` unless it is this conversation's and not deleted. */
  async #message(id: number): Promise<WireMessage> {
    const known = this.#byId.get(id);
    if (known !== undefined) {
      if (known.is_deleted) throw new ChatError('not_found', `message ${id} not found`);
      return known;
    }
    const row = await this.#ctx.services.store.getMessage(id);
    if (row === null || row.conversation_id !== this.#id || row.deleted_at !== null) throw new ChatError('not_found', `message ${id} not found`);
    return toWireMessage(row, this.#room(), '');
  }

  /** The users who reacted with `emoji` to message `id`, with their reactions' ranks (made when `make`). */
  #reactionSet(id: number, emoji: string, make: true): Map<number, number>;
  #reactionSet(id: number, emoji: string, make: false): Map<number, number> | undefined;
  #reactionSet(id: number, emoji: string, make: boolean): Map<number, number> | undefined {
    let byEmoji = this.#reactions.get(id);
    if (byEmoji === undefined) {
      if (!make) return undefined;
      this.#reactions.set(id, (byEmoji = new Map()));
    }
    let users = byEmoji.get(emoji);
    if (users === undefined && make) byEmoji.set(emoji, (users = new Map()));
    return users;
  }

  /** Messages read from the store get their reactions from it (one query per page). */
  async #withReactions(messages: WireMessage[], reader: number): Promise<void> {
    if (messages.length === 0) return;
    const rows = await this.#ctx.services.store.reactionsFor(messages.map((m) => m.id));
    if (rows.length === 0) return;
    const byId = new Map(messages.map((m) => [m.id, m]));
    for (const r of rows) {
      const m = byId.get(r.message_id);
      if (m === undefined) continue;
      let entry = m.reactions.find((x) => x.emoji === r.emoji);
      if (entry === undefined) m.reactions.push((entry = { emoji: r.emoji, count: 0, reacted: false }));
      entry.count++;
      if (r.user_id === reader) entry.reacted = true;
    }
  }

  /** Messages as `reader` sees them: with the reactions the window knows of. */
  #forReader(messages: WireMessage[], reader: number): WireMessage[] {
    if (this.#reactions.size === 0) return messages;
    return messages.map((m) => {
      const byEmoji = this.#reactions.get(m.id);
      if (byEmoji === undefined) return m;
      // By each emoji's earliest reaction still there, as the store orders them: an emoji whose
      // first reactor took theirs back moves after one reacted with since.
      const ranked: { rank: number; r: ReactionSummary }[] = [];
      for (const [emoji, users] of byEmoji) {
        if (users.size > 0) ranked.push({ rank: users.values().next().value!, r: { emoji, count: users.size, reacted: users.has(reader) } });
      }
      ranked.sort((x, y) => x.rank - y.rank);
      return { ...m, reactions: ranked.map((x) => x.r) };
    });
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
    const post: FrontPost = except === undefined ? { t: 'publish', topics, event: encoded } : { t: 'publish', topics, event: encoded, exceptUser: except };
    for (const [front, n] of this.#subs) if (n > 0) this.#ctx.post(front, post);
  }

  async #history(caller: Caller, before: number | undefined, after: number | undefined, limit: number): Promise<HistoryReply> {
    this.#readable(caller);
    const recent = this.#recent;
    // The window answers when it certainly holds the whole page (it holds the latest messages).
    if (after === undefined && recent.length > 0) {
      const upto = before === undefined ? recent.length : recent.findIndex((m) => m.id >= before);
      const end = upto === -1 ? recent.length : upto;
      const start = end - limit;
      const windowIsWholeHistory = recent[0]!.seq === 1;
      if (start >= 0 || windowIsWholeHistory) {
        const messages = this.#forReader(recent.slice(Math.max(0, start), end), caller.id);
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
    await this.#withReactions(messages, caller.id);
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
    let stored: { seq: number; event: ServerEvent }[] = [];
    for (let attempt = 0; attempt < 3 && !this.#windowFrom(lastSeq + 1 + stored.length); attempt++) {
      const from = lastSeq + stored.length;
      const to = this.#committedSeq;
      if (to - lastSeq > RESUME_MAX_EVENTS) break;
      const { store } = this.#ctx.services;
      const [rows, changes] = await Promise.all([store.messagesAfterSeq(this.#id, from, to - from), store.eventsAfterSeq(this.#id, from, to)]);
      const messages = await this.#wire(rows.filter((r) => r.seq <= to));
      stored = stored.concat(mergeBySeq(messages, changes.map((e) => ({ seq: e.seq, event: { type: e.type, data: e.data } as unknown as ServerEvent }))));
    }
    // From here to the answer: no await.
    const to = this.#committedSeq;
    if (front !== undefined && subscribed) this.#subs.set(front, (this.#subs.get(front) ?? 0) + 1);
    const reply = (recovered: boolean, events: ServerEvent[]): ResumeReply =>
      this.#ctx.answer({ conversation_id: this.#id, recovered, from_seq: lastSeq + 1, to_seq: to, events, subscribed, live: subscribed || this.#isDm() });
    // A position ahead of the server (a client restored from elsewhere, or lying) cannot be
    // trusted for what it has: the client reloads with fetch_history.
    if (lastSeq > to) return reply(false, []);
    const next = lastSeq + 1 + stored.length;
    if (next <= to && !this.#windowFrom(next)) return reply(false, []);
    const recent =
      next > to
        ? []
        : mergeBySeq(
            this.#recent.filter((m) => m.seq >= next && m.seq <= to),
            this.#events.filter((e) => e.seq >= next && e.seq <= to),
          );
    return reply(true, stored.concat(recent).map((e) => e.event));
  }

  /** The window holds every committed event from `seq` on (or there is none past it). */
  #windowFrom(seq: number): boolean {
    return seq > this.#committedSeq || (this.#recent.length > 0 && seq >= this.#windowStart);
  }

  #indexClient(m: WireMessage): void {
    this.#byId.set(m.id, m);
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
    const presence: MemberPresence[] = page.map((m) => this.#presence?.of(m.user_id) ?? { status: 'offline', last_activity: null });
    // Members who came online while this room was not active were not told to it (a user's
    // presence goes only to active rooms): ask their UserActors, for this page.
    await Promise.all(
      page.map(async (m, i) => {
        if (this.#presence?.knows(m.user_id)) return;
        const p = await this.#ctx.ask<PresenceData | null>(USER, m.user_id, { t: 'presence_get' });
        if (p !== null) presence[i] = { status: p.status, last_activity: p.last_activity ?? null };
      }),
    );
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

  // ------------------------------------------------------------------- read markers, room changes

  /**
   * The caller's read marker, forward only. The message must be one of this conversation's (the
   * window, else one lookup); anything else is `not_found` and changes nothing. A marker that
   * moved is told to the caller's other sockets, on every front (they may be anywhere).
   */
  async #markRead(caller: Caller, messageId: number, except: string | undefined): Promise<ReadReply> {
    this.#readable(caller);
    if (!this.#recent.some((m) => m.id === messageId)) {
      const m = await this.#ctx.services.store.getMessage(messageId);
      if (m === null || m.conversation_id !== this.#id) {
        const message = `message ${messageId} not found in conversation ${this.#id}`;
        throw new ChatError('not_found', message, { details: [{ path: 'message_id', message }] });
      }
    }
    const marker = await this.#ctx.services.store.markRead(caller.id, this.#id, messageId);
    if (marker.updated) {
      const event = jsonEvent({ type: 'read', data: { conversation_id: this.#id, user_id: caller.id, message_id: marker.message_id } });
      this.#ctx.broadcast({ t: 'publish', users: [caller.id], event, ...(except !== undefined ? { except } : {}) });
    }
    return { conversation_id: this.#id, message_id: marker.message_id, updated: marker.updated, unread_count: marker.unread_count };
  }

  /**
   * Who may change a room: its owner and admins, and for its settings (`moderators`) its
   * moderators too. A banned member has no say whatever the role.
   */
  #authorize(caller: Caller, who: 'moderators' | 'owner', what: string): Conversation {
    this.#expect('room');
    const conv = this.#room();
    const m = this.#members.get(caller.id);
    const role = m !== undefined && !m.banned ? m.role : null;
    if (caller.role === 'admin' || conv.owner_id === caller.id || role === 'owner') return conv;
    if (who === 'moderators' && role === 'moderator') return conv;
    const allowed = who === 'moderators' ? 'the owner, a moderator of room' : 'the owner of room';
    throw new ChatError('forbidden', `only ${allowed} ${this.#id} or an admin may ${what}`);
  }

  /** This actor as moderation sees it (./room-moderation.ts). */
  #moderation(): ModeratedRoom {
    if (this.#moderated !== null) return this.#moderated;
    const self = {
      id: this.#id,
      ctx: this.#ctx,
      members: this.#members,
      bans: this.#bans,
      room: (): Conversation => this.#room(),
      publish: (event: ServerEvent) => this.#publish(event),
      forget: async (userId: number) => {
        this.#presence?.forget(userId);
        if (this.#typing?.stop(userId)) {
          const names = await this.#ctx.services.usernames([userId]);
          this.#publishTyping(userId, names.get(userId) ?? `user ${userId}`, 'stop');
        }
        this.#ctx.tell(USER, userId, { t: 'conversation_removed', conversationId: this.#id });
      },
    };
    return (this.#moderated = self);
  }

  async #update(caller: Caller, patch: RoomPatch, ip?: string) {
    this.#authorize(caller, 'moderators', 'change it');
    const { store } = this.#ctx.services;
    const row = await store.updateRoom(this.#id, patch);
    if (row === null) throw new ChatError('not_found', `room ${this.#id} not found`);
    this.#conv = row;
    const room = this.#wireRoom()!;
    await store.audit({ actorId: caller.id, action: 'room.update', targetType: 'conversation', targetId: String(this.#id), details: { ...patch }, ip: ip ?? null });
    this.#publish({ type: 'room_updated', data: { room } });
    return room;
  }

  /**
   * The room and its history go; the actor stops, and a new activation finds no conversation, so
   * every later operation on it is `not_found`. Sends already submitted are waited for first: a
   * row committed after the DELETE would outlive its room (messages have no foreign key).
   */
  async #delete(caller: Caller, ip?: string): Promise<{ room_id: number }> {
    const conv = this.#authorize(caller, 'owner', 'delete it');
    // The mailbox is held by this message, so no send can be accepted while it waits.
    if (this.#sending > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    const { store } = this.#ctx.services;
    if (!(await store.deleteRoom(this.#id))) throw new ChatError('not_found', `room ${this.#id} not found`);
    await store.audit({ actorId: caller.id, action: 'room.delete', targetType: 'conversation', targetId: String(this.#id), details: { name: conv.name }, ip: ip ?? null });
    const users = [...this.#members.keys()];
    this.#conv = null;
    this.#members.clear();
    this.#recent = [];
    this.#recentByClient.clear();
    // Every front: the room's subscribers are counted per front, but its members' other sockets may be anywhere.
    this.#ctx.broadcast({ t: 'room_deleted', roomId: this.#id, users });
    this.#ctx.stopSelf();
    return { room_id: this.#id };
  }
}

/** Messages and state events, each in seq order, as one list of events in seq order. */
function mergeBySeq(messages: readonly WireMessage[], changes: readonly { seq: number; event: ServerEvent }[]): { seq: number; event: ServerEvent }[] {
  const out: { seq: number; event: ServerEvent }[] = [];
  let i = 0;
  let j = 0;
  while (i < messages.length || j < changes.length) {
    const m = messages[i];
    const c = changes[j];
    if (c === undefined || (m !== undefined && m.seq < c.seq)) {
      out.push({ seq: m!.seq, event: { type: 'message', data: m! } });
      i++;
    } else {
      out.push(c);
      j++;
    }
  }
  return out;
}

function parentNotFound(): ChatError {
  const message = 'parent message not found in this conversation';
  return new ChatError('not_found', message, { details: [{ path: 'parent_message_id', message }] });
}
