/**
 * The supervisor, on the main thread: starts the shard threads, then the front threads, one
 * SharedArrayBuffer ring per ordered pair of threads that talk, a control channel (each Worker's
 * own port) and a port to the node's CPU pool for each. It restarts a thread that dies (after the
 * strategy's delay), with fresh rings: the survivors first hear "peer down" (their asks to it fail
 * at once, what they queued for it is dropped) and then "peer up" with the new rings. It stops in
 * order: fronts first (stop accepting, close sockets), then shards (passivate every actor, close
 * stores), then the CPU pool.
 *
 * Events: 'exit' {role, index, code}, 'restart' {role, index, attempt, delayMs}, 'ready' {role, index}.
 */
import { EventEmitter, once } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Config } from '../../config/index.js';
import { createLogger } from '../../log.js';
import { errorFromWire, errorToWire } from '../transport/codec.js';
import type { FromWorker, LinkSpec, ToWorker, WorkerBoot } from './control-messages.js';
import { CpuPool } from '../cpu/pool.js';
import { siblingModule, workerExecArgv } from './entry.js';
import { RuntimeError } from '../errors.js';
import { PendingRequests } from '../requests.js';
import { Ring } from '../transport/ring.js';
import { restartWithBackoff, type SupervisionStrategy } from '../actors/supervision.js';
import { Topology, type Role } from './topology.js';

export interface WorkerGroup {
  /** Threads of this role; default `server.fronts` / `server.shards`. */
  count?: number;
  /** The front or shard module (see FrontModule, ShardModule in types.ts). */
  module: URL | string;
  /** Given to every thread of the role as `ctx.data` (structured-cloned). */
  data?: unknown;
  /**
   * Called at every start of a thread of the role (restarts included): MessagePorts to hand it,
   * by name, transferred and seen as `ctx.ports` (e.g. a proxy to a store the main thread owns).
   */
  ports?: () => Record<string, MessagePort>;
}

export interface SupervisorOptions {
  fronts: WorkerGroup;
  shards: WorkerGroup;
  config: Config;
  /** When a thread dies; default restartWithBackoff(50, 5000, 0.2). */
  restart?: SupervisionStrategy;
  /** The node's CPU pool; default one built from `config.runtime` (and closed by `stop`). */
  cpuPool?: CpuPool;
  /** How long a thread gets to stop gracefully before it is terminated; default 10 s. */
  stopTimeoutMs?: number;
  /** Answers a thread's `main-request` (FrontContext.main); none: such requests fail. */
  serve?: (msg: unknown, from: { role: Role; index: number }) => unknown;
}

export interface WorkerExitEvent {
  role: Role;
  index: number;
  code: number;
}

export interface WorkerRestartEvent {
  role: Role;
  index: number;
  attempt: number;
  delayMs: number;
}

/** A thread that ran this long before dying starts its failure count afresh. */
const HEALTHY_AFTER_MS = 10_000;

interface Slot {
  readonly role: Role;
  readonly index: number;
  readonly peer: number;
  worker: Worker | null;
  cpuPort: MessagePort | null;
  ready: Promise<void>;
  readyAt: number;
  failures: number;
  restartTimer: NodeJS.Timeout | null;
  /** Control requests to this thread's current incarnation. */
  control: PendingRequests;
  stopped: (() => void) | null;
}

export class Supervisor extends EventEmitter {
  readonly topology: Topology;
  readonly cpu: CpuPool;
  readonly #opts: SupervisorOptions;
  readonly #strategy: SupervisionStrategy;
  readonly #ownsCpu: boolean;
  readonly #slots: Slot[] = [];
  /** rings[from][to], for linked pairs. */
  readonly #rings: (SharedArrayBuffer | null)[][];
  readonly #log = createLogger({ role: 'supervisor' });
  #started = false;
  #stopping: Promise<void> | null = null;

  /** Start every thread; resolves once all are ready, rejects (having stopped them) if one fails setup. */
  static async start(opts: SupervisorOptions): Promise<Supervisor> {
    const sup = new Supervisor(opts);
    try {
      await sup.#start();
    } catch (err) {
      await sup.stop();
      throw err;
    }
    return sup;
  }

