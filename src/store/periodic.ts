/**
 * A look the store's owner runs every so often (checkpoints, vacuums): never two at once, never
 * keeping the process alive, and `stop()` waits for one in progress.
 */
export class Periodic {
  readonly #look: () => Promise<unknown>;
  readonly #everyMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;

  constructor(look: () => Promise<unknown>, everyMs: number) {
    this.#look = look;
    this.#everyMs = everyMs;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      if (this.#running === null) this.#running = this.#look().finally(() => (this.#running = null));
    }, this.#everyMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
