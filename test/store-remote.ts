import { MessageChannel } from 'node:worker_threads';
import t from 'tap';
import { ChatError } from '../src/errors.js';
import { setLogLevel } from '../src/log.js';
import { remoteStore, serveStore } from '../src/store/pglite/remote.js';
import type { Store } from '../src/store/store.js';

// The proxy's own behaviour, against a stub store (no database): the store suite runs the real
// PGlite store through it in test/store-pglite.ts.

// The server side logs unexpected errors on purpose; the stub throws them on purpose.
setLogLevel('silent');

type Stub = Partial<Record<keyof Store, unknown>>;

function pair(stub: Stub) {
  const { port1, port2 } = new MessageChannel();
  const served = serveStore(stub as Store, port1);
  const store = remoteStore(port2);
  return { store, served, port1, port2 };
}

t.test('results and arguments cross by structured clone', async (t) => {
  let seen: unknown[] = [];
  const { store, served } = pair({
    loginFailures: async (...args: unknown[]) => {
      seen = args;
      return { count: 2, oldest: new Date(5) };
    },
  });
  t.teardown(async () => {
    await store.close();
    served.close();
  });
  t.equal(store.backend, 'remote');
  const r = await store.loginFailures(7, new Date(1000));
  t.same(r, { count: 2, oldest: new Date(5) });
  t.ok(r.oldest instanceof Date, 'a Date result stays a Date');
  t.ok(seen[1] instanceof Date, 'a Date argument stays a Date');
  t.equal(seen[0], 7);
});

t.test('errors keep their code; others become internal without their text', async (t) => {
  const { store, served } = pair({
    createUser: async () => {
      throw new ChatError('conflict', 'username already taken', { details: [{ path: 'username', message: 'taken' }] });
    },
    getUser: async () => {
      throw new TypeError('secret internals');
    },
  });
  t.teardown(async () => {
    await store.close();
    served.close();
  });
  await t.rejects(store.createUser({ username: 'a', email: 'a@e', passwordHash: 'h' }), {
    name: 'ChatError',
    code: 'conflict',
    message: 'username already taken',
    details: [{ path: 'username', message: 'taken' }],
  });
  const e = await store.getUser(1).catch((e: unknown) => e);
  t.ok(e instanceof ChatError);
  t.equal((e as ChatError).code, 'internal');
  t.notMatch((e as Error).message, /secret/);
});

t.test('only Store methods are served', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const served = serveStore({ getUser: async () => null } as unknown as Store, port1);
  t.teardown(() => {
    served.close();
    port2.close();
  });
  const reply = new Promise((resolve) => port2.once('message', resolve));
  port2.postMessage({ type: 'call', id: 1, method: 'constructor', args: [] });
  t.match(await reply, { type: 'error', id: 1, error: { code: 'internal', message: /no store method/ } });
});

t.test('arguments that cannot be cloned fail the call, not the channel', async (t) => {
  const { store, served } = pair({ audit: async () => undefined, ping: async () => undefined });
  t.teardown(async () => {
    await store.close();
    served.close();
  });
  await t.rejects(store.audit({ actorId: 1, action: 'x', details: { f: () => 1 } }), { code: 'internal' });
  await t.resolves(store.ping(), 'the channel still works');
});

t.test('pending calls fail when the channel closes, from either end', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const slow = { ping: () => gate };

  const a = pair(slow);
  const p1 = a.store.ping();
  await a.store.close();
  await t.rejects(p1, { code: 'internal', message: /closed/ }, 'closed by the caller');
  await t.rejects(a.store.ping(), { code: 'internal' }, 'later calls fail at once');
  a.served.close();

  const b = pair(slow);
  const p2 = b.store.ping();
  b.served.close();
  await t.rejects(p2, { code: 'internal', message: /closed/ }, 'closed by the owner (a worker gone, a shutdown)');
  await b.store.close();
  release();
});
