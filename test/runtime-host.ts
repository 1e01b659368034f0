/**
 * The actor host in one thread (no workers): mailbox order, activation and passivation with an
 * injected clock, supervision, deferred replies, stop ordering, backlog signals, ask timeouts.
 */
import t from 'tap';
import { ChatError } from '../src/errors.js';
import { createLogger, setLogLevel } from '../src/log.js';
import { ActorClient } from '../src/runtime/actors/client.js';
import { ActorHost } from '../src/runtime/actors/host.js';
import { Mailbox } from '../src/runtime/actors/mailbox.js';
import { restartWithBackoff } from '../src/runtime/actors/supervision.js';
import { Topology } from '../src/runtime/threads/topology.js';
import type { Actor, ActorFactory, ActorKind } from '../src/runtime/types.js';

setLogLevel('silent'); // failures below are on purpose

function harness(kinds: Record<string, ActorFactory | ActorKind>, opts: { backlogLimit?: number } = {}) {
  let now = 1_000_000;
  const topology = new Topology(1, 1);
  const self = topology.shardPeer(0);
  const backlog: boolean[] = [];
  const posts: unknown[] = [];
  // eslint-disable-next-line prefer-const
  let host: ActorHost;
  const client = new ActorClient({
    topology,
    self,
    links: new Map(),
    askTimeoutMs: 2000,
    local: (env, peer) => host.deliver(env, peer),
  });
  host = new ActorHost({
    shard: 0,
    topology,
    client,
    reply: (_peer, env) => client.settleReply(env),
    post: (_front, msg) => posts.push(msg) > 0,
    passivateAfterMs: 1000,
    backlogLimit: opts.backlogLimit ?? 1000,
    onBacklog: (high) => backlog.push(high),
    log: createLogger(),
    now: () => now,
  });
  host.setKinds(kinds);
  return {
    host,
    client,
    backlog,
    posts,
    advance: (ms: number) => (now += ms),
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('mailbox: one item at a time, in order, never re-entering the sender', async (t) => {
  const seen: number[] = [];
  let running = 0;
  let maxRunning = 0;
  const mb = new Mailbox<number>(
    async (n) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await tick();
      seen.push(n);
      running--;
    },
    (err) => t.fail(String(err)),
  );
  mb.start();
  for (let i = 0; i < 20; i++) mb.enqueue(i);
  t.equal(seen.length, 0, 'enqueue does not run the item synchronously');
  while (!mb.idle) await tick();
  t.same(seen, [...Array(20).keys()]);
  t.equal(maxRunning, 1);
});

t.test('mailbox: items enqueued while one is processed keep their order (one-slot fast path)', async (t) => {
  const seen: string[] = [];
  const mb = new Mailbox<string>(
    async (item) => {
      seen.push(item);
      await tick();
      // Enqueued while `a` runs: the slot is free again, the queue is not empty after `b`.
      if (item === 'a') {
        mb.enqueue('c');
        mb.enqueue('d');
      }
      if (item === 'c') mb.enqueue('e');
    },
    (err) => t.fail(String(err)),
  );
  mb.start();
  mb.enqueue('a');
  mb.enqueue('b');
  t.equal(mb.size, 2);
  while (!mb.idle) await tick();
  t.same(seen, ['a', 'b', 'c', 'd', 'e']);
  mb.enqueue('x');
  mb.enqueue('y');
  t.same(mb.clear(), ['x', 'y'], 'clear returns what waits, oldest first');
  t.equal(mb.size, 0);
  await tick();
  t.same(seen, ['a', 'b', 'c', 'd', 'e'], 'cleared items are not processed');
});

t.test('keepAlive: an actor that says so is not passivated by idleness', async (t) => {
  let online = true;
  const passivated: string[] = [];
  const h = harness({
    holder: (id) => ({
      receive: () => 'ok',
      keepAlive: () => online,
      passivate: () => void passivated.push(id),
    }),
  });
  t.equal(await h.client.ask('holder', 'h', 'hi'), 'ok');
  await tick();
  h.advance(5_000);
  h.host.sweep();
  await tick();
  t.same(passivated, [], 'kept while keepAlive is true');
  t.equal(h.host.size, 1);
  online = false;
  h.host.sweep();
  await tick();
  t.same(passivated, ['h'], 'passivated once keepAlive is false');
});

t.test('activation on first message, passivation when idle, state reloaded', async (t) => {
  const store = new Map<string, number>();
  const calls: string[] = [];
  const counter: ActorFactory = (id) => {
    let n = 0;
    return {
      activate() {
        calls.push(`activate ${id}`);
        n = store.get(id) ?? 0;
      },
      receive(msg) {
        if (msg === 'get') return n;
        return ++n;
      },
      passivate() {
        calls.push(`passivate ${id}`);
        store.set(id, n);
      },
    };
  };
  const h = harness({ counter });
  t.equal(await h.client.ask('counter', 'a', 'inc'), 1);
  t.equal(await h.client.ask('counter', 'a', 'inc'), 2);
  t.same(calls, ['activate a']);
  await tick(); // the mailbox finishes its bookkeeping (last-used time) after the reply
  h.advance(999);
  h.host.sweep();
  await tick();
  t.equal(h.host.size, 1, 'not idle long enough');
  h.advance(1);
  h.host.sweep();
  await tick();
  t.same(calls, ['activate a', 'passivate a']);
  t.equal(h.host.size, 0, 'passivated actors leave the registry');
  t.equal(await h.client.ask('counter', 'a', 'get'), 2, 'a new activation reloads the saved state');
  t.same(calls, ['activate a', 'passivate a', 'activate a']);
});

t.test('a message that arrives after the sweep queued a passivation keeps the actor', async (t) => {
  let passivations = 0;
  const h = harness({
    k: () => ({
      receive: (m) => m,
      passivate: () => void passivations++,
    }),
  });
  await h.client.ask('k', 'x', 1);
  await tick();
  h.advance(5000);
  h.host.sweep(); // queues a passivation...
  const reply = h.client.ask('k', 'x', 2); // ...and a message lands behind it
  t.equal(await reply, 2);
  t.equal(passivations, 0, 'the passivation was skipped');
  t.equal(h.host.size, 1);
});

t.test('a failure answers with the error and restarts with reloaded state', async (t) => {
  const store = { n: 0 };
  let activations = 0;
  const h = harness({
    c: () => {
      let n = 0;
      return {
        activate() {
          activations++;
          n = store.n;
        },
        receive(msg) {
          if (msg === 'inc') return (store.n = ++n);
          if (msg === 'chat') throw new ChatError('forbidden', 'no', { details: [{ path: 'x', message: 'y' }] });
          if (msg === 'half') {
            n += 100;
            throw new TypeError('oops');
          }
          return n;
        },
      };
    },
  });
  await h.client.ask('c', '1', 'inc');
  await t.rejects(h.client.ask('c', '1', 'chat'), { code: 'forbidden', message: 'no', details: [{ path: 'x' }] });
  await t.rejects(h.client.ask('c', '1', 'half'), { code: 'internal', message: 'internal error' });
  t.equal(await h.client.ask('c', '1', 'get'), 1, 'in-memory change of the failed message is gone');
  t.equal(activations, 2, 'the refusal kept the instance; the TypeError restarted it');
});

t.test('an activate that throws fails the message; the next message tries again', async (t) => {
  let attempts = 0;
  const h = harness({
    a: () => ({
      activate() {
        if (++attempts === 1) throw new Error('store down');
      },
      receive: () => 'ok',
    }),
  });
  await t.rejects(h.client.ask('a', '1', null), { code: 'internal' });
  t.equal(await h.client.ask('a', '1', null), 'ok');
  t.equal(attempts, 2);
});

t.test('restartWithBackoff: delays grow, capped, jittered', async (t) => {
  const s = restartWithBackoff(100, 1000, 0.2, () => 0.5);
  t.same([1, 2, 3, 4, 5, 6].map((f) => s.delayMs(f)), [100, 200, 400, 800, 1000, 1000]);
  const lo = restartWithBackoff(100, 1000, 0.2, () => 0);
  const hi = restartWithBackoff(100, 1000, 0.2, () => 0.999999);
  t.equal(lo.delayMs(1), 80);
  t.equal(hi.delayMs(1), 120);
  t.throws(() => restartWithBackoff(10, 5));
});

t.test('defer: the mailbox moves on, the reply goes out when the promise settles', async (t) => {
  let release!: (v: string) => void;
  const later = new Promise<string>((resolve) => (release = resolve));
  const order: string[] = [];
  const h = harness({
    d: (_id, ctx) => ({
      receive(msg) {
        order.push(`receive ${String(msg)}`);
        if (msg === 'slow') return ctx.defer(later);
        if (msg === 'bad') return ctx.defer(Promise.reject(new ChatError('conflict', 'nope')));
        return 'fast';
      },
    }),
  });
  const slow = h.client.ask('d', '1', 'slow').then((v) => order.push(`reply ${String(v)}`));
  const fast = h.client.ask('d', '1', 'fast').then((v) => order.push(`reply ${String(v)}`));
  await fast;
  t.same(order, ['receive slow', 'receive fast', 'reply fast'], 'the next message ran before the deferred reply');
  release('done');
  await slow;
  t.same(order.at(-1), 'reply done');
  await t.rejects(h.client.ask('d', '1', 'bad'), { code: 'conflict' });
  t.equal(await h.client.ask('d', '1', 'again'), 'fast', 'a deferred failure does not stop the actor');
});

t.test('stop is ordered with messages; stopAll passivates everything', async (t) => {
  const log: string[] = [];
  const h = harness({
    s: (id) => ({
      activate: () => void log.push(`activate ${id}`),
      receive: (m) => void log.push(`${id}:${String(m)}`),
      passivate: () => void log.push(`passivate ${id}`),
    }),
  });
  h.client.tell('s', 'a', 1);
  h.client.tell('s', 'a', 2);
  h.client.stop('s', 'a');
  h.client.tell('s', 'a', 3);
  await h.client.ask('s', 'b', 'x');
  await h.client.ask('s', 'a', 4);
  t.same(log.filter((l) => l.endsWith(' a') || l.startsWith('a:')), ['activate a', 'a:1', 'a:2', 'passivate a', 'activate a', 'a:3', 'a:4']);
  await h.host.stopAll();
  t.ok(log.includes('passivate b') && log.at(-1)?.startsWith('passivate'), 'every actor passivated on stopAll');
  t.equal(h.host.size, 0);
  t.match(await h.client.ask('s', 'a', 5).catch((e: unknown) => e), { reason: 'stopped' }, 'a stopped host refuses new work');
});

t.test('backlog: high past the limit, low again at half', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const h = harness({ g: () => ({ receive: () => gate }) }, { backlogLimit: 10 });
  for (let i = 0; i < 10; i++) h.client.tell('g', 'x', i);
  t.same(h.backlog, [true], 'high once the limit is reached');
  t.equal(h.host.backlog, 10);
  release();
  await h.client.ask('g', 'x', 'last');
  await tick(); // the backlog is counted down after the reply goes out
  t.same(h.backlog, [true, false], 'low again once it drained');
  t.equal(h.host.backlog, 0);
});

