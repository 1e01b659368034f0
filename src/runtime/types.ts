/**
 * The contracts between the runtime and the code it hosts: what an actor is, what it may do
 * (ActorContext), and what a shard module and a front module export. The chat layer (src/actors,
 * src/net) implements these; the runtime never imports it.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { ActorClient, AskOptions } from './actors/client.js';
import type { CpuClient } from './cpu/client.js';
import type { ActorRef } from './transport/envelopes.js';
import type { SupervisionStrategy } from './actors/supervision.js';
import type { ThreadRef } from './threads/topology.js';

export type { ActorRef } from './transport/envelopes.js';

/** Who sent a message: the thread it came from and, when an actor sent it, that actor. */
export interface Sender {
  thread: ThreadRef;
  actor?: ActorRef;
}

/**
 * A virtual actor. Created by its kind's factory on the first message (or the first after a
 * passivation or a crash); `activate` loads its state; `receive` handles one message at a time
 * (the next waits until the returned promise settles); `passivate` saves what must survive.
 * A throw from `receive` or `activate` answers the message with the error (a ChatError keeps its
 * code; anything else becomes `internal`) and restarts the actor: the instance is dropped without
 * `passivate` (its state may be half-updated) and the next message builds a new one, which
 * `activate` reloads from the store.
 */
export interface Actor<M = unknown, R = unknown> {
  activate?(): Promise<void> | void;
  receive(msg: M, from: Sender): Promise<R> | R;
  passivate?(): Promise<void> | void;
  /** True while the actor holds state that cannot be reloaded: the host does not passivate it. */
  keepAlive?(): boolean;
  /**
   * True when the activation stands for nothing (its id names no row: a conversation or message
   * that does not exist). The host forgets it once its mailbox is empty, so ids that do not exist
   * cost nothing that lasts (a flood of them would otherwise keep one actor each until passivated).
   */
  vacant?(): boolean;
}

/** What an actor can do besides handling its messages. */
export interface ActorContext {
  readonly self: ActorRef;
  /** This shard's index. */
  readonly shard: number;
  /** How many front threads there are (for `post`). */
  readonly fronts: number;
  readonly log: Logger;
  /** Tell another actor (any shard); `from` is this actor. False: the link refuses (backpressure). */
  tell(kind: string, id: string, msg: unknown): boolean;
  /**
   * `tell`, dropped on arrival unless the actor is active (never activates it): for news that
   * matters only to an actor that holds state now, e.g. a user's presence to rooms nobody listens to.
   */
  tellIfActive(kind: string, id: string, msg: unknown): boolean;
  /**
   * Ask another actor (any shard). Beware asking an actor that (directly or not) asks this one
   * back: both mailboxes wait on each other until the ask times out.
   */
  ask<T = unknown>(kind: string, id: string, msg: unknown, opts?: Omit<AskOptions, 'from'>): Promise<T>;
  /** Send a raw message to a front thread (fan-out to its sockets). False: the link refuses. */
  post(front: number, msg: unknown): boolean;
  /** `post` to every front. False when at least one refused. */
  broadcast(msg: unknown): boolean;
  /** Stop this actor after the message being handled (and any queued before the stop). */
  stopSelf(): void;
  /**
   * Answer the current message later: return `ctx.defer(p)` from `receive`, and the mailbox moves
   * on to the next message at once; the reply goes out when `p` settles (group commit: a room
   * accepts many sends before one flush answers them all). Replies to deferred messages go out in
   * the order their promises settle. A rejection answers the asker with the error and is logged;
   * it does not restart the actor (it has moved on: if its state depends on the outcome, it handles
   * the failure itself, e.g. with `stopSelf()`).
   */
  defer<R>(p: Promise<R>): R;
  /**
   * Answer the ask being handled now, in this very turn, instead of when `receive` settles (its
   * value is then not sent again; a tell is not answered). The reply enters the ring to the asker
   * before anything the actor posts after this call: a room fixes `last_seq` and answers a join in
   * one step, so the joining front sees every later event after the reply, and none before it.
   */
  answer(value: unknown): void;
}

export type ActorFactory = (id: string, ctx: ActorContext) => Actor;

/** An actor kind with options; a bare factory means the defaults. */
export interface ActorKind {
  create: ActorFactory;
  /** After a failure; default `restart`. */
  supervision?: SupervisionStrategy;
  /** Idle time before passivation; default `runtime.passivateAfterMs`. */
  passivateAfterMs?: number;
}

interface WorkerContextBase {
  /** This thread's index among its role. */
  readonly index: number;
  readonly fronts: number;
  readonly shards: number;
  /** The `data` given to the supervisor for this role (structured-cloned). */
  readonly data: unknown;
  readonly config: Config;
  /** tell/ask any actor. */
  readonly actors: ActorClient;
  /** Stateless CPU work on the node's shared pool (password hashing). */
  readonly cpu: CpuClient;
  /** The ports the role's `WorkerGroup.ports` made for this thread (e.g. a store proxy), by name. */
  readonly ports: Readonly<Record<string, MessagePort>>;
  readonly log: Logger;
}

export interface ShardSetupContext extends WorkerContextBase {
  /** Post a raw message to a front thread (for shard-level services; actors use their context). */
  post(front: number, msg: unknown): boolean;
  broadcast(msg: unknown): boolean;
}

/** What a shard module's `setup` returns. */
export interface ShardServices {
  kinds: Record<string, ActorFactory | ActorKind>;
  /** Runs after every actor passivated, when the shard stops: close stores, flush batches. */
  stop?(): Promise<void> | void;
  /** Answers `supervisor.control('shard', index, msg)` (admin and tests). */
  control?(msg: unknown): unknown;
}

/** A shard module: `export async function setup(ctx) { return { kinds: { room: ... } } }`. */
export interface ShardModule {
  setup(ctx: ShardSetupContext): Promise<ShardServices> | ShardServices;
}

export interface FrontContext extends WorkerContextBase {
  /**
   * Handle raw messages actors post to this front. Register during setup; posts that arrive with
   * no handler are logged and dropped.
   */
  onPost(handler: (msg: unknown, from: { shard: number }) => void): void;
  /** Ask the main thread (SupervisorOptions.serve): metrics of the whole node, the admin status. */
  main(msg: unknown): Promise<unknown>;
}

export interface FrontServices {
  /** Stop accepting, close sockets (close a uWS App before returning: see ECOSYSTEM.md). */
  stop?(): Promise<void> | void;
  control?(msg: unknown): unknown;
}

/** A front module: `export async function setup(ctx) { ...listen...; return { stop } }`. */
export interface FrontModule {
  setup(ctx: FrontContext): Promise<FrontServices> | FrontServices;
}
