/**
 * A user's presence, as their UserActor keeps it: one status across all of the user's connections
 * (offline only when the last one closes or times out), the time of their last activity, and the
 * conversations it goes to. The UserActor is the only caller.
 *
 * Each change is told to the RoomActor of every room the user is a member of, which coalesces and
 * publishes it (./room-presence.ts), and sent directly to the sockets of the other user of each of
 * their DMs (one post to every front, naming all those users): a DM's RoomActor is not woken, nor
 * kept, for presence. Both lists are loaded once per activation with one query, then kept current
 * (a join adds a room, a leave removes it, a new DM adds its peer). A user in many rooms costs
 * one tell per room per change, and at most one change is told per half
 * window (`presence.windowMs` / 2): the first at once, later ones when the half window ends, and
 * only if the status then differs from the one told. Half, so that the second change of a flap
 * reaches each room before the room's own window (opened by the first) closes: the room then
 * publishes nothing for it.
 */
import { ChatError } from '../errors.js';
import type { PresenceData, PresenceStatus } from '../protocol/events.js';
import { jsonEvent } from '../protocol/codec.js';
import { batchedPerStore } from '../store/batch.js';
import type { Store } from '../store/store.js';
import type { ChatContext } from './context.js';
import { ROOM, USER } from './messages.js';

type Targets = { rooms: number[]; peers: number[] };

/**
 * The presence targets of users, loaded in batches: every user who connects needs theirs, and a
 * burst of 15,000 connections made 15,000 queries through the store (the connections bench:
 * 10.1 KiB of RSS per idle connection instead of 3.3, the queued queries' memory). Ids asked for
 * within 5 ms go in one query, at most 1,000 each (../store/batch.ts). One batcher per store (per
 * shard thread).
 */
const targetsOf = batchedPerStore((store: Store, ids: number[]) => store.listPresenceTargets(ids));

async function loadTargets(store: Store, userId: number): Promise<Targets> {
  return (await targetsOf(store, userId)) ?? { rooms: [], peers: [] };
}

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
  /** Arrays, not Sets: most users are in a few conversations, and an empty array costs least. */
  #rooms: number[] | null = null;
  #peers: number[] | null = null;
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

  /** The user became a member of a room: it hears the current status. */
  added(roomId: number): void {
    if (this.#rooms !== null && !this.#rooms.includes(roomId)) this.#rooms.push(roomId);
    if (this.#status !== 'offline') this.#ctx.tell(ROOM, roomId, this.#presenceMessage());
  }

  removed(roomId: number): void {
    const i = this.#rooms?.indexOf(roomId) ?? -1;
    if (i >= 0) this.#rooms!.splice(i, 1);
  }

  /** A new DM with `userId`: they hear the current status. */
  peerAdded(userId: number): void {
    if (this.#peers !== null && !this.#peers.includes(userId)) this.#peers.push(userId);
    if (this.#status !== 'offline') this.#toPeers([userId]);
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
    if (this.#rooms === null || this.#peers === null) {
      try {
        ({ rooms: this.#rooms, peers: this.#peers } = await loadTargets(this.#ctx.services.store, this.#id));
      } catch (err) {
        // Not thrown: a failure would drop the actor, and the user's sessions with it. The
        // window's tick tries again, since the status still differs from the one told.
        this.#ctx.services.log.warn('presence: conversations not loaded', { user: this.#id, err });
        this.#window();
        return;
      }
    }
    this.#told = this.#status;
    // Nobody to tell (a user in no room and no DM): no window either, no timer per connection.
    if (this.#rooms.length === 0 && this.#peers.length === 0) return;
    this.#window();
    const msg = this.#presenceMessage();
    // Only to rooms that are active: a room with listening sockets always is (RoomActor.keepAlive),
    // and waking every room of a user who comes online would load each one's window for nobody.
    for (const id of this.#rooms) this.#ctx.tellIfActive(ROOM, id, msg);
    if (this.#peers.length > 0) this.#toPeers(this.#peers);
  }

  #window(): void {
    const halfWindow = Math.ceil(this.#ctx.services.config.presence.windowMs / 2);
    this.#timer = setTimeout(() => this.#ctx.tell(USER, this.#id, { t: 'presence_tick' }), halfWindow);
    this.#timer.unref();
  }

  /** The `presence` event to every socket of `users`: one post to each front, which skips users it holds no socket of. */
  #toPeers(users: number[]): void {
    this.#ctx.broadcast({ t: 'publish', users: [...users], event: jsonEvent({ type: 'presence', data: this.data }) });
  }

  #presenceMessage() {
    return { t: 'presence', userId: this.#id, status: this.#status, lastActivity: new Date(this.#lastActivity).toISOString() } as const;
  }
}