  private constructor(opts: SupervisorOptions) {
    super();
    this.#opts = opts;
    this.topology = new Topology(
      opts.fronts.count ?? opts.config.server.fronts,
      opts.shards.count ?? opts.config.server.shards,
    );
    this.#strategy = opts.restart ?? restartWithBackoff(50, 5000, 0.2);
    this.#ownsCpu = opts.cpuPool === undefined;
    this.cpu = opts.cpuPool ?? CpuPool.fromConfig(opts.config);
    const n = this.topology.size;
    this.#rings = Array.from({ length: n }, () => Array.from({ length: n }, () => null));
    for (let peer = 0; peer < n; peer++) {
      const { role, index } = this.topology.refOf(peer);
      this.#slots.push({
        role,
        index,
        peer,
        worker: null,
        cpuPort: null,
        ready: Promise.resolve(),
        readyAt: 0,
        failures: 0,
        restartTimer: null,
        control: new PendingRequests(),
        stopped: null,
      });
    }
  }

  /** The live Worker of a thread (null while it restarts). Tests use it to kill one. */
  worker(role: Role, index: number): Worker | null {
    return this.#slot(role, index).worker;
  }

  /** Resolves when the current incarnation of a thread has finished its setup. */
  whenReady(role: Role, index: number): Promise<void> {
    return this.#slot(role, index).ready;
  }

  /** Send `msg` to the module's `control` on one thread and wait for its answer. */
  control(role: Role, index: number, msg: unknown): Promise<unknown> {
    const slot = this.#slot(role, index);
    const worker = slot.worker;
    if (!worker) return Promise.reject(new RuntimeError('worker_exited', `${role} ${index} is restarting`));
    return slot.control.promise((req) => worker.postMessage({ type: 'control', req, msg } satisfies ToWorker));
  }

  /** Graceful stop: fronts, then shards, then the CPU pool. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    const shards = this.#slots.filter((s) => s.role === 'shard');
    const fronts = this.#slots.filter((s) => s.role === 'front');
    for (const slot of shards) this.#spawn(slot);
    await Promise.all(shards.map((s) => s.ready));
    for (const slot of fronts) this.#spawn(slot);
    await Promise.all(fronts.map((s) => s.ready));
    this.#started = true;
  }

  async #stop(): Promise<void> {
    for (const slot of this.#slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
    }
    const timeout = this.#opts.stopTimeoutMs ?? 10_000;
    await Promise.all(this.#slots.filter((s) => s.role === 'front').map((s) => this.#stopSlot(s, timeout)));
    await Promise.all(this.#slots.filter((s) => s.role === 'shard').map((s) => this.#stopSlot(s, timeout)));
    if (this.#ownsCpu) await this.cpu.close();
  }

  async #stopSlot(slot: Slot, timeoutMs: number): Promise<void> {
    const worker = slot.worker;
    if (!worker) return;
    const exited = once(worker, 'exit');
    const stopped = new Promise<void>((resolve) => (slot.stopped = resolve));
    worker.postMessage({ type: 'stop' } satisfies ToWorker);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const outcome = await Promise.race([stopped.then(() => 'stopped' as const), exited.then(() => 'exited' as const), late]);
    if (outcome === 'stopped') {
      // It closed its ports; give it a moment to end on its own (a module may have left a handle open).
      const grace = new Promise<'late'>((resolve) => {
        clearTimeout(timer);
        timer = setTimeout(() => resolve('late'), 1000);
      });
      if ((await Promise.race([exited.then(() => 'exited' as const), grace])) === 'late') await worker.terminate();
    } else if (outcome === 'late') {
      this.#log.warn('thread did not stop in time; terminating', { role: slot.role, index: slot.index });
      await worker.terminate();
    }
    clearTimeout(timer);
    await exited;
  }

  #spawn(slot: Slot): void {
    const { peer } = slot;
    const bytes = this.#opts.config.runtime.ringBytes;
    const links: LinkSpec[] = [];
    for (const other of this.topology.peersOf(peer)) {
      const out = Ring.allocate(bytes);
      const inbound = Ring.allocate(bytes);
      this.#rings[peer]![other] = out;
      this.#rings[other]![peer] = inbound;
      links.push({ peer: other, out, in: inbound });
    }
    const cpu = new MessageChannel();
    this.cpu.serve(cpu.port1);
    slot.cpuPort = cpu.port1;
    const group = slot.role === 'front' ? this.#opts.fronts : this.#opts.shards;
    const ports = group.ports?.() ?? {};
    const boot: WorkerBoot = {
      role: slot.role,
      index: slot.index,
      fronts: this.topology.fronts,
      shards: this.topology.shards,
      module: group.module instanceof URL ? group.module.href : group.module,
      data: group.data,
      config: this.#opts.config,
      links,
      cpuPort: cpu.port2,
      ports,
    };
    const entry = siblingModule(`${slot.role}-worker`, import.meta.url);
    const youngMb = this.#opts.config.runtime.workerYoungGenerationMb;
    const worker = new Worker(entry, {
      execArgv: workerExecArgv(entry),
      workerData: boot,
      transferList: [cpu.port2, ...Object.values(ports)],
      ...(youngMb > 0 ? { resourceLimits: { maxYoungGenerationSizeMb: youngMb } } : {}),
    });
    slot.worker = worker;
    slot.readyAt = 0;
    let settleReady: { resolve: () => void; reject: (e: Error) => void } | null = null;
    slot.ready = new Promise<void>((resolve, reject) => (settleReady = { resolve, reject }));
    // A failed start is reported by start(); a failed restart only by events and logs.
    slot.ready.catch(() => undefined);

    worker.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'ready':
          slot.readyAt = Date.now();
          settleReady?.resolve();
          this.emit('ready', { role: slot.role, index: slot.index });
          return;
        case 'setup-failed': {
          const err = errorFromWire(m.error);
          if (m.stack) err.stack = m.stack;
          this.#log.error('thread setup failed', { role: slot.role, index: slot.index, err });
          settleReady?.reject(err);
          return;
        }
        case 'control-reply': {
          if (m.ok) slot.control.resolve(m.req, m.value);
          else slot.control.reject(m.req, errorFromWire(m.error));
          return;
        }
        case 'stopped':
          slot.stopped?.();
          return;
        case 'main-request':
          this.#serve(worker, m.req, m.msg, slot);
      }
    });
    worker.on('error', (err) => this.#log.error('thread crashed', { role: slot.role, index: slot.index, err }));
    worker.on('exit', (code) => {
      settleReady?.reject(new RuntimeError('worker_exited', `${slot.role} ${slot.index} exited with code ${code} before it was ready`));
      this.#onExit(slot, worker, code);
    });

    // Survivors switch to the new rings (they heard "peer down" when the previous thread died).
    for (const other of this.topology.peersOf(peer)) {
      const w = this.#slots[other]!.worker;
      if (!w) continue; // it is restarting too, and will get the current rings at its spawn
      w.postMessage({
        type: 'peer-up',
        peer,
        out: this.#rings[other]![peer]!,
        in: this.#rings[peer]![other]!,
      } satisfies ToWorker);
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.cpuPort?.close();
    slot.cpuPort = null;
    slot.control.close(new RuntimeError('worker_exited', `${slot.role} ${slot.index} exited before answering`));
    this.emit('exit', { role: slot.role, index: slot.index, code } satisfies WorkerExitEvent);
    if (this.#stopping || !this.#started) return;

    for (const other of this.topology.peersOf(slot.peer)) {
      this.#slots[other]!.worker?.postMessage({ type: 'peer-down', peer: slot.peer } satisfies ToWorker);
    }
    if (slot.readyAt > 0 && Date.now() - slot.readyAt >= HEALTHY_AFTER_MS) slot.failures = 0;
    slot.failures++;
    const delayMs = this.#strategy.delayMs(slot.failures);
    this.#log.warn('thread exited; restarting', { role: slot.role, index: slot.index, code, attempt: slot.failures, delayMs });
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.#stopping) return;
      this.#spawn(slot);
      this.emit('restart', { role: slot.role, index: slot.index, attempt: slot.failures, delayMs } satisfies WorkerRestartEvent);
    }, delayMs);
  }

  #serve(worker: Worker, req: number, msg: unknown, slot: Slot): void {
    const serve = this.#opts.serve;
    Promise.resolve()
      .then(() => {
        if (!serve) throw new Error('the main thread serves no requests');
        return serve(msg, { role: slot.role, index: slot.index });
      })
      .then(
        (value) => worker.postMessage({ type: 'main-reply', req, ok: true, value } satisfies ToWorker),
        (err: unknown) => worker.postMessage({ type: 'main-reply', req, ok: false, error: errorToWire(err) } satisfies ToWorker),
      )
      .catch(() => undefined); // the worker exited meanwhile
  }

  #slot(role: Role, index: number): Slot {
    return this.#slots[this.topology.peerOf({ role, index })]!;
  }
}
