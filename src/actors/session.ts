/**
 * SessionActor: one per authenticated connection that has joined or resumed a conversation (id =
 * session id). It holds the connection's server-side state beyond its socket: who it is, which
 * front serves it, which conversations it joined; when the socket closes, it gives back its
 * subscriptions. The front's socket keeps
 * only what uWS needs (topics, timers).
 *
 * Activated on demand: a connection that only authenticated has no server-side state beyond its
 * claims, which the front holds, so the front sends `open` with its first `joined` or `resume`
 * and nothing before (an idle connection costs no activation). The user's actor hears about
 * sessions from the front directly (session_opened / session_closed), joined or not. A resume
 * asks each RoomActor from the front directly, so that its answer comes on the same ring as the
 * room's events (src/net/ws/fanout.ts); the front tells this actor what it joined.
 *
 * Never passivated by idleness: its state is the connection's, and it stops itself when told the
 * connection closed.
 */
import type { ChatContext } from './context.js';
import { ROOM } from './messages.js';

export type SessionRequest =
  | { t: 'open'; front: number }
  | { t: 'joined'; conversationId: number }
  | { t: 'left'; conversationId: number }
  | { t: 'closed' };

export class SessionActor {
  readonly #ctx: ChatContext;
  #front = -1;
  /** Conversations joined; null until the first (an idle connection holds no Set). */
  #rooms: Set<number> | null = null;

  constructor(_id: string, ctx: ChatContext) {
    this.#ctx = ctx;
  }

  receive(msg: SessionRequest): unknown {
    switch (msg.t) {
      case 'open':
        this.#front = msg.front;
        return undefined;
      case 'joined':
        (this.#rooms ??= new Set()).add(msg.conversationId);
        return undefined;
      case 'left':
        this.#rooms?.delete(msg.conversationId);
        return undefined;
      case 'closed':
        return this.#closed();
    }
  }

  #closed(): void {
    for (const room of this.#rooms ?? []) this.#ctx.tell(ROOM, room, { t: 'detach', sub: { front: this.#front } });
    this.#rooms = null;
    this.#ctx.stopSelf();
  }
}
