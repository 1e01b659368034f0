/**
 * Supervisor wiring: what each thread is handed (index, counts, data, per-thread ports), control
 * requests and their errors, the stop order (fronts before shards), and a start that fails.
 */
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import './fixtures/runtime/fast-workers.js';
import './fixtures/runtime/wiring.js';
import { loadConfig } from '../src/config/index.js';
import { Supervisor } from '../src/runtime/threads/supervisor.js';

const config = loadConfig({ env: {}, flags: { log: { level: 'silent' } } });
const module = new URL('./fixtures/runtime/wiring.ts', import.meta.url);

t.test('front and shard threads get the configured young generation (runtime.workerYoungGenerationMb)', async (t) => {
  for (const [youngMb, limitMb] of [
    [12, 12],
    [0, 48], // V8's own default
  ] as const) {
    const cfg = loadConfig({ env: {}, flags: { log: { level: 'silent' }, runtime: { workerYoungGenerationMb: youngMb } } });
    const sup = await Supervisor.start({
      fronts: { count: 1, module, data: { tag: 'F' } },
      shards: { count: 1, module, data: { tag: 'S' } },
      config: cfg,
    });
    try {
      for (const role of ['front', 'shard'] as const) {
        const r = (await sup.control(role, 0, 'young-generation')) as { limitMb: number; newSpaceMb: number };
        t.equal(r.limitMb, limitMb, `${role} with ${youngMb}: limit ${limitMb} MiB`);
        // The new space is two of the young generation's three parts (two semi-spaces, one for large objects).
        t.ok(r.newSpaceMb <= (limitMb * 2) / 3, `${role} with ${youngMb}: new space ${r.newSpaceMb} MiB within it`);
        if (youngMb > 0) t.ok(r.newSpaceMb > 0, 'and in use');
      }
    } finally {
      await sup.stop();
    }
  }
});

t.test('threads get their index, counts, data and ports; stop goes fronts first, then shards', async (t) => {
  const stopLog: string[] = [];
  const channels: MessageChannel[] = [];
  let allStopped!: () => void;
  const stoppedAll = new Promise<void>((resolve) => (allStopped = resolve));
  const logPort = () => {
    const ch = new MessageChannel();
    channels.push(ch);
    ch.port1.on('message', (m: string) => {
      if (stopLog.push(m) === 3) allStopped();
    });
    return { log: ch.port2 };
  };
  const sup = await Supervisor.start({
    fronts: { count: 1, module, data: { tag: 'F' }, ports: logPort },
    shards: { count: 2, module, data: { tag: 'S' }, ports: logPort },
    config,
  });
  t.same(await sup.control('shard', 1, 'whoami'), { role: 'shard', index: 1, fronts: 1, shards: 2, tag: 'S', ports: ['log'] });
  t.same(await sup.control('front', 0, 'whoami'), { role: 'front', index: 0, fronts: 1, shards: 2, tag: 'F', ports: ['log'] });
  t.match(await sup.control('front', 0, 'nope').catch((e: unknown) => e), { code: 'validation_failed' }, 'a control error keeps its code');
  t.throws(() => sup.worker('shard', 2), /no shard 2/);
  await sup.stop();
  await stoppedAll; // the stop notes travel on their own ports
  t.equal(stopLog[0], 'front 0 stopped', 'the front stopped first');
  t.same(stopLog.slice(1).sort(), ['shard 0 stopped', 'shard 1 stopped'], 'then the shards');
  t.equal(sup.worker('front', 0), null, 'no thread left');
  for (const ch of channels) ch.port1.close();
});

t.test('a setup that fails makes start reject with its error, and leaves no thread', async (t) => {
  const err = await Supervisor.start({
    fronts: { count: 1, module, data: { tag: 'F' } },
    shards: { count: 1, module, data: { tag: 'S', failSetup: true } },
    config,
  }).catch((e: unknown) => e);
  t.match(err, { code: 'conflict', message: 'shard 0 cannot open its store' });
});
