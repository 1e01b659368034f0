/**
 * SessionActor: one per authenticated connection that has joined or resumed a conversation (id =
 * session id). It holds the connection's server-side state beyond its socket: who it is, which
 * front serves it, which conversations it joined; it answers what spans several conversations
 * (`resume`) and, when the socket closes, gives back its subscriptions. The front's socket keeps
 * only what uWS needs (topics, timers).
 *
 * Activated on demand: a connection that only authenticated has no server-side state beyond its
 * claims, which the front holds, so the front sends `open` with its first `joined` or `resume`
 * and nothing before (an idle connection costs no activation). The user's actor hears about
 * sessions from the front directly (session_opened / session_closed), joined or not.
 *
 * Never passivated by idleness: its state is the connection's, and it stops itself when told the
 * connection closed.
 */
import { toChatError } from '../errors.js';
import type { ChatContext } from './context.js';
import { ROOM, type Caller, type ResumeOutcome, type ResumeReply } from './messages.js';

export type SessionRequest =
  | { t: 'open'; caller: Caller; front: number }
  | { t: 'joined'; conversationId: number }
  | { t: 'left'; conversationId: number }
  /** Per conversation, in the order given: the RoomActor's resume (which also subscribes). */
  | { t: 'resume'; positions: { conversation_id: number; last_seq: number }[]; subscribe: number[] }
  | { t: 'closed' };

export class SessionActor {
  readonly #id: string;
  readonly #ctx: ChatContext;
  #caller: Caller | null = null;
  #front = -1;
  /** Conversations joined; null until the first (an idle connection holds no Set). */
  #rooms: Set<number> | null = null;

  constructor(id: string, ctx: ChatContext) {
    this.#id = id;
    this.#ctx = ctx;
  }

  receive(msg: SessionRequest): unknown {
    switch (msg.t) {
      case 'open':
        this.#caller = msg.caller;
        this.#front = msg.front;
        return undefined;
      case 'joined':
        (this.#rooms ??= new Set()).add(msg.conversationId);
        return undefined;
      case 'left':
        this.#rooms?.delete(msg.conversationId);
        return undefined;
      case 'resume':
        return this.#resume(msg.positions, new Set(msg.subscribe));
      case 'closed':
        return this.#closed();
    }
  }

  /** One outcome per conversation: a conversation that cannot be resumed fails alone, not the others. */
  async #resume(positions: { conversation_id: number; last_seq: number }[], subscribe: Set<number>): Promise<ResumeOutcome[]> {
    const caller = this.#caller;
    if (caller === null) return [];
    const out: ResumeOutcome[] = [];
    for (const { conversation_id, last_seq } of positions) {
      const sub = subscribe.has(conversation_id) ? { sub: { front: this.#front } } : {};
      try {
        const r = await this.#ctx.ask<ResumeReply>(ROOM, conversation_id, { t: 'resume', caller, lastSeq: last_seq, ...sub });
        if (subscribe.has(conversation_id) && r.subscribed) (this.#rooms ??= new Set()).add(conversation_id);
        out.push(r);
      } catch (e) {
        const { code, message } = toChatError(e).toWire();
        out.push({ conversation_id, error: { code, message } });
      }
    }
    return out;
  }

  #closed(): void {
    for (const room of this.#rooms ?? []) this.#ctx.tell(ROOM, room, { t: 'detach', sub: { front: this.#front } });
    this.#rooms = null;
    this.#ctx.stopSelf();
  }
}
