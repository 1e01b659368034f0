/**
 * Messages between the supervisor (main thread) and its worker threads, over each Worker's own
 * port (structured clone; SharedArrayBuffers are shared, not copied), plus what a worker receives
 * at start in `workerData`.
 */
import type { Config } from '../../config/index.js';
import type { MessagePort } from 'node:worker_threads';
import type { WireError } from '../transport/codec.js';
import type { Role } from './topology.js';

/** The rings between this thread and one peer. */
export interface LinkSpec {
  peer: number;
  /** This thread writes, the peer reads. */
  out: SharedArrayBuffer;
  /** The peer writes, this thread reads. */
  in: SharedArrayBuffer;
}

/** `workerData` of a front or shard thread. */
export interface WorkerBoot {
  role: Role;
  index: number;
  fronts: number;
  shards: number;
  /** URL (href) of the front or shard module to import. */
  module: string;
  data: unknown;
  config: Config;
  links: LinkSpec[];
  /** Talks to the node's CpuPool (transferred). */
  cpuPort: MessagePort;
  /** Made by the role's `WorkerGroup.ports` for this thread (transferred). */
  ports: Record<string, MessagePort>;
}

export type ToWorker =
  /** A peer thread died: drop its rings; asks sent to it fail now. */
  | { type: 'peer-down'; peer: number }
  /** A peer thread (re)started: use these rings with it. */
  | ({ type: 'peer-up' } & LinkSpec)
  /** Forwarded to the module's `control` (admin API, tests). */
  | { type: 'control'; req: number; msg: unknown }
  /** Graceful stop: fronts stop accepting; shards passivate every actor; then `stopped`. */
  | { type: 'stop' }
  /** The answer to a `main-request`. */
  | { type: 'main-reply'; req: number; ok: true; value: unknown }
  | { type: 'main-reply'; req: number; ok: false; error: WireError };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'setup-failed'; error: WireError; stack?: string }
  | { type: 'control-reply'; req: number; ok: true; value: unknown }
  | { type: 'control-reply'; req: number; ok: false; error: WireError }
  | { type: 'stopped' }
  /** A request to the main thread (a front serving /metrics or the admin status), answered by `main-reply`. */
  | { type: 'main-request'; req: number; msg: unknown };