t.test('ask timeout: clear error, nothing pending; unknown kind', async (t) => {
  const h = harness({ never: () => ({ receive: () => new Promise(() => {}) }) as Actor });
  const err = await h.client.ask('never', 'n', 1, { timeoutMs: 30 }).catch((e: unknown) => e);
  t.match(err, { name: 'RuntimeError', code: 'internal', reason: 'ask_timeout', message: /never\/n.*30 ms/ });
  t.equal(h.client.pendingAsks, 0);
  t.match(await h.client.ask('nope', 'n', 1).catch((e: unknown) => e), { reason: 'unknown_kind' });
});

t.test('a tell marked ifActive reaches an active actor and never activates one', async (t) => {
  let activations = 0;
  const got: unknown[] = [];
  const { client, host } = harness({
    k: () => ({
      activate: async () => void activations++,
      receive: (msg: unknown) => {
        got.push(msg);
        return 'ok';
      },
    }),
  });
  client.tell('k', 'a', 'news', undefined, true);
  await tick();
  t.equal(activations, 0, 'an inactive actor is not activated for it');
  t.equal(host.size, 0);
  t.equal(host.backlog, 0, 'and it leaves no backlog');
  t.equal(await client.ask('k', 'a', 'hello'), 'ok');
  client.tell('k', 'a', 'news', undefined, true);
  await tick();
  t.same(got, ['hello', 'news'], 'an active one gets it, in order');
  t.equal(activations, 1);
});
