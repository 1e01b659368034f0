/**
 * What a RoomActor knows of its members' presence and typing, kept apart from the room's messages:
 * plain state and rules, no timers and no I/O (the RoomActor schedules, publishes and is the only
 * caller), so the rules are tested with a made-up clock (test/room-presence.ts).
 *
 * Presence is coalesced per room: changes are collected and published at most once per window
 * (`presence.windowMs`), at most `presence.maxPerWindow` events each time, the last status of a
 * user winning. A user whose status comes back to what the room last published within a window
 * (online → offline → online) produces nothing. So churn of any size costs a room at most
 * `maxPerWindow` events per window, each delivered once to each subscriber.
 */
import type { PresenceData, PresenceStatus } from '../protocol/events.js';

export interface MemberPresence {
  status: PresenceStatus;
  /** When the user last changed status or said what it is (ISO 8601); null when never seen here. */
  last_activity: string | null;
}

interface Seen {
  status: PresenceStatus;
  lastActivity: string;
  /** What this room last published for the user ('offline' before the first publish). */
  published: PresenceStatus;
}

export class RoomPresence {
  readonly #seen = new Map<number, Seen>();
  /** Users whose status differs from what was published, oldest change first (a Set keeps insertion order). */
  readonly #pending = new Set<number>();
  #notOffline = 0;

  /** Members known to be online or away. */
  get online(): number {
    return this.#notOffline;
  }

  /** Changes waiting for a window. */
  get pending(): number {
    return this.#pending.size;
  }

  /** A member's status as the user's actor told it. True when a change now waits to be published. */
  update(userId: number, status: PresenceStatus, lastActivity: string): boolean {
    let seen = this.#seen.get(userId);
    if (seen === undefined) {
      seen = { status: 'offline', lastActivity, published: 'offline' };
      this.#seen.set(userId, seen);
    }
    if ((seen.status === 'offline') !== (status === 'offline')) this.#notOffline += status === 'offline' ? -1 : 1;
    seen.status = status;
    seen.lastActivity = lastActivity;
    // Back to what the others last saw: nothing to tell them (a flap within the window).
    if (status === seen.published) this.#pending.delete(userId);
    else this.#pending.add(userId);
    return this.#pending.size > 0;
  }

  /** The member left: forgotten, nothing published (the others get `member_left`). */
  forget(userId: number): void {
    const seen = this.#seen.get(userId);
    if (seen === undefined) return;
    if (seen.status !== 'offline') this.#notOffline--;
    this.#seen.delete(userId);
    this.#pending.delete(userId);
  }

  /** The events of one window: at most `max`, the oldest changes first; the rest wait for the next. */
  take(max: number): PresenceData[] {
    const out: PresenceData[] = [];
    for (const userId of this.#pending) {
      if (out.length >= max) break;
      const seen = this.#seen.get(userId) as Seen;
      this.#pending.delete(userId);
      seen.published = seen.status;
      out.push({ user_id: userId, status: seen.status, last_activity: seen.lastActivity });
    }
    return out;
  }

  of(userId: number): MemberPresence {
    const seen = this.#seen.get(userId);
    return seen === undefined ? { status: 'offline', last_activity: null } : { status: seen.status, last_activity: seen.lastActivity };
  }
}

interface Typist {
  username: string;
  /** When the last `start` was broadcast (clock ms). */
  broadcastAt: number;
  /** When the server ends it with a `stop` unless another start or a stop comes. */
  expiresAt: number;
}

/**
 * Who is typing in one conversation. Nothing here is stored. A start is broadcast, then repeated
 * starts within `throttleMs` of that broadcast are absorbed (each still pushes the expiry back); a
 * start with none of its own broadcast for `throttleMs` is broadcast again (a member who joined
 * meanwhile learns of it). A stop is broadcast only for someone typing. A start with nothing after
 * it for `expireMs` ends as a `stop` from the server.
 */
export class RoomTyping {
  readonly #typists = new Map<number, Typist>();
  readonly #expireMs: number;
  readonly #throttleMs: number;

  constructor(expireMs: number, throttleMs: number) {
    this.#expireMs = expireMs;
    this.#throttleMs = throttleMs;
  }

  get size(): number {
    return this.#typists.size;
  }

  /** True: broadcast this start. */
  start(userId: number, username: string, now: number): boolean {
    const t = this.#typists.get(userId);
    if (t !== undefined && now - t.broadcastAt < this.#throttleMs) {
      t.expiresAt = now + this.#expireMs;
      return false;
    }
    this.#typists.set(userId, { username, broadcastAt: now, expiresAt: now + this.#expireMs });
    return true;
  }

  /** True: broadcast this stop (the user was typing). */
  stop(userId: number): boolean {
    return this.#typists.delete(userId);
  }

  /** The typists whose time ran out by `now`, removed. */
  expire(now: number): Array<{ userId: number; username: string }> {
    const out: Array<{ userId: number; username: string }> = [];
    for (const [userId, t] of this.#typists) {
      if (t.expiresAt > now) continue;
      this.#typists.delete(userId);
      out.push({ userId, username: t.username });
    }
    return out;
  }

  /** The earliest expiry (clock ms), or null when nobody types. */
  next(): number | null {
    let first: number | null = null;
    for (const t of this.#typists.values()) if (first === null || t.expiresAt < first) first = t.expiresAt;
    return first;
  }
}
