/**
 * A mailbox, after xstate's Mailbox.ts: it knows nothing about actors. Items are processed one at
 * a time, each to completion (awaited) before the next starts, in the order they were enqueued.
 * Processing starts on a microtask, never inside `enqueue`, so a sender is never re-entered by the
 * receiver's code.
 */
import { Fifo } from './fifo.js';

export class Mailbox<T> {
  readonly #process: (item: T) => Promise<void> | void;
  readonly #onError: (err: unknown) => void;
  readonly #queue = new Fifo<T>();
  #started = false;
  #running = false;

  /** `process` should not throw (turning failures into messages is the owner's job); if it does, `onError` hears it. */
  constructor(process: (item: T) => Promise<void> | void, onError: (err: unknown) => void) {
    this.#process = process;
    this.#onError = onError;
  }

  /** Items waiting, not counting the one being processed. */
  get size(): number {
    return this.#queue.length;
  }

  /** Nothing running and nothing waiting. */
  get idle(): boolean {
    return !this.#running && this.#queue.length === 0;
  }

  start(): void {
    this.#started = true;
    this.#schedule();
  }

  enqueue(item: T): void {
    this.#queue.push(item);
    this.#schedule();
  }

  /** Drop and return what is waiting (the item being processed finishes). */
  clear(): T[] {
    return this.#queue.drain();
  }

  #schedule(): void {
    if (!this.#started || this.#running || this.#queue.length === 0) return;
    this.#running = true;
    queueMicrotask(() => void this.#run());
  }

  async #run(): Promise<void> {
    for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
      try {
        await this.#process(item);
      } catch (err) {
        this.#onError(err);
      }
    }
    this.#running = false;
  }
}
