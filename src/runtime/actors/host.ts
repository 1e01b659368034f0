/**
 * The actors of one shard: a registry of activations keyed by `(kind, id)`, each with its mailbox.
 * It implements the virtual-actor life cycle (Orleans): activate on the first message, passivate
 * after an idle time (a coarse sweep, not a timer per actor), restart after a failure according to
 * the kind's supervision strategy, and stop on a stop message, ordered with the rest.
 *
 * It also measures its backlog (messages waiting in mailboxes) and reports when it passes
 * `backlogLimit` and when it falls back under half of it; the shard thread then stops and resumes
 * reading its front links, so a slow actor turns into backpressure on the fronts instead of an
 * ever-growing mailbox.
 */
import type { Logger } from '../../log.js';
import type { ActorClient, AskOptions } from './client.js';
import { ChatError } from '../../errors.js';
import { errorToWire } from '../transport/codec.js';
import { RuntimeError } from '../errors.js';
import { MailboxCore } from './mailbox.js';
import { actorKey } from './placement.js';
import type { ActorEnvelope, ActorRef, AskEnvelope, ReplyEnvelope, TellEnvelope } from '../transport/envelopes.js';
import { restart, type SupervisionStrategy } from './supervision.js';
import type { Topology } from '../threads/topology.js';
import type { Actor, ActorContext, ActorFactory, ActorKind, Sender } from '../types.js';

/** No ask being handled (request ids start at 1). */
const NO_REQ = 0;

/** What `ctx.defer(p)` returns: not a thenable, so `await` hands it over as it is. */
class Deferred {
  constructor(readonly promise: Promise<unknown>) {}
}

interface KindSpec {
  create: ActorFactory;
  supervision: SupervisionStrategy;
  passivateAfterMs: number;
}

/** What a mailbox holds: messages, and the life-cycle events that must stay ordered with them. */
type Job =
  | { type: 'message'; env: TellEnvelope | AskEnvelope; peer: number }
  /** A stop envelope (`counted`: it is part of the backlog), or the shard stopping (`done`). */
  | { type: 'stop'; counted: boolean; done?: () => void }
  /** Queued by the idle sweep; skipped if a message came in behind it. */
  | { type: 'passivate' };

/** What every activation of a host calls back into: one object per host, not closures per activation. */
interface ActivationOps {
  process(act: Activation, job: Job): Promise<void>;
  failed(act: Activation, err: unknown): void;
}

/** One actor's registry entry, and its mailbox. */
class Activation extends MailboxCore<Job> {
  actor: Actor | null = null;
  failures = 0;
  notBefore = 0;
  lastUsed: number;
  passivating = false;

  constructor(
    readonly key: string,
    readonly spec: KindSpec,
    readonly ctx: HostActorContext,
    readonly ops: ActivationOps,
    now: number,
  ) {
    super();
    this.lastUsed = now;
  }

  get ref(): ActorRef {
    return this.ctx.self;
  }

  protected process(job: Job): Promise<void> {
    return this.ops.process(this, job);
  }

  protected failed(err: unknown): void {
    this.ops.failed(this, err);
  }
}

export interface ActorHostOptions {
  shard: number;
  topology: Topology;
  client: ActorClient;
  /** Send a reply to the thread that asked (this thread included). */
  reply: (peer: number, env: ReplyEnvelope) => void;
  post: (front: number, msg: unknown) => boolean;
  passivateAfterMs: number;
  /** Messages waiting in mailboxes above which `onBacklog(true)` fires. */
  backlogLimit: number;
  onBacklog: (high: boolean) => void;
  log: Logger;
  now?: () => number;
}

