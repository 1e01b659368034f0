/**
 * The node's pool for stateless CPU work (password hashing first), on piscina. It lives on the main
 * thread, shared by the node: a piscina instance cannot cross threads, so worker threads reach it
 * through `cpuClient(port)` (cpu-client.ts), a small proxy over a MessagePort that the supervisor
 * connects to `pool.serve(port)`.
 *
 * The queue is bounded: at most `threads` tasks run and `maxQueue` wait; one more fails at once
 * with ChatError `rate_limited` (status 503, reason `cpu_busy`) and a retry hint, instead of
 * letting logins pile up behind each other. The piscina instance starts on first use, so a thread
 * that never hashes a password costs nothing.
 */
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Config } from '../../config/index.js';
import { toChatError } from '../../errors.js';
import { errorToWire } from '../transport/codec.js';
import type { CpuClient } from './client.js';
import type { CpuRequest, CpuResponse, CpuTask } from './messages.js';
import { siblingModule, workerExecArgv } from '../threads/entry.js';
import { RuntimeError } from '../errors.js';
import type { ScryptParams } from '../../auth/scrypt.js';

export interface CpuPoolOptions {
  threads: number;
  maxQueue: number;
  /** Default scrypt parameters for hashPassword. */
  scrypt: ScryptParams;
}

export class CpuPool implements CpuClient {
  readonly #opts: CpuPoolOptions;
  #piscina: Piscina | null = null;
  #inflight = 0;
  /** Moving average of task duration, for the retry hint. */
  #avgMs = 100;
  readonly #ports = new Set<MessagePort>();
  #closed = false;

  constructor(opts: CpuPoolOptions) {
    if (opts.threads < 1 || opts.maxQueue < 0) throw new RangeError('CpuPool: threads >= 1 and maxQueue >= 0');
    this.#opts = opts;
  }

  static fromConfig(config: Config): CpuPool {
    return new CpuPool({
      threads: config.runtime.cpuThreads,
      maxQueue: config.runtime.cpuMaxQueue,
      scrypt: { logN: config.auth.scryptLogN, r: config.auth.scryptR, p: config.auth.scryptP },
    });
  }

  /** Tasks running or waiting. */
  get pending(): number {
    return this.#inflight;
  }

  hashPassword(password: string, params: ScryptParams = this.#opts.scrypt): Promise<string> {
    return this.run({ op: 'hash-password', password, params }) as Promise<string>;
  }

  verifyPassword(password: string, hash: string): Promise<boolean> {
    return this.run({ op: 'verify-password', password, hash }) as Promise<boolean>;
  }

  async run(task: CpuTask): Promise<unknown> {
    if (this.#closed) throw new RuntimeError('stopped', 'the CPU pool is closed');
    const { threads, maxQueue } = this.#opts;
    if (this.#inflight >= threads + maxQueue) {
      const retryAfterMs = Math.min(10_000, Math.max(100, Math.ceil((this.#avgMs * (this.#inflight + 1)) / threads)));
      throw new RuntimeError('cpu_busy', 'server busy', { retryAfterMs });
    }
    this.#inflight++;
    const started = performance.now();
    try {
      return await this.#pool().run(task);
    } catch (err) {
      // Errors come back from piscina's threads as plain Errors: a ChatError's class is lost there.
      throw toChatError(err);
    } finally {
      this.#inflight--;
      this.#avgMs = this.#avgMs * 0.8 + (performance.now() - started) * 0.2;
    }
  }

  /** Answer a `cpuClient` on the other end of `port` (the supervisor does this for each worker). */
  serve(port: MessagePort): void {
    this.#ports.add(port);
    port.on('message', (req: CpuRequest) => {
      if (req?.type !== 'cpu') return;
      const task: CpuTask =
        req.task.op === 'hash-password' ? { ...req.task, params: req.task.params ?? this.#opts.scrypt } : req.task;
      this.run(task).then(
        (value) => port.postMessage({ type: 'cpu-result', id: req.id, ok: true, value } satisfies CpuResponse),
        (err: unknown) =>
          port.postMessage({ type: 'cpu-result', id: req.id, ok: false, error: errorToWire(err) } satisfies CpuResponse),
      );
    });
    port.on('close', () => this.#ports.delete(port));
    // The port must not keep the process alive on its own: the worker it talks to does.
    port.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const port of this.#ports) port.close();
    this.#ports.clear();
    const p = this.#piscina;
    this.#piscina = null;
    await p?.close({ force: true });
  }

  #pool(): Piscina {
    if (!this.#piscina) {
      const { threads, maxQueue } = this.#opts;
      const entry = siblingModule('tasks', import.meta.url);
      this.#piscina = new Piscina({
        filename: entry.href,
        execArgv: workerExecArgv(entry),
        minThreads: threads,
        maxThreads: threads,
        // Our own count above is the bound; piscina's queue only needs room for it.
        maxQueue: threads + maxQueue,
        idleTimeout: 60_000,
      });
    }
    return this.#piscina;
  }
}
