/**
 * The contract's REST endpoints that are not built yet answer 501 `not_implemented`, naming the
 * operation, after authenticating like the real endpoint; unknown paths stay 404 and wrong methods
 * 405, so a client tells the three apart.
 */
import t from 'tap';
import { AccessTokens } from '../src/auth/jwt.js';
import { configSchema } from '../src/config/index.js';
import type { Limiter } from '../src/limits/shared-buckets.js';
import { chatRoutes, type ChatRouteDeps } from '../src/net/http/routes-chat.js';
import { call, serveRoutes, TEST_SECRET } from './helpers/http.js';

const tokens = new AccessTokens(TEST_SECRET, { ttlS: 900 });
const asked: unknown[] = [];
const deps: ChatRouteDeps = {
  tokens,
  config: configSchema.parse({}),
  // No handler of a 501 route may reach an actor or a rate limit.
  actors: {
    ask: async (...args: unknown[]) => {
      asked.push(args);
      throw new Error('the actors were asked');
    },
    tell: (...args: unknown[]) => void asked.push(args),
  } as unknown as ChatRouteDeps['actors'],
  limiter: {
    take: () => {
      asked.push('limiter');
      return { ok: true };
    },
  } as unknown as Limiter<never>,
};

// Method, path as a client sends it, the operation the message names.
const table: [string, string, RegExp][] = [
  ['POST', '/files', /upload file/],
  ['GET', '/files/9', /get file/],
];

t.test('each endpoint not built yet: 401 without a token, 501 not_implemented with one', async (t) => {
  const { url } = await serveRoutes(t, chatRoutes(deps));
  const { token } = await tokens.sign({ id: 1, username: 'alice', role: 'user' });
  for (const [method, path, operation] of table) {
    const what = `${method} ${path}`;
    const body = method === 'GET' ? {} : { body: {} };
    const anon = await call(url, method, '/api/v1' + path, body);
    t.equal(anon.status, 401, `${what} without a token`);
    t.equal(anon.body.error.code, 'unauthenticated', what);
    const bad = await call(url, method, '/api/v1' + path, { ...body, token: 'not-a-jwt' });
    t.equal(bad.status, 401, `${what} with a bad token`);
    const r = await call(url, method, '/api/v1' + path, { ...body, token });
    t.equal(r.status, 501, what);
    t.equal(r.body.error.code, 'not_implemented', what);
    t.match(r.body.error.message, operation, `${what} names the operation`);
    t.match(r.body.error.message, /not implemented/, what);
  }
  t.same(asked, [], 'no actor and no rate limit was touched');
});

t.test('beside the built endpoints: 404 and 405 stay what they were', async (t) => {
  const { url } = await serveRoutes(t, chatRoutes(deps));
  const { token } = await tokens.sign({ id: 1, username: 'alice', role: 'user' });
  const unknown = await call(url, 'GET', '/api/v1/rooms/1/nothing', { token });
  t.equal(unknown.status, 404);
  t.equal(unknown.body.error.code, 'not_found');
  const wrong = await call(url, 'PUT', '/api/v1/rooms/1', { token, body: {} });
  t.equal(wrong.status, 405);
  t.equal(wrong.body.error.code, 'method_not_allowed');
  t.equal(wrong.headers.get('allow'), 'GET, PATCH, DELETE', 'the methods built on the path');
  const files = await call(url, 'DELETE', '/api/v1/files/3', { token });
  t.equal(files.status, 405);
  t.equal(files.headers.get('allow'), 'GET');
});
