/**
 * A shard thread dies mid-load (process.exit inside it, then worker.terminate()): the supervisor
 * restarts it, asks in flight to it fail promptly with a clear error, the other shard keeps
 * serving, and the restarted shard serves again.
 */
import t from 'tap';
import './fixtures/runtime/fast-workers.js';
import './fixtures/runtime/front.js';
import './fixtures/runtime/shard.js';
import { once } from 'node:events';
import { loadConfig } from '../src/config/index.js';
import { setLogLevel } from '../src/log.js';
import { shardOf } from '../src/runtime/actors/placement.js';
import { restart } from '../src/runtime/actors/supervision.js';
import { Supervisor } from '../src/runtime/threads/supervisor.js';

setLogLevel('error'); // the supervisor warns about each restart: expected here
const config = loadConfig({ env: {}, flags: { runtime: { askTimeoutMs: 5000 }, log: { level: 'silent' } } });
const sup = await Supervisor.start({
  fronts: { count: 1, module: new URL('./fixtures/runtime/front.ts', import.meta.url) },
  shards: { count: 2, module: new URL('./fixtures/runtime/shard.ts', import.meta.url) },
  config,
  restart,
});
t.teardown(() => sup.stop());

const front = (msg: unknown) => sup.control('front', 0, msg) as Promise<any>;
const idOn = (kind: string, shard: number, prefix: string) => {
  for (let i = 0; ; i++) if (shardOf(kind, `${prefix}${i}`, 2) === shard) return `${prefix}${i}`;
};

t.test('process.exit inside a shard: in-flight asks fail fast, the other shard serves, restart serves', async (t) => {
  // Gate actors on both shards hold their asks in flight; then shard 0 runs process.exit(3).
  const held = [idOn('gate', 0, 'g'), idOn('gate', 1, 'g')];
  const exitId = idOn('exit', 0, 'x');
  const exited = once(sup, 'exit');
  const restarted = once(sup, 'restart');
  const run = front({
    op: 'kill-and-ask',
    targets: held.map((id) => ({ kind: 'gate', id })),
    msg: { seq: 0 },
    exitId,
    timeoutMs: 30_000,
  });
  const [exit] = (await exited) as [{ role: string; index: number; code: number }];
  t.match(exit, { role: 'shard', index: 0, code: 3 });
  await restarted;
  await sup.control('shard', 1, { op: 'release' });
  const { killed, others } = await run;
  t.match(killed, { ok: false, code: 'internal', reason: 'worker_exited', message: /shard 0 exited/ }, 'the ask that killed it fails clearly');
  // The reason proves the exit, not the timeout, ended it; the bound is loose for busy CI machines.
  t.ok(killed.ms < 5000, `...and promptly (${Math.round(killed.ms)} ms, the timeout was 30 s)`);
  t.match(others[0], { ok: false, reason: 'worker_exited' }, 'the ask held on shard 0 fails too');
  t.match(others[1], { ok: true }, 'the ask held on shard 1 completes');
  await sup.whenReady('shard', 0);
  const after = await front({ op: 'ask', kind: 'counter', id: idOn('counter', 0, 'c'), msg: { op: 'inc' } });
  t.match(after, { ok: true, value: 1 }, 'the restarted shard serves');
  t.equal(await front({ op: 'pending' }), 0, 'no ask left pending');
});

t.test('worker.terminate() mid-load: nothing hangs, shard 1 unaffected', async (t) => {
  const targets = [idOn('counter', 0, 'load'), idOn('counter', 1, 'load')].map((id) => ({ kind: 'counter', id }));
  await front({ op: 'start-load', targets, concurrency: 4, msg: { op: 'inc' }, timeoutMs: 30_000 });
  // Kill shard 0 while asks flow to both shards.
  const before = await front({ op: 'wait-progress', n: 500 });
  const restarted = once(sup, 'restart');
  await sup.worker('shard', 0)!.terminate();
  await restarted;
  await sup.whenReady('shard', 0);
  // Keep the load running across the restart, then stop it.
  await front({ op: 'wait-progress', n: before + 2000 });
  const outcomes = (await front({ op: 'stop-load' })) as { ok: boolean; reason?: string; ms: number; target: number }[];
  const s0 = outcomes.filter((o) => o.target === 0);
  const s1 = outcomes.filter((o) => o.target === 1);
  const failed0 = s0.filter((o) => !o.ok);
  t.ok(s1.length > 0 && s1.every((o) => o.ok), `every ask to shard 1 succeeded (${s1.length})`);
  t.ok(failed0.length > 0 && failed0.length <= 4, `the asks in flight to shard 0 failed (${failed0.length})`);
  t.ok(failed0.every((o) => o.reason === 'worker_exited'), '...with worker_exited, not a timeout');
  t.ok(failed0.every((o) => o.ms < 5000), '...promptly');
  t.ok(s0.filter((o) => o.ok).length > failed0.length, 'shard 0 served before and after the restart');
  t.notOk(
    outcomes.some((o) => o.reason === 'ask_timeout'),
    'no ask timed out (those sent while shard 0 restarted waited for it, then completed)',
  );
  t.equal(await front({ op: 'pending' }), 0, 'no ask left pending');
});
