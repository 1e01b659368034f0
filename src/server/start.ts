/**
 * Starting a node: configuration is already validated; this opens the store on the main thread
 * (migrating it), starts the shard and front threads under the supervisor, prints where it
 * listens, and stops gracefully on SIGTERM/SIGINT: fronts stop accepting and close clients with
 * 1001, shards flush their batches, the store closes. Nothing acknowledged is lost: an ack is only
 * ever sent after commit.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { createServer } from 'node:net';
import type { Config } from '../config/schema.js';
import { embedded, resolveJwtSecret } from '../config/load.js';
import { createLogger, setLogLevel } from '../log.js';
import { ConnectionCounts } from '../limits/connection-counts.js';
import { SharedRateLimiter } from '../limits/shared-buckets.js';
import { loadRevocations } from '../auth/load-revocations.js';
import { SharedTable } from '../auth/shared-table.js';
import { siblingModule } from '../runtime/threads/entry.js';
import { Supervisor } from '../runtime/threads/supervisor.js';
import { openStore, type OpenedStore } from '../store/open.js';
import { serveStore } from '../store/pglite/remote.js';
import { closeApp, createApp, listen, type Listening } from '../net/uws.js';
import { StartGate } from './start-gate.js';
import { configSecrets, configureLogging } from '../log.js';
import { collectProcessMetrics, startThreadMetrics } from '../metrics/index.js';
import { NodeMetrics } from '../metrics/node.js';
import { serveMetrics, type InternalMetrics } from '../metrics/serve.js';
import { watchPool } from '../metrics/store.js';
import { VERSION } from '../version.js';
import type { ThreadData } from './thread-store.js';

export class StartError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'StartError';
  }
}

export interface RunningNode {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly supervisor: Supervisor;
  readonly store: OpenedStore;
  /** The whole node's metrics and status (src/metrics/node.ts). */
  readonly metrics: NodeMetrics;
  /** Where /metrics is served when `metrics.listen` moves it off the main port (else null). */
  readonly metricsUrl: string | null;
  /** Graceful stop; idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Install SIGTERM/SIGINT handlers that stop the node and exit (the CLI does; tests do not). */
  signals?: boolean;
  /** Print the "listening" line on stdout (the CLI does). */
  announce?: boolean;
  /** A new embedded data directory starts from this PGlite snapshot instead of initdb (tests). */
  storeTemplate?: Blob;
}

/**
 * Bind the port once with Node's own (non-SO_REUSEPORT) socket: fails if anything holds it, even
 * another uWS process whose reuse-port socket would otherwise happily share it. Port 0 becomes a
 * free port, which every front then binds.
 */
function claimPort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'is already in use' : e.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : `cannot be bound (${e.code ?? e.message})`;
      reject(new StartError(`${host}:${port} ${why}`, { cause: e }));
    });
    srv.listen({ host, port, exclusive: true }, () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}

/** A listening uWS socket that accepts nothing useful: it only keeps the port ours. */
async function reservePort(host: string, port: number): Promise<{ port: number; release(): void }> {
  const app = createApp();
  let listening: Listening;
  try {
    listening = await listen(app, host, port);
  } catch (e) {
    closeApp(app);
    throw new StartError(`${host}:${port} cannot be bound: ${(e as Error).message}`, { cause: e });
  }
  let released = false;
  return {
    port: listening.port,
    release() {
      if (released) return;
      released = true;
      closeApp(app, listening);
    },
  };
}