export class ActorHost {
  readonly #opts: ActorHostOptions;
  readonly #now: () => number;
  readonly #activations = new Map<string, Activation>();
  #kinds: Map<string, KindSpec> | null = null;
  /** Envelopes that arrived before `setKinds` (while the shard module was setting up). */
  #early: { env: ActorEnvelope; peer: number }[] = [];
  #backlog = 0;
  #backlogHigh = false;
  #sweeper: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #ops: ActivationOps = {
    process: (act, job) => this.#process(act, job),
    failed: (act, err) => this.#opts.log.error('actor mailbox failure', { actor: act.key, err }),
  };

  constructor(opts: ActorHostOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Activations in memory (active, activating, or waiting to restart). */
  get size(): number {
    return this.#activations.size;
  }

  get backlog(): number {
    return this.#backlog;
  }

  /** Register the kinds the shard module returned, then deliver what arrived meanwhile. */
  setKinds(kinds: Record<string, ActorFactory | ActorKind>): void {
    const map = new Map<string, KindSpec>();
    let shortest = this.#opts.passivateAfterMs;
    for (const [name, k] of Object.entries(kinds)) {
      const spec: KindSpec =
        typeof k === 'function'
          ? { create: k, supervision: restart, passivateAfterMs: this.#opts.passivateAfterMs }
          : {
              create: k.create,
              supervision: k.supervision ?? restart,
              passivateAfterMs: k.passivateAfterMs ?? this.#opts.passivateAfterMs,
            };
      shortest = Math.min(shortest, spec.passivateAfterMs);
      map.set(name, spec);
    }
    this.#kinds = map;
    // Sweep often enough that an actor passivates within ~1.25x its idle time, at most once a second.
    const every = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
    this.#sweeper = setInterval(() => this.sweep(), every);
    this.#sweeper.unref();
    const early = this.#early;
    this.#early = [];
    for (const { env, peer } of early) this.#dispatch(env, peer);
  }

  /** An envelope for one of this shard's actors, from thread `peer`. */
  deliver(env: ActorEnvelope, peer: number): void {
    if (this.#closed) {
      if (env.type === 'ask') this.#replyError(peer, env.req, new RuntimeError('stopped', 'the shard is stopping'));
      return;
    }
    this.#grow();
    if (this.#kinds === null) this.#early.push({ env, peer });
    else this.#dispatch(env, peer);
  }

  /** Passivate actors idle for their kind's time; forget failed ones that stayed idle as long. */
  sweep(): void {
    const now = this.#now();
    for (const act of this.#activations.values()) {
      if (act.passivating || !act.idle || now - act.lastUsed < act.spec.passivateAfterMs) continue;
      if (act.actor?.keepAlive?.() === true) continue;
      if (act.actor === null) {
        this.#activations.delete(act.key);
        continue;
      }
      act.passivating = true;
      act.enqueue({ type: 'passivate' });
    }
  }

  /** Stop every actor (each runs its `passivate`), for a graceful shutdown. New messages are refused. */
  async stopAll(): Promise<void> {
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    for (const { env, peer } of this.#early) {
      if (env.type === 'ask') this.#replyError(peer, env.req, new RuntimeError('stopped', 'the shard is stopping'));
    }
    this.#early = [];
    const done: Promise<void>[] = [];
    for (const act of this.#activations.values()) {
      done.push(new Promise<void>((resolve) => act.enqueue({ type: 'stop', counted: false, done: resolve })));
    }
    await Promise.all(done);
  }

  #dispatch(env: ActorEnvelope, peer: number): void {
    const spec = this.#kinds!.get(env.kind);
    if (!spec) {
      this.#shrink();
      if (env.type === 'ask') {
        this.#replyError(peer, env.req, new RuntimeError('unknown_kind', `no actor kind "${env.kind}" on this shard`));
      } else {
        this.#opts.log.warn('message for an unknown actor kind dropped', { kind: env.kind, id: env.id, type: env.type });
      }
      return;
    }
    const key = actorKey(env.kind, env.id);
    let act = this.#activations.get(key);
    if (!act) {
      // Stopping an actor that is not active, or news only for an active one: nothing to do.
      if (env.type === 'stop' || (env.type === 'tell' && env.ifActive === true)) {
        this.#shrink();
        return;
      }
      act = this.#newActivation(key, { kind: env.kind, id: env.id }, spec);
      this.#activations.set(key, act);
    }
    act.passivating = false;
    act.enqueue(env.type === 'stop' ? { type: 'stop', counted: true } : { type: 'message', env, peer });
  }

  #newActivation(key: string, ref: ActorRef, spec: KindSpec): Activation {
    const act = new Activation(key, spec, new HostActorContext(this.#opts, ref, this), this.#ops, this.#now());
    act.start();
    return act;
  }

  async #process(act: Activation, job: Job): Promise<void> {
    switch (job.type) {
      case 'passivate':
        // A message that arrived after the sweep queued this keeps the actor active.
        if (act.passivating && act.size === 0) await this.#deactivate(act);
        return;
      case 'stop':
        await this.#deactivate(act);
        if (job.counted) this.#shrink();
        job.done?.();
        return;
      case 'message':
        await this.#handle(act, job.env, job.peer);
        act.lastUsed = this.#now();
        this.#shrink();
        // Nothing behind it and nothing to keep: leave the registry now, not at the idle sweep.
        if (act.size === 0 && act.actor?.vacant?.() === true) this.#forget(act);
    }
  }

  async #handle(act: Activation, env: TellEnvelope | AskEnvelope, peer: number): Promise<void> {
    let value: unknown;
    let activated = false;
    const req = env.type === 'ask' ? env.req : NO_REQ;
    let answered = false;
    try {
      const actor = act.actor ?? (await this.#activate(act));
      activated = true;
      act.ctx.openAsk(peer, req);
      try {
        value = await actor.receive(env.msg, this.#sender(peer, env.from));
      } finally {
        answered = act.ctx.closeAsk();
      }
      act.failures = 0;
    } catch (err) {
      if (req !== NO_REQ && !answered) this.#replyError(peer, req, err);
      else if (req !== NO_REQ) this.#opts.log.error('actor failed after answering', { actor: `${act.ref.kind}/${act.ref.id}`, err });
      // A ChatError other than `internal` from `receive` is the actor's answer (forbidden,
      // not_found, ...), given on purpose with its state intact: not a failure to restart from.
      if (activated && isRefusal(err)) return;
      this.#crashed(act, err, env.type);
      return;
    }
    if (value instanceof Deferred) {
      const later = req !== NO_REQ && !answered ? req : NO_REQ;
      value.promise.then(
        (v) => {
          if (later !== NO_REQ) this.#opts.reply(peer, { type: 'reply', req: later, ok: true, value: v });
        },
        (err: unknown) => {
          if (later !== NO_REQ) this.#replyError(peer, later, err);
          if (!isRefusal(err)) this.#opts.log.error('deferred reply failed', { actor: `${act.ref.kind}/${act.ref.id}`, err });
        },
      );
      return;
    }
    if (req !== NO_REQ && !answered) this.#opts.reply(peer, { type: 'reply', req, ok: true, value });
  }

  async #activate(act: Activation): Promise<Actor> {
    const wait = act.notBefore - this.#now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const actor = act.spec.create(act.ref.id, act.ctx);
    await actor.activate?.();
    act.actor = actor;
    return actor;
  }

  /** Drop the instance (no `passivate`: its state may be inconsistent); the next message re-activates. */
  #crashed(act: Activation, err: unknown, during: string): void {
    act.actor = null;
    act.failures++;
    const delay = act.spec.supervision.delayMs(act.failures);
    act.notBefore = this.#now() + delay;
    this.#opts.log.error('actor failed; restarting with reloaded state', {
      actor: `${act.ref.kind}/${act.ref.id}`,
      during,
      failures: act.failures,
      strategy: act.spec.supervision.name,
      delayMs: delay,
      err,
    });
  }

  /** A vacant activation leaves the registry (no `passivate`: it holds nothing); the next message starts afresh. */
  #forget(act: Activation): void {
    act.actor = null;
    if (this.#activations.get(act.key) === act) this.#activations.delete(act.key);
  }

  async #deactivate(act: Activation): Promise<void> {
    const actor = act.actor;
    act.actor = null;
    act.passivating = false;
    if (actor?.passivate) {
      try {
        await actor.passivate();
      } catch (err) {
        this.#opts.log.error('actor passivate failed', { actor: `${act.ref.kind}/${act.ref.id}`, err });
      }
    }
    // Messages that arrived during `passivate` wait in this mailbox and re-activate the actor;
    // otherwise it leaves the registry and the next message starts a fresh activation.
    if (act.size === 0 && this.#activations.get(act.key) === act) this.#activations.delete(act.key);
  }

  #sender(peer: number, from: ActorRef | undefined): Sender {
    const thread = this.#opts.topology.refOf(peer);
    return from ? { thread, actor: from } : { thread };
  }

  #replyError(peer: number, req: number, err: unknown): void {
    this.#opts.reply(peer, { type: 'reply', req, ok: false, error: errorToWire(err) });
  }

  #grow(): void {
    this.#backlog++;
    if (!this.#backlogHigh && this.#backlog >= this.#opts.backlogLimit) {
      this.#backlogHigh = true;
      this.#opts.onBacklog(true);
    }
  }

  #shrink(): void {
    this.#backlog--;
    if (this.#backlogHigh && this.#backlog <= this.#opts.backlogLimit / 2) {
      this.#backlogHigh = false;
      this.#opts.onBacklog(false);
    }
  }
}

