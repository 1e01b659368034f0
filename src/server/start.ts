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
import { siblingModule } from '../runtime/threads/entry.js';
import { Supervisor } from '../runtime/threads/supervisor.js';
import { openStore, type OpenedStore } from '../store/open.js';
import { serveStore } from '../store/pglite/remote.js';
import { closeApp, createApp, listen, type Listening } from '../net/uws.js';
import { StartGate } from './start-gate.js';
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

  const served: { close(): void }[] = [];
  const storePorts = (): Record<string, MessagePort> => {
    if (!embedded(config)) return {};
    const ch = new MessageChannel();
    served.push(serveStore(store.store, ch.port1));
    return { store: ch.port2 };
  };
  const data: ThreadData = { jwtSecret: secret.secret, port };
  // Ready means every front listens, and only they do (start-gate.ts): the fronts listen, wait at
  // the gate, the reservation closes, then the gate opens and the fronts serve and report ready.
  const gate = StartGate.allocate();
  const starting = Supervisor.start({
    config,
    shards: { module: siblingModule('shard', import.meta.url), data, ports: storePorts },
    fronts: {
      module: siblingModule('front', import.meta.url),
      data: { ...data, rateLimits: SharedRateLimiter.allocate(), connections: ConnectionCounts.allocate(config.server.fronts), startGate: gate.buffer },
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
  let stopping: Promise<void> | null = null;
  const node: RunningNode = {
    host: config.server.host,
    port,
    url,
    supervisor,
    store,
    stop() {
      stopping ??= (async () => {
        log.info('stopping');
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
    const storeDesc = embedded(config) ? `embedded store in ${config.dataDir}` : 'PostgreSQL';
    process.stdout.write(
      `veza-chat listening on ${url} (ws ${url.replace('http', 'ws')}/ws; ${count(supervisor.topology.fronts, 'front')}, ${count(supervisor.topology.shards, 'shard')}, ${storeDesc})\n`,
    );
  }
  return node;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
