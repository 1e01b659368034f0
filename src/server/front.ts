/**
 * The front module: what runs on every front thread. One uWS App serving REST (auth, rooms,
 * messages, health) and the WebSocket gateway on the node's port; actors' posts become native
 * publishes. Fronts touch the store only for authentication (credentials and refresh tokens);
 * everything about conversations goes through the actors.
 */
import { USER, type ActorCaller, type FrontPost } from '../actors/messages.js';
import { CLOSE } from '../errors.js';
import { batched } from '../store/batch.js';
import { AccessTokens } from '../auth/jwt.js';
import { AuthService } from '../auth/service.js';
import { revocationBus } from '../auth/revocation-bus.js';
import { RevocationSet } from '../auth/revocations.js';
import { SessionRevoker } from '../auth/sessions.js';
import { auditRoutes } from '../net/http/routes-audit.js';
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
import { moderationRoutes } from '../net/http/routes-moderation.js';
import { adminRoutes } from '../net/http/routes-admin.js';
import { onCollect, slowConsumers } from '../metrics/index.js';
import { staticRoutes } from '../net/http/routes-static.js';
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
  if (!data.revocations) throw new Error('front: the node handed no revocation buffer (ThreadData.revocations)');
  const revocations = new RevocationSet(data.revocations);
  const tokens = new AccessTokens(data.jwtSecret, { ttlS: config.auth.accessTtlS, revocations });
  const actors: ActorCaller = {
    ask: (kind, id, msg, opts) => ctx.actors.ask(kind, String(id), msg, opts),
    call: (kind, id, msg, settle) => ctx.actors.call(kind, String(id), msg, settle),
    tell: (kind, id, msg) => void ctx.actors.tell(kind, String(id), msg),
  };
  // Sessions that end (src/auth/sessions.ts). `sessions.revokeUserSessions(userId, reason)` is the
  // call that ends every session of a user (a global ban).
  const bus = config.redis.url ? revocationBus(config.redis.url, log, (msg) => sessions.remote(msg)) : null;
  const sessions: SessionRevoker = new SessionRevoker({
    store,
    revocations,
    accessTtlS: config.auth.accessTtlS,
    log,
    closeSockets: (userId, sid, code, reason) => actors.tell(USER, userId, { t: 'kick', code, reason, ...(sid === undefined ? {} : { sid }) }),
    bus,
  });
  const auth = new AuthService({
    store,
    tokens,
    settings: config.auth,
    hashConcurrency: config.runtime.cpuThreads,
    ...(data.loginThrottle ? { throttleBuffer: data.loginThrottle } : {}),
    sessions,
    log,
    checkUsername: (username) => void content.name(username, 'username'),
    hasher: {
      hash: (password) => ctx.cpu.hashPassword(password),
      verify: (password, encoded) => ctx.cpu.verifyPassword(password, encoded),
    },
  });
  // One budget per user across the node's fronts. A front that replaces a dead one first frees
  // the bucket locks its predecessor may have died holding.
  if (!data.rateLimits) throw new Error('front: the node handed no rate-limit buffer (ThreadData.rateLimits)');
  const limiter = new SharedRateLimiter(data.rateLimits, perMinute(config.limits.perMinute), ctx.index);
  const freed = limiter.releaseOwnedBy(ctx.index);
  if (freed > 0) log.warn('rate limits: freed bucket locks a previous thread held', { freed });
  // Adaptive costs over the shared buckets; account ages read once per user from this front's store, many users a query.
  const accountCreated = batched((ids: number[]) => store.accountsCreated(ids));
  const budgets = new Budgets(limiter, config.limits, async (id) => (await accountCreated(id)) ?? null);
  const content = new ContentPipeline(config.content, (id) => budgets.penalise(id));
  // Sockets per user and source across the fronts; this front's count starts from none.
  const connections = data.connections ? new ConnectionCounts(data.connections, ctx.index) : null;
  connections?.reset();
  const gateway = new Gateway({ config, tokens, actors, front: ctx.index, log, limiter, budgets, content, ...(connections ? { connections } : {}) });
  onCollect(() => {
    const s = gateway.stats;
    slowConsumers.child('skip').value = s.slowConsumerSkips;
    slowConsumers.child('close').value = s.slowConsumerCloses;
  });
  ctx.onPost((msg) => gateway.deliver(msg as FrontPost));
  ctx.actors.onPause(() => gateway.pause());
  ctx.actors.onResume(() => gateway.resume());

  /**
   * A user was banned globally (`POST /users/:id/ban`): every session of theirs ends (their access
   * tokens refused at once on every front and node) and every live socket closes with 4403. Login
   * and refresh refuse them from now on (src/auth/service.ts).
   */
  const onUserBanned = (userId: number): void => {
    sessions.revokeUserSessions(userId, 'banned', { closeCode: CLOSE.FORBIDDEN }).catch((err: unknown) => log.error('ban: sessions not revoked', { user_id: userId, err }));
  };

  const redis = config.redis.url ? connectRedis(config.redis.url, log) : null;
  try {
    await gate?.prepared(ctx.fronts);
  } catch (e) {
    await redis?.close();
    await bus?.close();
    await store.close();
    throw e;
  }
  const app = createApp();
  gateway.attach(app);
  attachRoutes(
    app,
    [
      ...healthRoutes({ checks: { database: () => store.ping(), ...(redis ? { redis: () => redis.ping() } : {}) }, log }),
      ...authRoutes({ auth }),
      ...auditRoutes({ tokens, store }),
      ...chatRoutes({ actors, tokens, config, limiter, budgets, content }),
      ...moderationRoutes({ actors, tokens, config, store, onUserBanned }),
      ...adminRoutes({
        main: (msg) => ctx.main(msg),
        metrics: config.metrics.enabled && config.metrics.listen === undefined,
        adminToken: config.admin.token,
      }),
      ...staticRoutes(),
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
    await bus?.close();
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
    await bus?.close();
      await store.close();
    },
    control(msg) {
      if ((msg as { t?: string }).t === 'stats') return { ...gateway.stats, port: listening.port };
      return undefined;
    },
  };
}
