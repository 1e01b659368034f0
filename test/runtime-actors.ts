/**
 * Actors across real threads: 2 fronts and 2 shards under a Supervisor, the test actor kinds of
 * test/fixtures/runtime/shard.ts, driven through the front module's control surface; and the CPU
 * pool reached from a front through its proxy port.
 */
import t from 'tap';
import './fixtures/runtime/fast-workers.js';
import './fixtures/runtime/front.js';
import './fixtures/runtime/shard.js';
import { loadConfig } from '../src/config/index.js';
import { shardOf } from '../src/runtime/actors/placement.js';
import { CpuPool } from '../src/runtime/cpu/pool.js';
import { Supervisor } from '../src/runtime/threads/supervisor.js';

// Failures below are on purpose: keep the threads' logs quiet.
const config = loadConfig({ env: {}, flags: { runtime: { askTimeoutMs: 5000 }, log: { level: 'silent' } } });
const cpuPool = new CpuPool({ threads: 1, maxQueue: 1, scrypt: { logN: 12, r: 8, p: 1 } });
const sup = await Supervisor.start({
  fronts: { count: 2, module: new URL('./fixtures/runtime/front.ts', import.meta.url) },
  shards: { count: 2, module: new URL('./fixtures/runtime/shard.ts', import.meta.url) },
  config,
  cpuPool,
});
t.teardown(async () => {
  await sup.stop();
  await cpuPool.close();
});

const front = (i: number, msg: unknown) => sup.control('front', i, msg) as Promise<any>;
/** An id of `kind` that lives on `shard`. */
const idOn = (kind: string, shard: number, prefix = 'a') => {
  for (let i = 0; ; i++) if (shardOf(kind, `${prefix}${i}`, 2) === shard) return `${prefix}${i}`;
};

t.test('per-sender order under concurrent senders (2 fronts, 2 relay actors on both shards)', async (t) => {
  const target = { kind: 'log', id: 'ordering' };
  const n = 5000;
  const relays = [idOn('relay', 0, 'r'), idOn('relay', 1, 'r')];
  // A tell is only ordered behind what the same sender sent before it: each sender ends with an
  // ask of the target (behind its tells on the same ring), so the summary below counts it all.
  // Without that barrier the summary could overtake another ring's last records, which a shard
  // napping on its rings (runtime.shardNapMs) reads up to a nap later.
  const drained = (i: number) => front(i, { op: 'ask', ...target, msg: { op: 'summary' } });
  const results = await Promise.all([
    front(0, { op: 'tell-seq', ...target, sender: 'f0', n }).then(() => drained(0)),
    front(1, { op: 'tell-seq', ...target, sender: 'f1', n }).then(() => drained(1)),
    ...relays.map((id, i) => front(i, { op: 'ask', kind: 'relay', id, msg: { op: 'spray', ...target, n } })),
  ]);
  for (const r of results.slice(2)) t.equal(r.ok, true, 'relay finished');
  const summary = await front(0, { op: 'ask', ...target, msg: { op: 'summary' } });
  t.equal(summary.ok, true);
  t.equal(summary.value.total, 4 * n, 'nothing lost, nothing duplicated');
  t.equal(summary.value.violations, 0, 'each sender’s messages arrived in the order sent');
  t.same(summary.value.senders, { f0: n, f1: n, [`relay/${relays[0]}`]: n, [`relay/${relays[1]}`]: n });
});

t.test('activation loads state, passivation after idle time, re-activation reloads', async (t) => {
  const id = 'passive-1';
  for (let i = 1; i <= 3; i++) t.match(await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'inc' } }), { ok: true, value: i });
  const first = await front(1, { op: 'ask', kind: 'counter', id, msg: { op: 'get' } });
  t.match(first.value, { count: 3, activations: 1, passivations: 0 }, 'activated once on the first message');
  // The actor broadcasts from its passivate hook: wait for that event, no sleeping.
  t.match(await front(1, { op: 'wait-post', id }), { event: 'passivated', id });
  const again = await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'get' } });
  t.match(again.value, { count: 3, activations: 2, passivations: 1 }, 'state reloaded by a new activation');
  t.equal(again.value.shard, shardOf('counter', id, 2), 'it lives on the shard shardOf names');
});

