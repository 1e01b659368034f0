/**
 * A user's presence, as their UserActor keeps it: one status across all of the user's connections
 * (offline only when the last one closes or times out), the time of their last activity, and the
 * conversations it goes to. The UserActor is the only caller.
 *
 * Each change is told to the RoomActor of every conversation the user is in (rooms and DMs,
 * loaded once per activation with one query, then kept current by the rooms: a join or a new DM
 * adds one, a leave removes it); each room coalesces and publishes (./room-presence.ts). A user
 * in many rooms costs one tell per room per change, and at most one change is told per half
 * window (`presence.windowMs` / 2): the first at once, later ones when the half window ends, and
 * only if the status then differs from the one told. Half, so that the second change of a flap
 * reaches each room before the room's own window (opened by the first) closes: the room then
 * publishes nothing for it.
 */
import { ChatError } from '../errors.js';
import type { PresenceData, PresenceStatus } from '../protocol/events.js';
import type { ChatContext } from './context.js';
import { ROOM, USER } from './messages.js';

export class UserPresence {
  readonly #id: number;
  readonly #ctx: ChatContext;
  /** What the user chose with set_presence; a first connection after none resets it to online. */
  #chosen: 'online' | 'away' = 'online';
  #status: PresenceStatus = 'offline';
  /** Epoch ms, made into ISO 8601 when told: every connected user holds one, a number is 8 bytes. */
  #lastActivity = Date.now();
  /** The status last told to the rooms. */
  #told: PresenceStatus = 'offline';
  /** An array, not a Set: most users are in a few conversations, and an empty array costs least. */
  #conversations: number[] | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(id: number, ctx: ChatContext) {
    this.#id = id;
    this.#ctx = ctx;
  }

  /** A window is open: the actor must stay to tell what changes at its end. */
  get waiting(): boolean {
    return this.#timer !== null;
  }

  get data(): PresenceData {
    return { user_id: this.#id, status: this.#status, last_activity: new Date(this.#lastActivity).toISOString() };
  }

  /** The user's connections went from none to one (`online`), or from one to none. */
  connected(online: boolean): Promise<void> | undefined {
    if (online) this.#chosen = 'online';
    else {
      // Kept in the users table (`last_activity`) for when nobody holds it in memory.
      this.#ctx.services.store.touchUser(this.#id).catch((err: unknown) => this.#ctx.services.log.warn('last_activity not stored', { user: this.#id, err }));
    }
    return this.#set(online ? this.#chosen : 'offline');
  }

  /** set_presence from one of the user's sockets. */
  async choose(status: 'online' | 'away', connected: boolean): Promise<PresenceData> {
    if (!connected) throw new ChatError('forbidden', 'set_presence needs an open connection');
    this.#chosen = status;
    await this.#set(status, true);
    return this.data;
  }

  /** The user became a member of a conversation (a join, a new DM): it hears the current status. */
  added(conversationId: number): void {
    if (this.#conversations !== null && !this.#conversations.includes(conversationId)) this.#conversations.push(conversationId);
    if (this.#status !== 'offline') this.#tellRoom(conversationId);
  }

  removed(conversationId: number): void {
    const i = this.#conversations?.indexOf(conversationId) ?? -1;
    if (i >= 0) this.#conversations!.splice(i, 1);
  }

  /** The window ended: tell the rooms the status if it is not the one told. */
  tick(): Promise<void> | undefined {
    this.#timer = null;
    return this.#status === this.#told ? undefined : this.#tell();
  }

  #set(status: PresenceStatus, active = false): Promise<void> | undefined {
    if (status === this.#status && !active) return undefined;
    this.#status = status;
    this.#lastActivity = Date.now();
    // Within a window the change waits for its end (tick); a status back to the one told by then
    // is never told.
    return this.#timer === null && this.#status !== this.#told ? this.#tell() : undefined;
  }

  async #tell(): Promise<void> {
    const halfWindow = Math.ceil(this.#ctx.services.config.presence.windowMs / 2);
    this.#timer = setTimeout(() => this.#ctx.tell(USER, this.#id, { t: 'presence_tick' }), halfWindow);
    this.#timer.unref();
    if (this.#conversations === null) {
      try {
        this.#conversations = await this.#ctx.services.store.listConversationIds(this.#id);
      } catch (err) {
        // Not thrown: a failure would drop the actor, and the user's sessions with it. The
        // window's tick tries again, since the status still differs from the one told.
        this.#ctx.services.log.warn('presence: conversations not loaded', { user: this.#id, err });
        return;
      }
    }
    this.#told = this.#status;
    const msg = this.#presenceMessage();
    for (const id of this.#conversations) this.#ctx.tell(ROOM, id, msg);
  }

  #tellRoom(conversationId: number): void {
    this.#ctx.tell(ROOM, conversationId, this.#presenceMessage());
  }

  #presenceMessage() {
    return { t: 'presence', userId: this.#id, status: this.#status, lastActivity: new Date(this.#lastActivity).toISOString() } as const;
  }
}
