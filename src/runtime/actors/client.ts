/**
 * How a thread talks to actors: `tell` and `ask` by `(kind, id)`. The client places the actor
 * (`shardOf`), sends the envelope on the link to that shard (or hands it to the local host when
 * this thread is that shard), and keeps the table of pending asks: each settles exactly once, by
 * its reply, by its timeout, or by the death of the thread it was sent to. Nothing hangs and
 * nothing leaks: a late reply after a timeout finds no entry and is dropped.
 *
 * Backpressure is per shard link: `writable` (all links), `writableTo(shard)`, and `onPause` /
 * `onResume` listeners. A refused `tell` returns false; a refused `ask` rejects with RuntimeError
 * `backpressure` (`rate_limited`, 503).
 */
import { errorFromWire } from '../transport/codec.js';
import { RuntimeError } from '../errors.js';
import { PendingRequests, type Settle } from '../requests.js';
import type { PeerLink } from '../transport/peer-link.js';
import { shardOf } from './placement.js';
import type { ActorEnvelope, ActorRef, ReplyEnvelope, TellEnvelope } from '../transport/envelopes.js';
import type { Topology } from '../threads/topology.js';

export interface AskOptions {
  /** Milliseconds before the ask fails with RuntimeError `ask_timeout`; default `runtime.askTimeoutMs`. */
  timeoutMs?: number;
  /** The asking actor, when an actor asks (it becomes the `from` its target sees). */
  from?: ActorRef;
}

export interface ActorClientOptions {
  topology: Topology;
  /** This thread's peer number. */
  self: number;
  links: ReadonlyMap<number, PeerLink>;
  askTimeoutMs: number;
  /** On a shard: deliver an envelope to this thread's own actors. */
  local?: (env: ActorEnvelope, peer: number) => void;
}

type Listener = (shard: number) => void;

export class ActorClient {
  readonly #topology: Topology;
  readonly #self: number;
  readonly #links: ReadonlyMap<number, PeerLink>;
  readonly #askTimeoutMs: number;
  readonly #local: ((env: ActorEnvelope, peer: number) => void) | undefined;
  /** Asks waiting for their reply, tagged with the peer they went to. */
  readonly #pending = new PendingRequests<number>();
  readonly #onPause = new Set<Listener>();
  readonly #onResume = new Set<Listener>();
  readonly #blocked = new Set<number>();

  constructor(opts: ActorClientOptions) {
    this.#topology = opts.topology;
    this.#self = opts.self;
    this.#links = opts.links;
    this.#askTimeoutMs = opts.askTimeoutMs;
    this.#local = opts.local;
  }

  get shards(): number {
    return this.#topology.shards;
  }

  /** The shard an actor lives on. */
  shardOf(kind: string, id: string): number {
    return shardOf(kind, id, this.#topology.shards);
  }

  /**
   * Fire and forget. False when the link to the actor's shard refuses (wait for `onResume`);
   * throws RuntimeError `envelope_too_large` when the message packs larger than the maximum.
   */
  tell(kind: string, id: string, msg: unknown, from?: ActorRef, ifActive = false): boolean {
    const env: TellEnvelope = from ? { type: 'tell', kind, id, msg, from } : { type: 'tell', kind, id, msg };
    if (ifActive) env.ifActive = true;
    return this.#send(this.#peerFor(kind, id), env);
  }

  /** Request and reply. Rejects with the actor's error (a ChatError keeps its code), or a RuntimeError. */
  ask<T = unknown>(kind: string, id: string, msg: unknown, opts: AskOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => this.call<T>(kind, id, msg, (err, value) => (err ? reject(err) : resolve(value as T)), opts));
  }

