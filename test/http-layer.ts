/** The HTTP layer over real uWS on loopback: routing, bodies, limits, errors, aborts. */
import t from 'tap';
import { z } from 'zod';
import WebSocket from 'ws';
import { ChatError } from '../src/errors.js';
import { json, noContent } from '../src/net/http/reply.js';
import { Router } from '../src/net/http/router.js';
import type { Request, Route } from '../src/net/http/types.js';
import { jsonBody } from '../src/net/http/validate.js';
import { call, serveRoutes } from './helpers/http.js';

const strictBody = z.object({ name: z.string().min(2), n: z.number().int().optional() }).strict();

let release: (() => void) | undefined;
const seen: Request[] = [];

const routes: Route[] = [
  { method: 'GET', path: '/things/:id', handler: async (req) => (seen.push(req), json(200, { param: req.params.id, query: req.query })) },
  { method: 'GET', path: '/things/special', handler: async () => json(200, { special: true }) },
  { method: 'DELETE', path: '/things/:id', handler: async () => noContent() },
  { method: 'POST', path: '/echo', handler: async (req) => json(201, { got: jsonBody(req, strictBody) }) },
  { method: 'POST', path: '/size', handler: async (req) => json(200, { bytes: req.body.length }) },
  {
    method: 'GET',
    path: '/boom',
    handler: async () => {
      throw new Error('secret database password in here');
    },
  },
  { method: 'GET', path: '/bigint', handler: async () => json(200, { n: 1n }) },
  {
    method: 'GET',
    path: '/limited',
    handler: async (req) => {
      throw new ChatError('rate_limited', 'slow down', { retryAfterMs: req.query.busy ? 2500 : 1200, ...(req.query.busy ? { status: 503 } : {}) });
    },
  },
  {
    method: 'GET',
    path: '/slow',
    handler: async () => {
      await new Promise<void>((r) => (release = r));
      return json(200, { late: true });
    },
  },
];

t.test('router: literal beats parameter, duplicates and conflicts refused', async (t) => {
  const r = new Router(routes);
  t.match(r.match('GET', '/things/special'), { kind: 'found', route: { path: '/things/special' } });
  t.match(r.match('GET', '/things/a%20b/'), { kind: 'found', params: { id: 'a b' } });
  t.match(r.match('PUT', '/things/1'), { kind: 'method_not_allowed', allow: ['GET', 'DELETE'] });
  t.match(r.match('GET', '/things'), { kind: 'not_found' });
  t.match(r.match('GET', '/things//'), { kind: 'not_found' });
  t.throws(() => r.add({ method: 'POST', path: '/echo', handler: async () => noContent() }), /duplicate/);
  t.throws(() => r.add({ method: 'GET', path: '/things/:other/x', handler: async () => noContent() }), /conflicts/);
});

