/**
 * A mailbox, after xstate's Mailbox.ts: it knows nothing about actors. Items are processed one at
 * a time, each to completion (awaited) before the next starts, in the order they were enqueued.
 * Processing starts on a microtask, never inside `enqueue`, so a sender is never re-entered by the
 * receiver's code.
 *
 * Every actor activation is a mailbox, and most of them (a connected user's actor) see a message
 * now and then: `MailboxCore` is a base class (the host's activation extends it, so there are no
 * per-activation closures or separate mailbox object), one waiting item sits in a field, and the
 * queue behind it is made only when a second item waits while the first does.
 */
import { Fifo } from '../transport/fifo.js';

export abstract class MailboxCore<T> {
  /** The oldest waiting item, when it was enqueued with nothing else waiting. */
  #next: T | undefined = undefined;
  /** Items enqueued while `#next` was taken; all younger than `#next`. Made on first need, kept. */
  #queue: Fifo<T> | null = null;
  #started = false;
  #running = false;

  /** Handle one item. Should not throw (turning failures into messages is the owner's job). */
  protected abstract process(item: T): Promise<void> | void;
  /** Hears what `process` threw. */
  protected abstract failed(err: unknown): void;

  /** Items waiting, not counting the one being processed. */
  get size(): number {
    return (this.#next === undefined ? 0 : 1) + (this.#queue?.length ?? 0);
  }

  /** Nothing running and nothing waiting. */
  get idle(): boolean {
    return !this.#running && this.size === 0;
  }

  start(): void {
    this.#started = true;
    this.#schedule();
  }

  enqueue(item: T): void {
    // `#next` is only used while nothing else waits, so it is always the oldest item.
    if (this.#next === undefined && (this.#queue === null || this.#queue.length === 0)) this.#next = item;
    else (this.#queue ??= new Fifo<T>()).push(item);
    this.#schedule();
  }

  /** Drop and return what is waiting (the item being processed finishes). */
  clear(): T[] {
    const out: T[] = [];
    if (this.#next !== undefined) out.push(this.#next);
    this.#next = undefined;
    if (this.#queue !== null) out.push(...this.#queue.drain());
    return out;
  }

  #take(): T | undefined {
    const item = this.#next;
    if (item !== undefined) {
      this.#next = undefined;
      return item;
    }
    return this.#queue?.shift();
  }

  #schedule(): void {
    if (!this.#started || this.#running || this.size === 0) return;
    this.#running = true;
    queueMicrotask(() => void this.#run());
  }

  async #run(): Promise<void> {
    for (let item = this.#take(); item !== undefined; item = this.#take()) {
      try {
        await this.process(item);
      } catch (err) {
        this.failed(err);
      }
    }
    this.#running = false;
  }
}

/** A mailbox over two functions, for owners that are not a subclass. */
export class Mailbox<T> extends MailboxCore<T> {
  readonly #process: (item: T) => Promise<void> | void;
  readonly #onError: (err: unknown) => void;

  /** `process` should not throw; if it does, `onError` hears it. */
  constructor(process: (item: T) => Promise<void> | void, onError: (err: unknown) => void) {
    super();
    this.#process = process;
    this.#onError = onError;
  }

  protected process(item: T): Promise<void> | void {
    return this.#process(item);
  }

  protected failed(err: unknown): void {
    this.#onError(err);
  }
}