  /**
   * `ask` with a callback, called synchronously when the reply is read from the ring: in the same
   * turn as the envelopes before and after it from the same shard, so a front can act on a reply
   * in order with the actor's posts (a Promise's continuation runs only after the whole batch).
   */
  call<T = unknown>(kind: string, id: string, msg: unknown, settle: Settle<T>, opts: AskOptions = {}): void {
    const peer = this.#peerFor(kind, id);
    const timeoutMs = opts.timeoutMs ?? this.#askTimeoutMs;
    const req = this.#pending.open(settle, {
      tag: peer,
      timeoutMs,
      onTimeout: () =>
        new RuntimeError('ask_timeout', `ask to ${kind}/${id} on ${this.#topology.describe(peer)} got no reply within ${timeoutMs} ms`),
    });
    const env: ActorEnvelope = opts.from ? { type: 'ask', kind, id, msg, req, from: opts.from } : { type: 'ask', kind, id, msg, req };
    let sent: boolean;
    try {
      sent = this.#send(peer, env);
    } catch (err) {
      this.#pending.reject(req, err as Error);
      return;
    }
    if (!sent) {
      this.#pending.reject(
        req,
        new RuntimeError('backpressure', `link to ${this.#topology.describe(peer)} is saturated; retry after it drains`, { retryAfterMs: 50 }),
      );
    }
  }

  /** Stop an actor (its `passivate` runs), ordered after what this thread sent it before. */
  stop(kind: string, id: string): boolean {
    return this.#send(this.#peerFor(kind, id), { type: 'stop', kind, id });
  }

  /** True when every shard link accepts sends. */
  get writable(): boolean {
    return this.#blocked.size === 0;
  }

  writableTo(shard: number): boolean {
    return !this.#blocked.has(this.#topology.shardPeer(shard));
  }

  /** Called with the shard index when its link starts refusing. Returns an unsubscribe function. */
  onPause(fn: Listener): () => void {
    this.#onPause.add(fn);
    return () => this.#onPause.delete(fn);
  }

  /** Called with the shard index when its link accepts again. */
  onResume(fn: Listener): () => void {
    this.#onResume.add(fn);
    return () => this.#onResume.delete(fn);
  }

  /** Per shard link: envelopes queued, the most ever queued, and whether it accepts sends. */
  linkStats(): { shard: number; queued: number; maxQueued: number; writable: boolean }[] {
    const out = [];
    for (let shard = 0; shard < this.#topology.shards; shard++) {
      const link = this.#links.get(this.#topology.shardPeer(shard));
      if (link) out.push({ shard, queued: link.queued, maxQueued: link.maxQueued, writable: link.writable });
    }
    return out;
  }

  /** Asks waiting for a reply (tests use it to prove nothing leaks). */
  get pendingAsks(): number {
    return this.#pending.size;
  }

  // ---- runtime side: called by the thread's envelope dispatch and control handling ----

  /** A reply arrived (from a ring, or from this thread's own host). */
  settleReply(reply: ReplyEnvelope): void {
    if (reply.ok) this.#pending.resolve(reply.req, reply.value);
    else this.#pending.reject(reply.req, errorFromWire(reply.error));
  }

  /** The thread `peer` died: every ask sent to it fails now, with `err`. */
  failPeer(peer: number, err: Error): number {
    return this.#pending.failWhere((p) => p === peer, err);
  }

  /** A link's writability changed (the runtime wires PeerLink's onPause/onDrain here). */
  linkWritable(peer: number, writable: boolean): void {
    if (peer < this.#topology.fronts) return; // only shard links gate actor traffic
    const shard = peer - this.#topology.fronts;
    if (writable) {
      if (!this.#blocked.delete(peer)) return;
    } else {
      if (this.#blocked.has(peer)) return;
      this.#blocked.add(peer);
    }
    for (const fn of writable ? this.#onResume : this.#onPause) fn(shard);
  }

  /** This thread is stopping: fail every pending ask. */
  close(): void {
    this.#pending.close(new RuntimeError('stopped', 'the runtime is stopping'));
  }

  #peerFor(kind: string, id: string): number {
    return this.#topology.shardPeer(shardOf(kind, id, this.#topology.shards));
  }

  #send(peer: number, env: ActorEnvelope): boolean {
    if (peer === this.#self) {
      if (!this.#local) throw new Error('no local host on this thread');
      this.#local(env, peer);
      return true;
    }
    const link = this.#links.get(peer);
    if (!link) throw new Error(`no link to ${this.#topology.describe(peer)}`);
    return link.send(env);
  }
}
