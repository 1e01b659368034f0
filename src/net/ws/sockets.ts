/**
 * The open sockets of one front, and the index of each user's sockets on it. Events for users
 * (DMs, dm_created, a logout's kick) find the sockets here rather than through a uWS topic per
 * user: a subscription costs every idle connection about 0.4 KiB in uWS.
 */
import type { Conn } from './conn.js';

export class Sockets {
  readonly #all = new Set<Conn>();
  /** A user's sockets: the socket itself while there is one, a Set beyond. */
  readonly #byUser = new Map<number, Conn | Set<Conn>>();

  get open(): number {
    return this.#all.size;
  }

  /** Users with at least one authenticated socket here. */
  get users(): number {
    return this.#byUser.size;
  }

  [Symbol.iterator](): IterableIterator<Conn> {
    return this.#all.values();
  }

  add(conn: Conn): void {
    this.#all.add(conn);
  }

  /** `conn` authenticated as `userId`. */
  addUser(conn: Conn, userId: number): void {
    const held = this.#byUser.get(userId);
    if (held === undefined) this.#byUser.set(userId, conn);
    else if (held instanceof Set) held.add(conn);
    else this.#byUser.set(userId, new Set([held, conn]));
  }

  remove(conn: Conn): void {
    this.#all.delete(conn);
    if (conn.user === null) return;
    const held = this.#byUser.get(conn.user.id);
    if (held === conn) this.#byUser.delete(conn.user.id);
    else if (held instanceof Set) {
      held.delete(conn);
      if (held.size === 0) this.#byUser.delete(conn.user.id);
    }
  }

  /** `userId`'s sockets as held: one, a Set beyond, or undefined (the DM path iterates them with no closure). */
  held(userId: number): Conn | Set<Conn> | undefined {
    return this.#byUser.get(userId);
  }

  /** Call `fn` for each socket of `userId` (none: not called). */
  eachOf(userId: number, fn: (conn: Conn) => void): void {
    const held = this.#byUser.get(userId);
    if (held === undefined) return;
    if (held instanceof Set) for (const conn of held) fn(conn);
    else fn(held);
  }

  /** The sockets of `userId` (a copy: closing one changes the index). */
  of(userId: number): Conn[] {
    const held = this.#byUser.get(userId);
    return held === undefined ? [] : held instanceof Set ? [...held] : [held];
  }
}
