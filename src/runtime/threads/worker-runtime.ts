/**
 * What every worker thread (front or shard) does the same way: read its boot data, open a link per
 * peer, route replies to its ActorClient, answer the supervisor's control messages (peer down/up,
 * control requests, stop), and run the module's setup and stop in order. The role-specific entry
 * files (front-worker.ts, shard-worker.ts) plug in what differs.
 */
import { parentPort } from 'node:worker_threads';
import { configSecrets, configureLogging, createLogger, setLogLevel, setLogThread, type Logger } from '../../log.js';
import { ActorClient } from '../actors/client.js';
import { createCodec, errorFromWire, errorToWire } from '../transport/codec.js';
import type { FromWorker, ToWorker, WorkerBoot } from './control-messages.js';
import { cpuClient, type CpuClient } from '../cpu/client.js';
import { RuntimeError } from '../errors.js';
import { PeerLink } from '../transport/peer-link.js';
import type { ActorEnvelope, Envelope, PostEnvelope, ReplyEnvelope } from '../transport/envelopes.js';
import { Topology } from './topology.js';
import { collectThread, onCollect, ringOccupancy, ringQueued, ringStalls, ringUsed, ringWakeups, startThreadMetrics } from '../../metrics/index.js';
import { PendingRequests } from '../requests.js';

/** A control message the runtime answers itself, whatever the module: this thread's metrics. */
const isMetricsRequest = (msg: unknown): boolean => (msg as { t?: unknown } | null)?.t === 'metrics';

export interface RoleHooks<S> {
  /** A non-reply envelope arrived from `peer`. */
  onEnvelope(env: ActorEnvelope | PostEnvelope, peer: number): void;
  /** Import the module and run its setup. */
  setup(): Promise<S>;
  /** Graceful stop of the role (the runtime closes links and ports after). */
  stop(services: S): Promise<void>;
  control(services: S, msg: unknown): unknown;
}

export class WorkerRuntime {
  readonly boot: WorkerBoot;
  readonly topology: Topology;
  /** This thread's peer number. */
  readonly self: number;
  readonly links = new Map<number, PeerLink>();
  readonly client: ActorClient;
  readonly cpu: CpuClient & { close(): void };
  readonly log: Logger;
  #hooks: RoleHooks<unknown> | null = null;
  /** Requests to the main thread (askMain). */
  readonly #toMain = new PendingRequests();

  constructor(boot: WorkerBoot, local?: (env: ActorEnvelope, peer: number) => void) {
    this.boot = boot;
    this.topology = new Topology(boot.fronts, boot.shards);
    this.self = this.topology.peerOf({ role: boot.role, index: boot.index });
    const name = `${boot.role}-${boot.index}`;
    setLogLevel(boot.config.log.level);
    setLogThread(name);
    // The node's JWT secret (generated when embedded) travels in the role's data: never print it either.
    const jwtSecret = (boot.data as { jwtSecret?: unknown } | null)?.jwtSecret;
    configureLogging({ ...boot.config.log, secrets: [...configSecrets(boot.config), ...(typeof jwtSecret === 'string' ? [jwtSecret] : [])] });
    this.log = createLogger({ role: boot.role, index: boot.index });
    startThreadMetrics(name);
    this.cpu = cpuClient(boot.cpuPort);
    const codec = createCodec();
    const { maxEnvelopeBytes, overflowLimit, askTimeoutMs, shardNapMs } = boot.config.runtime;
    // Shards nap on their rings under traffic: what they read waits for a group commit anyway.
    const napMs = boot.role === 'shard' ? shardNapMs : 0;
    this.client = new ActorClient({
      topology: this.topology,
      self: this.self,
      links: this.links,
      askTimeoutMs,
      ...(local ? { local } : {}),
    });
    for (const peer of this.topology.peersOf(this.self)) {
      this.links.set(
        peer,
        new PeerLink({
          peer,
          codec,
          maxEnvelopeBytes,
          overflowLimit,
          napMs,
          onEnvelope: (env, from) => this.#dispatch(env, from),
          onPause: (p) => this.client.linkWritable(p, false),
          onDrain: (p) => this.client.linkWritable(p, true),
          onError: (err, p) => this.log.error('bad envelope from a peer', { peer: this.topology.describe(p), err }),
          onStall: (side, p) => {
            ringStalls.inc({ thread: name, side });
            this.log.warn('ring wake-up lost; the watchdog resumed the thread', { peer: this.topology.describe(p), side });
          },
        }),
      );
    }
    // Rings out of this thread, read at each collection (nothing counted per envelope).
    const threadOf = (peer: number) => {
      const r = this.topology.refOf(peer);
      return `${r.role}-${r.index}`;
    };
    onCollect(() => {
      let wakeups = 0;
      for (const [peer, link] of this.links) {
        const s = link.ringStats();
        const labels = { from: name, to: threadOf(peer) };
        ringUsed.set(labels, s.used);
        ringOccupancy.set(labels, s.capacity > 0 ? s.used / s.capacity : 0);
        ringQueued.set(labels, s.queued);
        wakeups += s.wakeups;
      }
      ringWakeups.set({ thread: name }, wakeups);
    });
  }