/** An error an actor answers with on purpose: a ChatError with a client-facing code. */
function isRefusal(err: unknown): boolean {
  return err instanceof ChatError && err.code !== 'internal';
}

/**
 * What an actor sees of its host. A class rather than an object of closures, and the logger made
 * on first use: there is one per activation, and an idle connection's SessionActor is one.
 */
class HostActorContext implements ActorContext {
  readonly self: ActorRef;
  readonly #opts: ActorHostOptions;
  readonly #host: ActorHost;
  #log: Logger | null = null;
  /**
   * The ask being handled, set by the host around `receive` (fields, not an object: this runs for
   * every message), for `answer`.
   */
  #askPeer = 0;
  #askReq = NO_REQ;
  #answered = false;

  constructor(opts: ActorHostOptions, ref: ActorRef, host: ActorHost) {
    this.self = ref;
    this.#opts = opts;
    this.#host = host;
  }

  get shard(): number {
    return this.#opts.shard;
  }

  get fronts(): number {
    return this.#opts.topology.fronts;
  }

  get log(): Logger {
    return (this.#log ??= this.#opts.log.child({ actor: `${this.self.kind}/${this.self.id}` }));
  }

  tell(kind: string, id: string, msg: unknown): boolean {
    return this.#opts.client.tell(kind, id, msg, this.self);
  }

  tellIfActive(kind: string, id: string, msg: unknown): boolean {
    return this.#opts.client.tell(kind, id, msg, this.self, true);
  }

  ask<T = unknown>(kind: string, id: string, msg: unknown, opts?: Omit<AskOptions, 'from'>): Promise<T> {
    return this.#opts.client.ask<T>(kind, id, msg, { ...opts, from: this.self });
  }

  post(front: number, msg: unknown): boolean {
    return this.#opts.post(front, msg);
  }

  broadcast(msg: unknown): boolean {
    let all = true;
    for (let f = 0; f < this.fronts; f++) all = this.#opts.post(f, msg) && all;
    return all;
  }

  stopSelf(): void {
    this.#host.deliver({ type: 'stop', kind: this.self.kind, id: this.self.id }, this.#opts.topology.shardPeer(this.#opts.shard));
  }

  defer<R>(p: Promise<R>): R {
    return new Deferred(p) as unknown as R;
  }

  answer(value: unknown): void {
    if (this.#askReq === NO_REQ || this.#answered) return;
    this.#answered = true;
    this.#opts.reply(this.#askPeer, { type: 'reply', req: this.#askReq, ok: true, value });
  }

  /** The host starts handling a message: an ask from `peer` (`req`), or a tell (NO_REQ). */
  openAsk(peer: number, req: number): void {
    this.#askPeer = peer;
    this.#askReq = req;
    this.#answered = false;
  }

  /** The message is handled: whether `answer` replied to it already. */
  closeAsk(): boolean {
    const answered = this.#answered;
    this.#askReq = NO_REQ;
    this.#answered = false;
    return answered;
  }
}
