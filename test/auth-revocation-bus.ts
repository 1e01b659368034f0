/**
 * Revocations between nodes over Redis pub/sub (src/auth/revocation-bus.ts), with a real Redis:
 * what one node publishes, another node's SessionRevoker adds to its own revocation set, so that
 * node's fronts refuse the session; malformed messages on the channel are ignored.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { Redis } from 'ioredis';
import { AccessTokens } from '../src/auth/jwt.js';
import { REVOCATION_CHANNEL, revocationBus, type RevocationMessage } from '../src/auth/revocation-bus.js';
import { RevocationSet } from '../src/auth/revocations.js';
import { SessionRevoker } from '../src/auth/sessions.js';
import { createLogger } from '../src/log.js';
import { redisUrl } from './helpers/services.js';

t.test('a revocation published by one node is held by another', async (t) => {
  const url = redisUrl(t);
  if (url === null) return;
  const log = createLogger({ role: 'test' });
  // Node B: its own revocation set, fed by its bus.
  const setB = new RevocationSet(RevocationSet.allocate());
  const heard: RevocationMessage[] = [];
  let arrived: () => void = () => {};
  const revokerB: SessionRevoker = new SessionRevoker({
    store: { revokeUserRefreshTokens: async () => [], audit: async () => {} },
    revocations: setB,
    accessTtlS: 900,
    closeSockets: () => {},
    log,
    bus: null,
  });
  const busB = revocationBus(url, log, (msg) => {
    heard.push(msg);
    revokerB.remote(msg);
    arrived();
  });
  const busA = revocationBus(url, log, () => {});
  t.teardown(async () => {
    await busA.close();
    await busB.close();
  });
  // Node A ends a session; its revoker publishes.
  const revokerA = new SessionRevoker({
    store: { revokeUserRefreshTokens: async () => [], audit: async () => {} },
    revocations: new RevocationSet(RevocationSet.allocate()),
    accessTtlS: 900,
    closeSockets: () => {},
    log,
    bus: busA,
  });
  const tokensB = new AccessTokens('bus-test-secret'.padEnd(40, 'z'), { ttlS: 900, revocations: setB });
  const sid = randomUUID();
  const token = (await tokensB.sign({ id: 5, username: 'eve', role: 'user' }, { sid })).token;
  t.ok(tokensB.verify(token), 'node B accepts the session before');

  // The subscriber connects asynchronously: publish until B hears (each publish is idempotent).
  const raw = new Redis(url);
  t.teardown(() => raw.disconnect());
  const deadline = Date.now() + 5000;
  while (heard.length === 0 && Date.now() < deadline) {
    // Garbage first: B must ignore it and stay up.
    await raw.publish(REVOCATION_CHANNEL, '{"sessions":"nope"}');
    await raw.publish(REVOCATION_CHANNEL, 'not json');
    const got = new Promise<void>((r) => (arrived = r));
    revokerA.sessionRevoked(5, sid, 'logged out');
    await Promise.race([got, new Promise((r) => setTimeout(r, 200))]);
  }
  t.same(heard[0], { sessions: [sid], users: [] }, 'only the well-formed message was heard');
  t.throws(() => tokensB.verify(token), { code: 'unauthenticated', message: 'session revoked' }, 'node B refuses it after');
});
