/**
 * The start-up barrier between a node's main thread and its front threads, so that "ready" means
 * every front listens and nothing else does.
 *
 * Until the fronts listen, the main thread holds the port with a listen socket of its own
 * (SO_REUSEPORT, like the fronts'), so that no other process is handed the port meanwhile. While
 * that socket is open the kernel gives it its share of new connections, and closing it resets
 * them. So no front may answer anything (GET /health included) before that socket is closed, and
 * the socket may not close before every front listens (the port would be nobody's for a moment).
 * The order:
 *
 * 1. each front prepares everything but its App, then waits (asynchronously) until every front has;
 * 2. each front listens, then blocks its thread (Atomics.wait: its event loop does not turn, so it
 *    accepts and answers nothing; the kernel queues connections in its backlog) until the gate opens;
 * 3. once every front listens, the main thread closes its own socket and opens the gate; the
 *    fronts serve, report ready, and only then does the node announce itself.
 *
 * A front that fails before listening aborts the gate, so the others end their setup too instead of
 * waiting. A front started after the gate opened (a restart) goes straight through.
 */

/** In Node since 16; the ES2023 lib this project compiles against does not declare it. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

const PREPARED = 0;
const LISTENING = 1;
const STATE = 2;
const STARTING = 0;
const OPEN = 1;
const ABORTED = 2;

export class StartGateAborted extends Error {
  constructor(message = 'another front failed to start') {
    super(message);
    this.name = 'StartGateAborted';
  }
}

export class StartGate {
  readonly buffer: SharedArrayBuffer;
  readonly #a: Int32Array;

  static allocate(): StartGate {
    return new StartGate(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#a = new Int32Array(buffer);
  }

  get isOpen(): boolean {
    return Atomics.load(this.#a, STATE) === OPEN;
  }

  /** Front, step 1: this front is prepared; resolves once `fronts` are (at once if the gate is open). */
  async prepared(fronts: number): Promise<void> {
    if (this.#check()) return;
    Atomics.add(this.#a, PREPARED, 1);
    Atomics.notify(this.#a, PREPARED);
    await this.#until(PREPARED, fronts, () => this.#check());
  }

  /**
   * Front, step 2: this front's App listens. Blocks the thread until the main thread opens the
   * gate (returns at once if it is open); throws if the gate is aborted or stays shut `timeoutMs`.
   */
  listening(timeoutMs: number): void {
    if (this.#check()) return;
    Atomics.add(this.#a, LISTENING, 1);
    Atomics.notify(this.#a, LISTENING);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#check()) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the node did not open the start gate within ${timeoutMs} ms`);
      Atomics.wait(this.#a, STATE, STARTING, left);
    }
  }

  /** Main thread: resolves once `fronts` fronts listen; throws if the gate is aborted. */
  async allListening(fronts: number): Promise<void> {
    await this.#until(LISTENING, fronts, () => this.#check());
  }

  /** Main thread, step 3: the fronts may serve. */
  open(): void {
    Atomics.compareExchange(this.#a, STATE, STARTING, OPEN);
    Atomics.notify(this.#a, STATE);
  }

  /** Start-up failed: every front waiting at the gate gives up (StartGateAborted). */
  abort(): void {
    Atomics.compareExchange(this.#a, STATE, STARTING, ABORTED);
    Atomics.notify(this.#a, STATE);
    // Wake the asynchronous waiters too: they re-check the state.
    Atomics.notify(this.#a, PREPARED);
    Atomics.notify(this.#a, LISTENING);
  }

  /** True if open; throws if aborted; false while starting. */
  #check(): boolean {
    const state = Atomics.load(this.#a, STATE);
    if (state === ABORTED) throw new StartGateAborted();
    return state === OPEN;
  }

  /** Wait without blocking until counter `at` reaches `n` or `done()` says so (re-checked at least every 100 ms). */
  async #until(at: number, n: number, done: () => boolean): Promise<void> {
    for (;;) {
      const seen = Atomics.load(this.#a, at);
      if (seen >= n || done()) return;
      const r = waitAsync(this.#a, at, seen, 100);
      if (r.async) await r.value;
    }
  }
}
