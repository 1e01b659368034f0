/**
 * Per-user token buckets shared by the fronts of a node (src/limits/shared-buckets.ts): the same
 * semantics as a thread's own buckets, one budget across threads (real worker threads racing),
 * bounded memory, and no thread ever blocked by a lock another one holds.
 */
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { SHARED_BUCKETS_BYTES, SharedRateLimiter } from '../src/limits/shared-buckets.js';

const specs = { send_message: { capacity: 3, periodMs: 60_000 }, join_room: { capacity: 2, periodMs: 60_000 } };

t.test('a burst of capacity, then refusals with the wait for one token, then refill', async (t) => {
  let now = 1_000_000;
  const l = new SharedRateLimiter(SharedRateLimiter.allocate(), specs, 0, () => now);
  for (let i = 0; i < 3; i++) t.ok(l.take(7, 'send_message').ok, `take ${i + 1}`);
  const refused = l.take(7, 'send_message');
  t.equal(refused.ok, false);
  t.equal(refused.retryAfterMs, 20_000, 'one token of 3 per minute: 20 s');
  t.ok(l.take(7, 'join_room').ok, 'actions have their own buckets');
  t.ok(l.take(8, 'send_message').ok, 'users have their own buckets');
  now += 20_000;
  t.ok(l.take(7, 'send_message').ok, 'one token back after 20 s');
  t.equal(l.take(7, 'send_message').ok, false);
  t.equal(l.take(7, 'send_message', 2).retryAfterMs, 40_000, 'a cost of 2 waits for two tokens');
  t.throws(() => l.take(7, 'nope' as 'send_message'), /no rate limit/);
  t.equal(l.fallbacks, 0);
});

t.test('two limiters on one buffer (two fronts) share one budget per user', async (t) => {
  const buffer = SharedRateLimiter.allocate();
  const a = new SharedRateLimiter(buffer, specs, 0);
  const b = new SharedRateLimiter(buffer, specs, 1);
  const granted = [a, b, a, b, a, b].map((l) => l.take(42, 'send_message').ok);
  t.same(granted, [true, true, true, false, false, false]);
  t.throws(() => new SharedRateLimiter(new SharedArrayBuffer(64), specs, 0), /bytes/);
  t.equal(buffer.byteLength, SHARED_BUCKETS_BYTES);
});

t.test('worker threads racing on the same users are granted exactly the capacity, once', async (t) => {
  const buffer = SharedRateLimiter.allocate();
  const gate = new SharedArrayBuffer(8);
  const subjects = [1, 2, 3, 2 ** 40 + 5];
  const threads = 3;
  const workers = Array.from(
    { length: threads },
    (_, owner) =>
      new Worker(new URL('./fixtures/limits/taker.ts', import.meta.url), {
        workerData: { buffer, owner, subjects, takes: 4_000, gate },
      }),
  );
  const reports = workers.map(
    (w) =>
      new Promise<{ granted: number[]; fallbacks: number }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }),
  );
  const flag = new Int32Array(gate);
  while (Atomics.load(flag, 1) < threads) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(flag, 0, 1);
  const got = await Promise.all(reports);
  await Promise.all(workers.map((w) => w.terminate()));
  // Three threads on this machine's two cores: a thread can be descheduled holding a lock, and
  // a call that waited out its spin uses its thread's own bucket (up to one more budget per
  // thread, never a blocked thread). Without that, the budget is exact.
  const fallbacks = got.reduce((n, r) => n + r.fallbacks, 0);
  t.ok(fallbacks < 100, `${fallbacks} of ${threads * 4_000} calls fell back to a local bucket`);
  subjects.forEach((s, k) => {
    const total = got.reduce((n, r) => n + r.granted[k]!, 0);
    const detail = `${total} granted across ${threads} threads (${got.map((r) => r.granted[k]).join(' + ')}), ${fallbacks} fallbacks`;
    t.ok(total >= 500 && total <= 500 + fallbacks, `user ${s}: ${detail}`);
    if (fallbacks === 0) t.equal(total, 500, `user ${s}: exactly the capacity`);
  });
});

t.test('a lock held too long: the call uses the thread-local bucket; a restarted owner frees it', async (t) => {
  const buffer = SharedRateLimiter.allocate();
  const locks = new Int32Array(buffer, 0, 4096);
  const a = new SharedRateLimiter(buffer, specs, 0);
  // Owner 1 (a front that died holding it) holds every group's lock.
  locks.fill(2);
  t.ok(a.take(9, 'send_message').ok, 'not blocked: answered from the local bucket');
  t.equal(a.fallbacks, 1);
  const successor = new SharedRateLimiter(buffer, specs, 1);
  t.equal(successor.releaseOwnedBy(1), 4096, 'the restarted front frees its predecessor’s locks');
  t.equal(a.releaseOwnedBy(1), 0, 'and only those');
  for (let i = 0; i < 3; i++) t.ok(a.take(9, 'send_message').ok);
  t.equal(successor.take(9, 'send_message').ok, false, 'shared again: the budget is spent');
  t.equal(a.fallbacks, 1);
});

t.test('memory is bounded: full buckets are reused, and a group of busy buckets falls back', async (t) => {
  let now = 0;
  const l = new SharedRateLimiter(SharedRateLimiter.allocate(), specs, 0, () => now);
  // Far more users than slots (4096 × 8): each spends one token, so their buckets stay busy.
  const users = 40_000;
  let refused = 0;
  for (let u = 1; u <= users; u++) if (!l.take(u, 'send_message').ok) refused++;
  t.equal(refused, 0, 'every user gets its burst, shared or local');
  t.ok(l.fallbacks > 0 && l.fallbacks < users, `${l.fallbacks} takes fell back to local buckets`);
  // A minute later every bucket is full again, so any slot can be reused: new users (a few per
  // group, where every slot held a busy bucket) get shared buckets again.
  now += 60_000;
  const before = l.fallbacks;
  for (let u = users + 1; u <= users + 2_000; u++) l.take(u, 'send_message');
  t.equal(l.fallbacks, before, 'full buckets were reused: no fallback');
});
