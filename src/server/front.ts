/**
 * The front module: what runs on every front thread. One uWS App serving REST (auth, rooms,
 * messages, health) and the WebSocket gateway on the node's port; actors' posts become native
 * publishes. Fronts touch the store only for authentication (credentials and refresh tokens);
 * everything about conversations goes through the actors.
 */
import { USER, type ActorCaller, type FrontPost } from '../actors/messages.js';
import { AccessTokens } from '../auth/jwt.js';
import { AuthService } from '../auth/service.js';
import { CLOSE } from '../errors.js';
import { connectRedis } from '../cluster/redis.js';
import { ContentPipeline } from '../content/pipeline.js';
import { Budgets } from '../limits/budgets.js';
import { ConnectionCounts } from '../limits/connection-counts.js';
import { SharedRateLimiter } from '../limits/shared-buckets.js';
import { perMinute } from '../limits/token-bucket.js';
import { attachRoutes } from '../net/http/uws-adapter.js';
import { authRoutes } from '../net/http/routes-auth.js';
import { chatRoutes } from '../net/http/routes-chat.js';
import { healthRoutes } from '../net/http/routes-health.js';
import { closeApp, createApp, listen, type Listening } from '../net/uws.js';
import { Gateway } from '../net/ws/gateway.js';
import type { FrontContext, FrontServices } from '../runtime/types.js';
import { StartGate } from './start-gate.js';
import { threadStore, type ThreadData } from './thread-store.js';

/** How long a listening front waits, its thread blocked, for the node to open the start gate. */
const GATE_TIMEOUT_MS = 10_000;

export async function setup(ctx: FrontContext): Promise<FrontServices> {
  const data = ctx.data as ThreadData;
  // See start-gate.ts: no front answers anything before every front listens.
  const gate = data.startGate ? new StartGate(data.startGate) : null;
  try {
    return await setupFront(ctx, data, gate);
  } catch (e) {
    gate?.abort();
    throw e;
  }
}

async function setupFront(ctx: FrontContext, data: ThreadData, gate: StartGate | null): Promise<FrontServices> {
  const { config } = ctx;
  const log = ctx.log.child({ front: ctx.index });
  const store = await threadStore(config, ctx.ports, 2);
  const tokens = new AccessTokens(data.jwtSecret, { ttlS: config.auth.accessTtlS });
  const auth = new AuthService({
    store,
    tokens,
    settings: config.auth,
    log,
    hasher: {
      hash: (password) => ctx.cpu.hashPassword(password),
      verify: (password, encoded) => ctx.cpu.verifyPassword(password, encoded),
    },
  });
  const actors: ActorCaller = {
    ask: (kind, id, msg, opts) => ctx.actors.ask(kind, String(id), msg, opts),
    call: (kind, id, msg, settle) => ctx.actors.call(kind, String(id), msg, settle),
    tell: (kind, id, msg) => void ctx.actors.tell(kind, String(id), msg),
  };
  // One budget per user across the node's fronts. A front that replaces a dead one first frees
  // the bucket locks its predecessor may have died holding.
  if (!data.rateLimits) throw new Error('front: the node handed no rate-limit buffer (ThreadData.rateLimits)');
  const limiter = new SharedRateLimiter(data.rateLimits, perMinute(config.limits.perMinute), ctx.index);
  const freed = limiter.releaseOwnedBy(ctx.index);
  if (freed > 0) log.warn('rate limits: freed bucket locks a previous thread held', { freed });
  // Adaptive costs over the shared buckets; account ages read once per user from this front's store.
  const budgets = new Budgets(limiter, config.limits, async (id) => {
    const u = await store.getUser(id);
    return u === null ? null : Date.parse(u.created_at);
  });
  const content = new ContentPipeline(config.content, (id) => budgets.penalise(id));
  // Sockets per user and source across the fronts; this front's count starts from none.
  const connections = data.connections ? new ConnectionCounts(data.connections, ctx.index) : null;
  connections?.reset();
  const gateway = new Gateway({ config, tokens, actors, front: ctx.index, log, limiter, budgets, content, ...(connections ? { connections } : {}) });
  ctx.onPost((msg) => gateway.deliver(msg as FrontPost));
  ctx.actors.onPause(() => gateway.pause());
  ctx.actors.onResume(() => gateway.resume());

  const redis = config.redis.url ? connectRedis(config.redis.url, log) : null;
  try {
    await gate?.prepared(ctx.fronts);
  } catch (e) {
    await redis?.close();
    await store.close();
    throw e;
  }
  const app = createApp();
  gateway.attach(app);
  attachRoutes(
    app,
    [
      ...healthRoutes({ checks: { database: () => store.ping(), ...(redis ? { redis: () => redis.ping() } : {}) }, log }),
      ...authRoutes({
        auth,
        onLogout: (userId) => actors.tell(USER, userId, { t: 'kick', code: CLOSE.UNAUTHENTICATED, reason: 'logged out' }),
      }),
      ...chatRoutes({ actors, tokens, config, limiter, budgets, content }),
    ],
    { maxBodyBytes: config.server.maxBodyBytes, log },
  );
  let bound: Listening | null = null;
  try {
    bound = await listen(app, config.server.host, data.port);
    // Blocks this thread until every front listens and the node's own socket is closed.
    gate?.listening(GATE_TIMEOUT_MS);
  } catch (e) {
    closeApp(app, bound);
    await redis?.close();
    await store.close();
    throw e;
  }
  const listening = bound;
  // A thread that ends with its App open aborts the whole process (ECOSYSTEM.md): whatever
  // escapes, close the App first and let only this thread die (the supervisor restarts it).
  process.on('uncaughtException', (err) => {
    log.error('front thread failed; closing its sockets', { err });
    closeApp(app, listening);
    process.exit(1);
  });
  log.debug('front listening', { port: listening.port });

  return {
    async stop() {
      gateway.closeAll();
      closeApp(app, listening);
      await redis?.close();
      await store.close();
    },
    control(msg) {
      if ((msg as { t?: string }).t === 'stats') return { ...gateway.stats, port: listening.port };
      return undefined;
    },
  };
}
