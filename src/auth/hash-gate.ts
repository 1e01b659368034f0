/**
 * Admission to password hashing (scrypt in the CPU pool, ~100 ms of a core each at the default
 * cost). Without it, 120 concurrent logins for unknown users queued in the pool kept a real login
 * waiting 12 s (issue 17). Here, per front thread:
 *
 * - at most `concurrency` hashes in the pool at once (the pool's thread count): the rest wait here,
 *   where they can be ordered, instead of in the pool's FIFO;
 * - three priorities: a known account's password (login, password change) first, then
 *   registration, then the decoy hash of a login for an unknown user (which exists only so that an
 *   unknown user and a wrong password cost the same when the server is not flooded);
 * - per source, at most `perSource` registrations and decoys waiting or running (a flood from one
 *   address cannot fill the queue), and at most `maxQueued` waiting in all: a full queue makes its
 *   newest waiter of a lower priority give its place to a higher one;
 * - past either bound, `rate_limited` (429, Retry-After), before any hashing.
 *
 * So a real login waits for at most the hashes already running, whatever the flood: from one
 * address it is cut by `perSource` (and the per-source attempt budget, ./throttle.ts), from many
 * addresses it waits behind no decoy. The price: under a flood, an unknown user's login may be
 * answered 429 where a known one would be checked, telling the two apart; registration tells
 * whether a name is taken anyway.
 */
import { ChatError } from '../errors.js';

export const HashPriority = { Account: 0, Register: 1, Decoy: 2 } as const;
export type HashPriority = (typeof HashPriority)[keyof typeof HashPriority];

export interface HashGateOptions {
  concurrency: number;
  maxQueued: number;
  perSource: number;
}

interface Waiting {
  start: () => void;
  refuse: (e: Error) => void;
}

export class HashGate {
  readonly #o: HashGateOptions;
  readonly #queues: [Waiting[], Waiting[], Waiting[]] = [[], [], []];
  readonly #perSource = new Map<string, number>();
  #running = 0;
  #queued = 0;

  constructor(opts: HashGateOptions) {
    this.#o = { ...opts, concurrency: Math.max(1, opts.concurrency) };
  }

  get stats(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#queued };
  }

  /** Run `fn` (one hash) when admitted. */
  async run<T>(priority: HashPriority, source: string, fn: () => Promise<T>): Promise<T> {
    const counted = priority !== HashPriority.Account;
    if (counted) {
      const n = this.#perSource.get(source) ?? 0;
      if (n >= this.#o.perSource) throw busy('too many password checks from this address at once');
      this.#perSource.set(source, n + 1);
    }
    try {
      if (this.#running >= this.#o.concurrency) {
        // Full: the newest waiter of a lower priority gives its place up, else this one is refused.
        if (this.#queued >= this.#o.maxQueued && !this.#evictBelow(priority)) throw busy('the server is busy checking passwords');
        this.#queued++;
        await new Promise<void>((start, refuse) => this.#queues[priority].push({ start, refuse }));
      } else {
        this.#running++;
      }
      try {
        return await fn();
      } finally {
        this.#next();
      }
    } finally {
      if (counted) {
        const n = (this.#perSource.get(source) ?? 1) - 1;
        if (n <= 0) this.#perSource.delete(source);
        else this.#perSource.set(source, n);
      }
    }
  }

  #evictBelow(priority: HashPriority): boolean {
    for (let p = this.#queues.length - 1; p > priority; p--) {
      const w = this.#queues[p]!.pop();
      if (w) {
        this.#queued--;
        w.refuse(busy('the server is busy checking passwords'));
        return true;
      }
    }
    return false;
  }

  /** One hash ended: start the first waiting one by priority (its slot passes on), else free it. */
  #next(): void {
    for (const q of this.#queues) {
      const w = q.shift();
      if (w) {
        this.#queued--;
        w.start();
        return;
      }
    }
    this.#running--;
  }
}

const busy = (message: string) => new ChatError('rate_limited', message, { retryAfterMs: 1000 });
