/**
 * Thread names: a worker thread names itself through /proc/thread-self/comm, and the bench's
 * per-thread reader (src/bench/proc.ts) finds it under that name with its CPU.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { readThreads, threadCpuByName } from '../bench/proc.js';

const linux = process.platform === 'linux';
const names = () => readdirSync('/proc/self/task').map((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim());

t.test('a worker thread names itself, and only itself', { skip: !linux && 'thread names are read from Linux /proc' }, async (t) => {
  const before = readThreads(process.pid);
  t.ok(before, 'this process has threads in /proc');
  const mainName = readFileSync('/proc/self/comm', 'utf8').trim();
  const worker = new Worker(new URL('./fixtures/runtime/named-thread.ts', import.meta.url), { workerData: { name: 'veza-test-1', spinMs: 200 } });
  const exited = new Promise((r) => worker.once('exit', r));
  const reply = await new Promise<{ named: boolean }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  t.equal(reply.named, true);
  t.ok(names().includes('veza-test-1'), `a thread named veza-test-1 among ${names().join(', ')}`);
  t.equal(readFileSync('/proc/self/comm', 'utf8').trim(), mainName, 'the main thread kept its name');

  // The bench's reader: the new thread counts from zero, with the CPU it burnt.
  const after = readThreads(process.pid)!;
  const used = threadCpuByName(before!, after).get('veza-test-1') ?? 0;
  t.ok(used >= 0.1, `veza-test-1 used ${used} s of CPU (spun 0.2 s)`);

  worker.postMessage('exit');
  await exited;
  t.notOk(names().includes('veza-test-1'), 'gone with its thread');
});

t.test('names are cut to the kernel 15 bytes', { skip: !linux && 'thread names are read from Linux /proc' }, async (t) => {
  const worker = new Worker(new URL('./fixtures/runtime/named-thread.ts', import.meta.url), {
    workerData: { name: 'veza-front-123456789', spinMs: 0 },
  });
  const exited = new Promise((r) => worker.once('exit', r));
  t.same(await new Promise((r) => worker.once('message', r)), { named: true });
  t.ok(names().includes('veza-front-1234'), 'the first 15 bytes');
  worker.postMessage('exit');
  await exited;
});