export async function startNode(config: Config, opts: StartOptions = { signals: true, announce: true }): Promise<RunningNode> {
  setLogLevel(config.log.level);
  const log = createLogger({ role: 'node' });
  const secret = resolveJwtSecret(config);
  configureLogging({ ...config.log, secrets: [...configSecrets(config), secret.secret] });
  if (secret.generatedAt) {
    log.warn('no JWT_SECRET given: generated a random secret and kept it in the data directory', { file: secret.generatedAt });
  }
  const claimed = await claimPort(config.server.host, config.server.port);
  // Hold the port with a uWS socket of our own (SO_REUSEPORT, like the fronts') until the fronts
  // listen: between the claim above and their listen, another process asking for a free port could
  // otherwise be given this one, and the kernel would then share connections between two servers.
  // It takes its share of connections while open, and resets them when it closes: no front answers
  // before it is closed (the start gate below).
  const reservation = await reservePort(config.server.host, claimed);
  const port = reservation.port;

  let store: OpenedStore;
  try {
    store = await openStore(config, opts.storeTemplate ? { template: opts.storeTemplate } : {});
  } catch (e) {
    reservation.release();
    const where = embedded(config) ? `embedded database in ${config.dataDir}` : 'database';
    throw new StartError(`cannot open the ${where}: ${(e as Error).message}`, { cause: e });
  }

  startThreadMetrics('main');
  collectProcessMetrics();
  watchPool(store.pool);
  // Fronts relay /metrics and the admin status here (FrontContext.main); set once the threads run.
  let nodeMetrics: NodeMetrics | null = null;
  const serve = (msg: unknown): unknown => {
    if (nodeMetrics === null) throw new Error('the node is starting');
    const t = (msg as { t?: unknown } | null)?.t;
    if (t === 'metrics') return nodeMetrics.text();
    if (t === 'status') return nodeMetrics.status();
    throw new Error(`unknown request to the main thread: ${String(t)}`);
  };

  const served: { close(): void }[] = [];
  const storePorts = (): Record<string, MessagePort> => {
    if (!embedded(config)) return {};
    const ch = new MessageChannel();
    served.push(serveStore(store.store, ch.port1));
    return { store: ch.port2 };
  };
  let revocations: SharedArrayBuffer;
  try {
    revocations = await loadRevocations(store.store, config.auth.accessTtlS, log);
  } catch (e) {
    reservation.release();
    await store.close();
    throw new StartError(`cannot load revoked sessions: ${(e as Error).message}`, { cause: e });
  }
  const data: ThreadData = { jwtSecret: secret.secret, port, revocations };
  // Ready means every front listens, and only they do (start-gate.ts): the fronts listen, wait at
  // the gate, the reservation closes, then the gate opens and the fronts serve and report ready.
  const gate = StartGate.allocate();
  const starting = Supervisor.start({
    config,
    serve,
    shards: { module: siblingModule('shard', import.meta.url), data, ports: storePorts },
    fronts: {
      module: siblingModule('front', import.meta.url),
      data: { ...data, rateLimits: SharedRateLimiter.allocate(), loginThrottle: SharedTable.allocate(), connections: ConnectionCounts.allocate(config.server.fronts), startGate: gate.buffer },
      ports: storePorts,
    },
  });
  let supervisor: Supervisor;
  try {
    const allListening = gate.allListening(config.server.fronts);
    allListening.catch(() => undefined); // a failed start is reported by `starting`
    await Promise.race([allListening, starting]);
    reservation.release();
    gate.open();
    supervisor = await starting;
  } catch (e) {
    gate.abort();
    reservation.release();
    await starting.catch(() => undefined);
    for (const s of served) s.close();
    await store.close();
    throw new StartError(`cannot start: ${(e as Error).message}`, { cause: e });
  }

  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
  const storeDesc = embedded(config) ? `embedded store in ${config.dataDir}` : 'PostgreSQL';
  const metrics = new NodeMetrics(supervisor, {
    info: { version: VERSION, url, fronts: supervisor.topology.fronts, shards: supervisor.topology.shards, store: embedded(config) ? 'pglite' : 'postgres' },
  });
  nodeMetrics = metrics;
  let internal: InternalMetrics | null = null;
  if (config.metrics.enabled && config.metrics.listen !== undefined) {
    try {
      internal = await serveMetrics(config.metrics.listen, metrics);
      log.info('metrics served on an internal address only', { url: internal.url });
    } catch (e) {
      await supervisor.stop();
      for (const s of served) s.close();
      await store.close();
      throw new StartError(`cannot serve metrics on ${config.metrics.listen}: ${(e as Error).message}`, { cause: e });
    }
  }
  let stopping: Promise<void> | null = null;
  const node: RunningNode = {
    host: config.server.host,
    port,
    url,
    supervisor,
    store,
    metrics,
    metricsUrl: internal?.url ?? null,
    stop() {
      stopping ??= (async () => {
        log.info('stopping');
        await internal?.close();
        metrics.close();
        await supervisor.stop();
        for (const s of served) s.close();
        await store.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };

  if (opts.signals) {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info('signal received, stopping gracefully', { signal: sig });
      node.stop().then(
        () => process.exit(0),
        (e: unknown) => {
          log.error('graceful stop failed', { err: e });
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  if (opts.announce) {
    process.stdout.write(
      `veza-chat listening on ${url} (ws ${url.replace('http', 'ws')}/ws; ${count(supervisor.topology.fronts, 'front')}, ${count(supervisor.topology.shards, 'shard')}, ${storeDesc})\n`,
    );
    if (internal) process.stdout.write(`veza-chat metrics on ${internal.url}\n`);
  }
  return node;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
