/**
 * MessageRouter (kind MESSAGE, one per message id that someone edits, deletes, reacts to or reads
 * by id: `GET /messages/:id`, its thread): the contract names such a message by its id alone, and
 * only its conversation's RoomActor may change it, or decide who may read it. The router finds the conversation once (one store lookup, then kept while active) and hands
 * each request to that RoomActor; it answers `not_found` for a message that does not exist. It
 * decides nothing itself: who may do what is the RoomActor's to check.
 */
import { ChatError } from '../errors.js';
import type { ChatContext } from './context.js';
import { ROOM, type MessageChangeRequest, type MessageReadRequest } from './messages.js';

export class MessageRouter {
  readonly #id: number;
  readonly #ctx: ChatContext;
  #conversationId: number | null = null;

  constructor(id: number, ctx: ChatContext) {
    this.#id = id;
    this.#ctx = ctx;
  }

  async activate(): Promise<void> {
    const m = await this.#ctx.services.store.getMessage(this.#id);
    this.#conversationId = m === null ? null : m.conversation_id;
  }

  /** No such message (yet): the host drops this activation once idle; the next request looks again. */
  vacant(): boolean {
    return this.#conversationId === null;
  }

  receive(msg: MessageChangeRequest | MessageReadRequest): unknown {
    if (this.#conversationId === null) {
      // Not there when activated, but an id is handed out before its message commits (a client
      // may ask for one it was told of a moment ago): look again rather than remember "none".
      const found = this.#ctx.services.store.getMessage(this.#id).then((m) => {
        if (m === null) throw new ChatError('not_found', `message ${this.#id} not found`);
        this.#conversationId = m.conversation_id;
        return this.#ctx.ask<unknown>(ROOM, m.conversation_id, msg);
      });
      return this.#ctx.defer(found);
    }
    // Deferred: the mailbox moves on while the room commits (edits of one message stay in order,
    // as the room handles its messages one at a time).
    return this.#ctx.defer(this.#ctx.ask<unknown>(ROOM, this.#conversationId, msg));
  }
}
