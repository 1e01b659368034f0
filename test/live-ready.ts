/**
 * GET /health and GET /ready on a real node: ready means the database and, where configured,
 * Redis answer.
 */
import t from 'tap';
import { call } from './helpers/http.js';
import { startLive } from './helpers/live.js';
import { redisUrl } from './helpers/services.js';

t.test('ready with the database and a reachable Redis', async (t) => {
  const url = redisUrl(t);
  if (url === null) return;
  const live = await startLive(t, 'pglite', { redis: { url } });
  if (!live) return;
  t.match((await call(live.url, 'GET', '/health')).body, { status: 'ok' });
  // The first probe may race the connection being established.
  let ready = await call(live.url, 'GET', '/ready');
  for (let i = 0; i < 20 && ready.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    ready = await call(live.url, 'GET', '/ready');
  }
  t.equal(ready.status, 200);
  t.same(ready.body, { status: 'ready', checks: { database: 'ok', redis: 'ok' } });
});

t.test('not ready while Redis is unreachable', async (t) => {
  const live = await startLive(t, 'pglite', { redis: { url: 'redis://127.0.0.1:1/0' } });
  if (!live) return;
  t.equal((await call(live.url, 'GET', '/health')).status, 200, 'alive all the same');
  const ready = await call(live.url, 'GET', '/ready');
  t.equal(ready.status, 503);
  t.same(ready.body, { status: 'unavailable', checks: { database: 'ok', redis: 'failed' } });
});
