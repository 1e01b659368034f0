/**
 * A slow consumer: an actor that holds its messages makes its shard stop reading the front's ring
 * (backlog limit), the ring fills, the front's overflow queue fills up to `overflowLimit` and no
 * further (writable=false, sends refused), then everything drains in order once the actor moves.
 */
import t from 'tap';
import './fixtures/runtime/fast-workers.js';
import './fixtures/runtime/front.js';
import './fixtures/runtime/shard.js';
import { loadConfig } from '../src/config/index.js';
import { Supervisor } from '../src/runtime/threads/supervisor.js';

const overflowLimit = 64;
const config = loadConfig({
  env: {},
  flags: { runtime: { ringBytes: 4096, overflowLimit }, log: { level: 'error' } },
});
const sup = await Supervisor.start({
  fronts: { count: 1, module: new URL('./fixtures/runtime/front.ts', import.meta.url) },
  shards: { count: 1, module: new URL('./fixtures/runtime/shard.ts', import.meta.url) },
  config,
});
t.teardown(() => sup.stop());
const front = (msg: unknown) => sup.control('front', 0, msg) as Promise<any>;

t.test('slow consumer: bounded queue, writable=false, resumes on drain, nothing lost', async (t) => {
  const n = 5000;
  const sending = front({ op: 'tell-seq', kind: 'gate', id: 'slow', sender: 'f0', n });
  await front({ op: 'wait-pause' });
  const paused = await front({ op: 'flow' });
  t.equal(paused.writable, false, 'the front sees writable=false');
  // One pause, or two when the shard's first reads (up to its backlog limit) let the queue drain once.
  t.ok(paused.pauses >= 1 && paused.pauses <= 2, `and got pause events (${paused.pauses})`);
  t.match(paused.links[0], { writable: false, maxQueued: overflowLimit }, 'the overflow queue filled up to its limit');
  t.match(await sup.control('shard', 0, { op: 'held' }), { count: 0 }, 'the actor has not handled anything yet');

  await sup.control('shard', 0, { op: 'release' });
  const sent = await sending;
  t.equal(sent.sent, n);
  t.ok(sent.refused >= 1, `sends were refused while paused (${sent.refused}), not queued without bound`);
  const flow = await front({ op: 'flow' });
  t.ok(flow.resumes >= 1, 'resumed on drain');
  t.ok(flow.links[0].maxQueued <= overflowLimit, `the overflow queue never passed its limit (max ${flow.links[0].maxQueued})`);
  // An ask goes behind every tell on the same ring: once it is answered, all tells were handled.
  t.match(await front({ op: 'ask', kind: 'gate', id: 'slow', msg: { seq: n } }), { ok: true });
  t.same(await sup.control('shard', 0, { op: 'held' }), { count: n + 1, inOrder: true }, 'everything arrived, in order');
});