t.test('stop is a message: ordered after what came before, next message re-activates', async (t) => {
  const id = 'stopper';
  await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'inc' } });
  t.match(await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'stop-self' } }), { ok: true, value: 'stopping' });
  const after = await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'get' } });
  t.match(after.value, { count: 1, activations: 2, passivations: 1 });
});

t.test('an actor that throws: error answered across threads, restarted with reloaded state', async (t) => {
  const id = 'thrower';
  await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'inc' } });
  const chat = await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'boom', code: true } });
  t.match(chat, { ok: false, code: 'conflict', message: 'counter says no' }, 'a ChatError keeps its code');
  const kept = await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'get' } });
  t.match(kept.value, { count: 1, activations: 1 }, 'a refusal (ChatError with a client code) is an answer: the instance stays');
  const plain = await front(1, { op: 'ask', kind: 'counter', id, msg: { op: 'boom' } });
  t.match(plain, { ok: false, code: 'internal' }, 'anything else is internal');
  t.notMatch(plain.message, /secret/, 'without leaking its message');
  const half = await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'mutate-then-boom' } });
  t.equal(half.ok, false);
  const after = await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'get' } });
  t.match(after.value, { count: 1, activations: 3, passivations: 0 }, 'each failure dropped the instance; state reloaded');
  t.match(await front(0, { op: 'ask', kind: 'counter', id, msg: { op: 'inc' } }), { ok: true, value: 2 }, 'the next message works');
});

t.test('ask timeout: clear error, no leak, late reply dropped', async (t) => {
  await sup.control('shard', shardOf('gate', 'slow', 2), { op: 'regate' });
  const r = await front(0, { op: 'ask', kind: 'gate', id: 'slow', msg: { seq: 0 }, timeoutMs: 50 });
  t.match(r, { ok: false, code: 'internal', reason: 'ask_timeout', message: /gate\/slow.*50 ms/ });
  t.ok(r.ms >= 45, `failed after ${Math.round(r.ms)} ms, not before its timeout`);
  t.equal(await front(0, { op: 'pending' }), 0, 'no pending ask left behind');
  await sup.control('shard', shardOf('gate', 'slow', 2), { op: 'release' });
  // The late reply arrives and is dropped; a fresh ask works.
  t.match(await front(0, { op: 'ask', kind: 'gate', id: 'slow', msg: { seq: 1 } }), { ok: true });
  t.equal(await front(0, { op: 'pending' }), 0);
});

t.test('unknown kind and supervision backoff', async (t) => {
  t.match(await front(0, { op: 'ask', kind: 'nope', id: 'x', msg: {} }), { ok: false, reason: 'unknown_kind' });
  t.match(await front(0, { op: 'ask', kind: 'flaky', id: 'f', msg: { fail: true } }), { ok: false, code: 'internal' });
  const started = Date.now();
  const next = await front(0, { op: 'ask', kind: 'flaky', id: 'f', msg: {} });
  t.equal(next.ok, true);
  t.ok(next.value - started >= 70, `restartWithBackoff(80, ...) delayed the re-activation (${next.value - started} ms)`);
});

t.test('CPU pool from a front thread through the proxy port', async (t) => {
  const hashed = await front(1, { op: 'hash', password: 'hunter22' });
  t.match(hashed, { ok: true, value: /^scrypt\$12\$8\$1\$/ }, 'the pool’s default parameters apply');
  t.match(await front(1, { op: 'verify', password: 'hunter22', hash: hashed.value }), { ok: true, value: true });
  t.match(await front(1, { op: 'verify', password: 'hunter23', hash: hashed.value }), { ok: true, value: false });
  const many = (await front(1, { op: 'hash-many', passwords: ['a', 'b', 'c', 'd'], params: { logN: 14, r: 8, p: 1 } })) as any[];
  const busy = many.filter((o) => !o.ok);
  t.equal(busy.length, 2, 'one runs, one waits, the rest are refused at once');
  t.ok(busy.every((o) => o.code === 'rate_limited' && o.reason === 'cpu_busy'), '...as rate_limited / cpu_busy');
});
