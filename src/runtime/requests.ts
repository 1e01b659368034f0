/**
 * The one table of requests awaiting replies. Every request/reply exchange in the runtime goes
 * through it: actor asks over the rings, the embedded store's port, the CPU pool's port, and the
 * supervisor's control messages. Each request settles exactly once: by its reply, by its timeout,
 * by the loss of the thread it went to (`failWhere`), or by `close`; a reply that comes after any
 * of those finds no entry and is dropped. So nothing hangs and nothing leaks.
 *
 * A request is settled by a plain callback, called synchronously by whoever settles it. That is
 * the point: a front handles the reply to a join in the same turn, and so in the same order, as
 * the room's events read from the same ring just before and after it (see src/net/ws/fanout.ts).
 * `promise` wraps the callback for callers that want a Promise.
 */

export type Settle<T> = (err: Error | null, value?: T) => void;

export interface RequestOptions<Tag> {
  /** Fail with `onTimeout()` after this many ms; no timer when absent. */
  timeoutMs?: number;
  onTimeout?: () => Error;
  /** What the request is about (the thread it went to): `failWhere` matches on it. */
  tag?: Tag;
}

export interface PendingRequestsOptions {
  /** The table went from empty to one request (e.g. `port.ref()`: keep the thread alive). */
  onBusy?: () => void;
  /** The table became empty (e.g. `port.unref()`). */
  onIdle?: () => void;
}

interface Entry<Tag> {
  settle: Settle<unknown>;
  timer: NodeJS.Timeout | undefined;
  tag: Tag | undefined;
}

/** Request ids wrap below 2^30: small integers pack in one to five bytes and stay SMIs. */
const MAX_ID = 0x3fffffff;

export class PendingRequests<Tag = number> {
  readonly #entries = new Map<number, Entry<Tag>>();
  readonly #opts: PendingRequestsOptions;
  #next = 1;

  constructor(opts: PendingRequestsOptions = {}) {
    this.#opts = opts;
  }

  /** Requests waiting for a reply. */
  get size(): number {
    return this.#entries.size;
  }

  /** Register a request; its id goes out with it and comes back with the reply. */
  open<T>(settle: Settle<T>, opts: RequestOptions<Tag> = {}): number {
    const id = this.#next++;
    if (this.#next > MAX_ID) this.#next = 1;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => this.reject(id, opts.onTimeout?.() ?? new Error(`request ${id} timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    if (this.#entries.size === 0) this.#opts.onBusy?.();
    this.#entries.set(id, { settle: settle as Settle<unknown>, timer, tag: opts.tag });
    return id;
  }

  /** `open`, as a Promise; `send(id)` sends the request (a throw rejects it). */
  promise<T>(send: (id: number) => void, opts: RequestOptions<Tag> = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.open<T>((err, value) => (err ? reject(err) : resolve(value as T)), opts);
      try {
        send(id);
      } catch (err) {
        this.reject(id, err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** The reply to `id`. False when it was already settled (late reply, timed out, peer lost). */
  resolve(id: number, value: unknown): boolean {
    const e = this.#take(id);
    if (e === undefined) return false;
    e.settle(null, value);
    return true;
  }

  reject(id: number, err: Error): boolean {
    const e = this.#take(id);
    if (e === undefined) return false;
    e.settle(err);
    return true;
  }

  /** Fail every request whose tag matches (the thread they went to died). Returns how many. */
  failWhere(match: (tag: Tag | undefined) => boolean, err: Error): number {
    let n = 0;
    for (const [id, e] of [...this.#entries]) {
      if (!match(e.tag)) continue;
      this.reject(id, err);
      n++;
    }
    return n;
  }

  /** Fail everything still waiting (the channel closed, the thread is stopping). */
  close(err: Error): number {
    return this.failWhere(() => true, err);
  }

  #take(id: number): Entry<Tag> | undefined {
    const e = this.#entries.get(id);
    if (e === undefined) return undefined;
    this.#entries.delete(id);
    if (e.timer !== undefined) clearTimeout(e.timer);
    if (this.#entries.size === 0) this.#opts.onIdle?.();
    return e;
  }
}