t.test('over real HTTP', async (t) => {
  const { url, app } = await serveRoutes(t, routes, { maxBodyBytes: 1024 });
  // A WebSocket route registered beside the REST layer keeps working.
  app.ws('/ws', {
    open: (ws) => {
      ws.send('hi');
    },
  });

  t.test('params, query, headers, ip', async (t) => {
    const r = await call(url, 'GET', '/things/x%2Fy?a=1&b=two&a=3', { headers: { 'X-Thing': 'Yes' } });
    t.equal(r.status, 200);
    t.same(r.body, { param: 'x/y', query: { a: '3', b: 'two' } });
    t.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    t.equal(r.headers.get('cache-control'), 'no-store');
    const req = seen.at(-1)!;
    t.equal(req.headers['x-thing'], 'Yes');
    t.equal(req.method, 'GET');
    t.equal(req.ip, '127.0.0.1');
    t.equal((await call(url, 'GET', '/things/special')).body.special, true);
  });

  t.test('unknown route 404, wrong method 405 with Allow', async (t) => {
    const nf = await call(url, 'GET', '/nope');
    t.equal(nf.status, 404);
    t.equal(nf.body.error.code, 'not_found');
    const na = await call(url, 'POST', '/things/1', { body: {} });
    t.equal(na.status, 405);
    t.equal(na.body.error.code, 'method_not_allowed');
    t.equal(na.headers.get('allow'), 'GET, DELETE');
    t.equal(na.headers.get('content-type'), 'application/json; charset=utf-8');
    const one = await call(url, 'PATCH', '/echo', { body: {} });
    t.equal(one.status, 405);
    t.equal(one.body.error.code, 'method_not_allowed');
    t.equal(one.headers.get('allow'), 'POST');
    const literal = await call(url, 'PUT', '/things/special/');
    t.equal(literal.status, 405, 'a trailing slash names the same path');
    t.equal(literal.headers.get('allow'), 'GET');
  });

  t.test('204 has no body and no content type', async (t) => {
    const r = await call(url, 'DELETE', '/things/1');
    t.equal(r.status, 204);
    t.equal(r.text, '');
    t.equal(r.headers.get('content-type'), null);
  });

  t.test('JSON bodies: malformed is 400 invalid_json, misfits are validation_failed with details', async (t) => {
    t.same((await call(url, 'POST', '/echo', { body: { name: 'ok', n: 2 } })).body, { got: { name: 'ok', n: 2 } });
    for (const raw of ['{', '{"name":"ok",}', 'nul', '"unterminated']) {
      const r = await call(url, 'POST', '/echo', { raw });
      t.equal(r.status, 400, raw);
      t.equal(r.body.error.code, 'invalid_json', raw);
    }
    const notUtf8 = await call(url, 'POST', '/echo', { raw: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]) });
    t.equal(notUtf8.status, 400, 'invalid UTF-8');
    t.equal(notUtf8.body.error.code, 'invalid_json', 'invalid UTF-8');
    const extra = await call(url, 'POST', '/echo', { body: { name: 'ok', admin: true } });
    t.equal(extra.status, 400);
    t.equal(extra.body.error.code, 'validation_failed');
    t.same(extra.body.error.details, [{ path: 'admin', message: 'unknown field' }]);
    const missing = await call(url, 'POST', '/echo', { body: { n: 1.5 } });
    t.same(missing.body.error.details.map((d: { path: string }) => d.path).sort(), ['n', 'name']);
    const empty = await call(url, 'POST', '/echo');
    t.equal(empty.body.error.code, 'validation_failed', 'an empty body is a misfit, not bad JSON');
    const array = await call(url, 'POST', '/echo', { body: [1] });
    t.equal(array.body.error.code, 'validation_failed');
    const proto = await call(url, 'POST', '/echo', { raw: '{"name":"ok","__proto__":{"x":1}}' });
    t.equal(proto.body.error.code, 'validation_failed', '__proto__ is just an unknown field');
  });

  t.test('body limit: 413, declared or streamed; at the limit is fine', async (t) => {
    t.same((await call(url, 'POST', '/size', { raw: 'x'.repeat(1024) })).body, { bytes: 1024 });
    const declared = await call(url, 'POST', '/size', { raw: 'x'.repeat(1025) });
    t.equal(declared.status, 413);
    t.equal(declared.body.error.code, 'payload_too_large');
    // Chunked: no Content-Length, the limit trips while reading.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('y'.repeat(800)));
        c.enqueue(new TextEncoder().encode('y'.repeat(800)));
        c.close();
      },
    });
    const res = await fetch(url + '/size', { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    t.equal(res.status, 413);
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'payload_too_large');
    t.equal((await call(url, 'GET', '/things/1')).status, 200, 'still serving');
  });

  t.test('unexpected exceptions are 500 internal without the message', async (t) => {
    const r = await call(url, 'GET', '/boom');
    t.equal(r.status, 500);
    t.same(r.body, { error: { code: 'internal', message: 'internal error' } });
    t.notMatch(r.text, /secret/);
    const big = await call(url, 'GET', '/bigint');
    t.equal(big.status, 500, 'a body JSON cannot carry');
  });

  t.test('Retry-After in seconds on 429 and 503', async (t) => {
    const r = await call(url, 'GET', '/limited');
    t.equal(r.status, 429);
    t.equal(r.headers.get('retry-after'), '2');
    t.equal(r.body.error.retry_after_ms, 1200);
    const busy = await call(url, 'GET', '/limited?busy=1');
    t.equal(busy.status, 503);
    t.equal(busy.headers.get('retry-after'), '3');
  });

  t.test('a client that leaves before the reply: nothing is written, the server goes on', async (t) => {
    const ac = new AbortController();
    const pending = fetch(url + '/slow', { signal: ac.signal });
    while (!release) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await t.rejects(pending);
    await new Promise((r) => setTimeout(r, 50)); // let uWS see the close
    release();
    await new Promise((r) => setTimeout(r, 20));
    t.equal((await call(url, 'GET', '/things/2')).status, 200);
  });

  t.test('WebSocket route beside the REST layer', async (t) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/ws');
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    t.equal(first, 'hi');
    ws.close();
  });
});
