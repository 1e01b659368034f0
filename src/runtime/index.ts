/**
 * The actor runtime: threads in one node, rings between them, actors on shards, a CPU pool.
 *
 * - Supervisor (main thread): starts fronts and shards, restarts them, stops them in order.
 * - Modules it runs: a shard module exports `setup(ctx) → { kinds, stop?, control? }`, a front
 *   module `setup(ctx) → { stop?, control? }` (types.ts).
 * - Actors: `(kind, id)`, placed by `shardOf`, one message at a time, activate/passivate hooks,
 *   supervision strategies `restart` and `restartWithBackoff`.
 * - ActorClient: `tell`, `ask` (timeout), backpressure per shard link.
 * - Ring, RingWriter, RingReader: the single-producer single-consumer rings under all of it.
 * - CpuPool and cpuClient: piscina on the main thread for password hashing, reached from workers
 *   over a port.
 */
export { Supervisor, type SupervisorOptions, type WorkerGroup, type WorkerExitEvent, type WorkerRestartEvent } from './threads/supervisor.js';
export type {
  Actor,
  ActorContext,
  ActorFactory,
  ActorKind,
  ActorRef,
  FrontContext,
  FrontModule,
  FrontServices,
  Sender,
  ShardModule,
  ShardServices,
  ShardSetupContext,
} from './types.js';
export { ActorClient, type AskOptions } from './actors/client.js';
export { shardOf } from './actors/placement.js';
export { restart, restartWithBackoff, type SupervisionStrategy } from './actors/supervision.js';
export { Topology, type Role, type ThreadRef } from './threads/topology.js';
export { RuntimeError, isRuntimeError, type RuntimeReason } from './errors.js';
export { Ring } from './transport/ring.js';
export { RingWriter, type RingWriterOptions } from './transport/ring-writer.js';
export { RingReader, type RingReaderOptions } from './transport/ring-reader.js';
export { CpuPool, type CpuPoolOptions } from './cpu/pool.js';
export { cpuClient, type CpuClient } from './cpu/client.js';
export type { ScryptParams } from '../auth/scrypt.js';
export { Mailbox } from './actors/mailbox.js';
export { siblingModule } from './threads/entry.js';
