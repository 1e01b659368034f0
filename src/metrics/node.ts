/**
 * The node's metrics, on the main thread: a scrape asks every front and shard thread for its own
 * registry (`collectThread()`, over the supervisor's control channel: one message per thread per
 * scrape, none per event), adds the main thread's, and merges them with prom-client's
 * `AggregatorRegistry.aggregate` (counters summed, histograms bucket by bucket). A thread that is
 * restarting, or does not answer within `timeoutMs`, is left out and shows as `veza_thread_up 0`.
 *
 * `status()` is the operator's summary (`veza-chat status`, `top`), computed from two such merges
 * about a second apart (rates need an interval).
 */
import client from 'prom-client';
import type { Supervisor, WorkerRestartEvent } from '../runtime/threads/supervisor.js';
import { collectThread, threadUp, workerRestarts, cpuQueue, onCollect } from './index.js';
import { summarize, type Sample, type NodeStatus } from './status.js';

type MetricJson = client.MetricObjectWithValues<client.MetricValue<string>>;

export const METRICS_REQUEST = { t: 'metrics' } as const;

export interface NodeMetricsOptions {
  /** Give up on a thread after this long (default 2 s). */
  timeoutMs?: number;
  /** Node facts for status. */
  info: { version: string; url: string; fronts: number; shards: number; store: string };
}

export class NodeMetrics {
  readonly #sup: Supervisor;
  readonly #opts: NodeMetricsOptions;
  readonly #startedAt = Date.now();
  #last: Sample | null = null;
  readonly #unhook: () => void;

  constructor(sup: Supervisor, opts: NodeMetricsOptions) {
    this.#sup = sup;
    this.#opts = opts;
    sup.on('restart', (e: WorkerRestartEvent) => workerRestarts.inc({ role: e.role }));
    this.#unhook = onCollect(() => cpuQueue.set(sup.cpu.pending));
  }

  /** The node stopped: its CPU pool is no longer read (a test process may start another node). */
  close(): void {
    this.#unhook();
  }

  /** Every thread's metrics, merged. */
  async collect(): Promise<MetricJson[]> {
    const { topology } = this.#sup;
    const timeoutMs = this.#opts.timeoutMs ?? 2000;
    const threads: { role: 'front' | 'shard'; index: number }[] = [];
    for (let i = 0; i < topology.shards; i++) threads.push({ role: 'shard', index: i });
    for (let i = 0; i < topology.fronts; i++) threads.push({ role: 'front', index: i });
    const answers = await Promise.all(
      threads.map(({ role, index }) => within(this.#sup.control(role, index, METRICS_REQUEST) as Promise<MetricJson[]>, timeoutMs)),
    );
    threadUp.set({ thread: 'main', role: 'main' }, 1);
    threads.forEach(({ role, index }, i) => threadUp.set({ thread: `${role}-${index}`, role }, answers[i] ? 1 : 0));
    const all = [await collectThread(), ...answers.filter((a): a is MetricJson[] => a !== null)];
    return client.AggregatorRegistry.aggregate(all).getMetricsAsJSON() as Promise<MetricJson[]>;
  }

  /** The Prometheus text exposition of the whole node. */
  async text(): Promise<string> {
    const merged = await this.collect();
    return client.AggregatorRegistry.aggregate([merged]).metrics();
  }

  /**
   * The operator's summary. Rates are over the interval since the previous sample when it is
   * 0.5-30 s old; otherwise a sample is taken, then another `intervalMs` later.
   */
  async status(intervalMs = 1000): Promise<NodeStatus> {
    let prev = this.#last;
    const age = prev ? Date.now() - prev.at : Infinity;
    if (!prev || age > 30_000 || age < 500) {
      prev = { at: Date.now(), metrics: await this.collect() };
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    const cur: Sample = { at: Date.now(), metrics: await this.collect() };
    this.#last = cur;
    return summarize(prev, cur, { ...this.#opts.info, pid: process.pid, startedAt: this.#startedAt });
  }
}

async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([p.catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}