  /** Send a raw message to front `index`. False: the link refuses (backpressure). */
  post(front: number, msg: unknown): boolean {
    return this.#link(this.topology.frontPeer(front)).send({ type: 'post', msg });
  }

  /** Answer an ask from `peer` (this thread included). Never refused; an oversized value becomes an error reply. */
  reply(peer: number, env: ReplyEnvelope): void {
    if (peer === this.self) {
      queueMicrotask(() => this.client.settleReply(env));
      return;
    }
    const link = this.#link(peer);
    try {
      link.sendReply(env);
    } catch (err) {
      link.sendReply({ type: 'reply', req: env.req, ok: false, error: errorToWire(err) });
    }
  }

  /** Ask the main thread (SupervisorOptions.serve); fails after `timeoutMs`. */
  askMain(msg: unknown, timeoutMs = 10_000): Promise<unknown> {
    return this.#toMain.promise((req) => this.#post({ type: 'main-request', req, msg }), {
      timeoutMs,
      onTimeout: () => new RuntimeError('ask_timeout', `the main thread did not answer within ${timeoutMs} ms`),
    });
  }

  /** Attach the boot rings, run setup, report ready; then serve control messages until stopped. */
  async run<S>(hooks: RoleHooks<S>): Promise<void> {
    const port = parentPort;
    if (!port) throw new Error('the runtime worker entry must run in a worker thread');
    this.#hooks = hooks as RoleHooks<unknown>;
    // Rings first: setup may ask actors and needs the replies.
    for (const spec of this.boot.links) this.#link(spec.peer).attach(spec.out, spec.in);
    const ready = hooks.setup();
    port.on('message', (m: ToWorker) => void this.#control(m, ready));
    try {
      await ready;
    } catch (err) {
      this.log.error('setup failed', { err });
      const stack = err instanceof Error ? err.stack : undefined;
      this.#post({ type: 'setup-failed', error: errorToWire(err), ...(stack ? { stack } : {}) });
      this.#close();
      return;
    }
    this.#post({ type: 'ready' });
  }

  #dispatch(env: Envelope, peer: number): void {
    if (env.type === 'reply') this.client.settleReply(env);
    else this.#hooks?.onEnvelope(env, peer);
  }

  async #control(m: ToWorker, ready: Promise<unknown>): Promise<void> {
    switch (m.type) {
      case 'peer-down': {
        const dropped = this.#link(m.peer).detach();
        const failed = this.client.failPeer(
          m.peer,
          new RuntimeError('worker_exited', `${this.topology.describe(m.peer)} exited before replying`),
        );
        this.log.warn('peer down', { peer: this.topology.describe(m.peer), dropped, failedAsks: failed });
        return;
      }
      case 'peer-up':
        this.#link(m.peer).attach(m.out, m.in);
        return;
      case 'main-reply':
        if (m.ok) this.#toMain.resolve(m.req, m.value);
        else this.#toMain.reject(m.req, errorFromWire(m.error));
        return;
      case 'control': {
        try {
          const services = await ready;
          const value = isMetricsRequest(m.msg) ? await collectThread() : await this.#hooks!.control(services, m.msg);
          this.#post({ type: 'control-reply', req: m.req, ok: true, value });
        } catch (err) {
          this.#post({ type: 'control-reply', req: m.req, ok: false, error: errorToWire(err) });
        }
        return;
      }
      case 'stop': {
        try {
          await this.#hooks!.stop(await ready);
        } catch (err) {
          this.log.error('stop failed', { err });
        }
        this.#post({ type: 'stopped' });
        this.#close();
      }
    }
  }

  #post(m: FromWorker): void {
    parentPort?.postMessage(m);
  }

  /** Close links, the CPU port and the control port: nothing keeps the thread alive after this. */
  #close(): void {
    this.client.close();
    this.#toMain.close(new RuntimeError('stopped', 'the thread is stopping'));
    for (const link of this.links.values()) link.close();
    this.cpu.close();
    parentPort?.close();
  }

  #link(peer: number): PeerLink {
    const link = this.links.get(peer);
    if (!link) throw new Error(`no link to ${this.topology.describe(peer)}`);
    return link;
  }
}
