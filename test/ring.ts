/**
 * The ring and its two ends: a stress run across two threads (seeded generator in a worker,
 * verifier here, canaries around the storage, thousands of laps), then counts, wrap-around,
 * fragments, the size limit and the doorbell, in one thread.
 */
import t from 'tap';
import './fixtures/runtime/fast-workers.js';
import { Worker } from 'node:worker_threads';
import { Ring } from '../src/runtime/transport/ring.js';
import { RingReader } from '../src/runtime/transport/ring-reader.js';
import { RingWriter } from '../src/runtime/transport/ring-writer.js';
import { isRuntimeError } from '../src/runtime/errors.js';
import { WakeWatch, WATCH_EVERY_MS } from '../src/runtime/transport/wake-watch.js';
import { checkRecord, pattern, shapes, type TrafficSpec } from './fixtures/runtime/ring-traffic.js';

/**
 * Seeded records from a producer worker into a fresh 16 KiB ring, checked here as they arrive.
 * Records past `spec.count` (a test's own probes) are not checked.
 */
function seededTraffic(spec: TrafficSpec, opts: { napMs?: number } = {}) {
  const sab = Ring.allocate(16 * 1024);
  const ring = new Ring(sab);
  const pat = pattern(spec);
  const next = shapes(spec);
  const seen = { records: 0, bytes: 0, failure: null as string | null };
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const reader = new RingReader(
    ring,
    (buf, start, end) => {
      if (seen.records >= spec.count) return; // a test's own probe after the traffic
      if (seen.failure === null) seen.failure = checkRecord(seen.records, next(), pat, buf, start, end);
      seen.bytes += end - start;
      if (++seen.records === spec.count || seen.failure !== null) resolveAll();
    },
    { maxRecordBytes: spec.maxRecordBytes, ...opts },
  );
  reader.start();
  const worker = new Worker(new URL('./fixtures/runtime/ring-producer.ts', import.meta.url), {
    workerData: { sab, spec, overflowLimit: 32 },
  });
  const producer = new Promise<{ maxQueued: number; pauses: number; refused: number; stalls: number }>((resolve, reject) => {
    worker.on('message', resolve);
    worker.on('error', reject);
    // Before its report (after it, resolving again is a no-op): the producer died.
    worker.on('exit', (code) => reject(new Error(`the producer thread exited with ${code} before reporting`)));
  });
  return { ring, reader, seen, all, producer, worker };
}

t.test('stress: seeded records across two threads, no loss, duplicate, reorder or corruption', async (t) => {
  // A 16 KiB ring laps thousands of times; records up to 40 KiB (bigger than the ring) pass as fragments.
  const spec: TrafficSpec = { seed: 0xc0ffee, count: 1_000_000, maxRecordBytes: 40_000 };
  const started = performance.now();
  const { ring, reader, seen, all, producer: report, worker } = seededTraffic(spec);
  // It takes 2-7 s here; should it ever hang again (it did once, before the watchdog), fail with
  // the state of both ends rather than tap's bare timeout.
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      const bells = new Int32Array(ring.buffer, 0, 64);
      const state = {
        seen: { records: seen.records, failure: seen.failure },
        reader: reader.stats,
        availableRead: ring.availableRead(),
        // [seq, sleeping] of each doorbell (see src/runtime/ring.ts for the layout).
        dataBell: [bells[32], bells[33]],
        spaceBell: [bells[48], bells[49]],
      };
      resolve(`not done after 60 s; ${JSON.stringify(state)}`);
    }, 60_000);
  });
  // A producer that dies says so at once, rather than leaving the reader waiting for its records.
  const died = report.then(
    () => new Promise<never>(() => {}),
    (e: unknown) => `the producer failed: ${e instanceof Error ? e.message : String(e)}`,
  );
  const stuck = await Promise.race([all.then(() => null), hung, died]);
  clearTimeout(timer);
  if (stuck !== null) {
    await worker.terminate();
    t.fail(`no progress: ${stuck}`);
    return;
  }
  reader.close();
  const producer = await report;
  await worker.terminate();
  const seconds = (performance.now() - started) / 1000;
  t.equal(seen.failure, null, 'every record is the expected one');
  t.equal(seen.records, spec.count, 'all records arrived');
  t.ok(ring.guardsIntact(), 'canaries around the storage are intact');
  t.equal(ring.availableRead(), 0, 'nothing left over');
  t.ok(seen.bytes / ring.capacity > 1000, `the ring lapped ${Math.round(seen.bytes / ring.capacity)} times`);
  t.ok(producer.maxQueued <= 32, 'the overflow queue never passed its limit');
  t.ok(producer.pauses > 0, 'the producer was paused by backpressure');
  t.equal(producer.refused, 0);
  t.comment(`${spec.count} records, ${(seen.bytes / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s`);
  // A rescued sleep is not an error (the watchdog exists for them) but is worth seeing.
  t.comment(`wake-ups ${reader.stats.wakeups}; lost and rescued: reader ${reader.stats.stalls}, writer ${producer.stalls}`);
});

t.test('counts, full ring, wrap-around (one thread)', async (t) => {
  const ring = new Ring(Ring.allocate(1024));
  const cap = ring.capacity;
  t.equal(cap % 4, 0);
  t.equal(ring.availableRead(), 0);
  t.equal(ring.availableWrite(), cap);
  const rec = Buffer.alloc(100, 7);
  let n = 0;
  while (ring.push(rec, 0, rec.length, false)) n++;
  t.equal(n, Math.floor(cap / Ring.footprint(100)), 'as many records as fit');
  t.equal(ring.availableRead(), n * Ring.footprint(100));
  t.notOk(ring.push(rec, 0, rec.length, false), 'a full ring refuses, writing nothing');
  // Drain two, then write records of every alignment so headers and payloads wrap at every offset.
  let got = 0;
  ring.read(() => ++got < 2);
  t.equal(got, 2, 'a visitor can stop early; the rest stays');
  const seen: number[] = [];
  for (let lap = 0; lap < 300; lap++) {
    const len = (lap * 7) % 61;
    const payload = Buffer.alloc(len, lap & 0xff);
    while (!ring.push(payload, 0, len, false)) {
      ring.read((bytes, start, end) => {
        if (end - start !== 100) seen.push(end - start === 0 ? -1 : bytes[start]!);
        return true;
      });
    }
  }
  ring.read((bytes, start, end) => {
    seen.push(end - start === 0 ? -1 : bytes[start]!);
    return true;
  });
  const expected = Array.from({ length: 300 }, (_, lap) => ((lap * 7) % 61 === 0 ? -1 : lap & 0xff));
  t.same(seen, expected, 'every record, in order, across many wraps');
  t.ok(ring.guardsIntact());
});

t.test('an oversized envelope is refused with a clear error, never truncated', async (t) => {
  const writer = new RingWriter(new Ring(Ring.allocate(4096)), { maxRecordBytes: 1000, overflowLimit: 4 });
  const err = (() => {
    try {
      writer.write(Buffer.alloc(1001));
    } catch (e) {
      return e;
    }
    return null;
  })();
  t.ok(isRuntimeError(err, 'envelope_too_large'));
  t.match(err, { code: 'payload_too_large', message: /1001 bytes exceeds the ring maximum of 1000 bytes/ });
  t.equal(writer.queued, 0, 'nothing was queued');
  t.ok(writer.write(Buffer.alloc(1000)), 'the maximum itself passes');
});

t.test('a record larger than the ring passes in fragments (one thread)', async (t) => {
  const ring = new Ring(Ring.allocate(2048));
  const big = Buffer.alloc(ring.capacity * 3 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const writer = new RingWriter(ring, { maxRecordBytes: big.length, overflowLimit: 4 });
  const got = new Promise<Buffer>((resolve) => {
    const reader = new RingReader(
      ring,
      (bytes, start, end) => {
        reader.close();
        resolve(Buffer.from(bytes.subarray(start, end)));
      },
      { maxRecordBytes: big.length },
    );
    reader.start();
  });
  t.ok(writer.write(big));
  t.ok(writer.queued <= 1, 'the rest waits in the queue while the reader frees space');
  t.ok((await got).equals(big), 'reassembled byte for byte');
});

t.test('doorbell: no notify while the consumer is awake, one per sleep', async (t) => {
  const ring = new Ring(Ring.allocate(4096));
  t.notOk(ring.dataBell.ring(), 'nobody sleeps: no notify');
  const woke = ring.dataBell.sleep(() => ring.availableRead() > 0);
  t.ok(woke, 'nothing to read: the consumer sleeps');
  ring.push(Buffer.from('x'), 0, 1, false);
  t.ok(ring.dataBell.ring(), 'first publish after the sleep notifies');
  t.notOk(ring.dataBell.ring(), 'later publishes do not');
  await woke;
  t.equal(ring.dataBell.sleep(() => ring.availableRead() > 0), null, 'data waiting: no sleep at all');
});

t.test('doorbell: a nap needs no notify and ends by itself', async (t) => {
  const ring = new Ring(Ring.allocate(4096));
  const started = performance.now();
  const nap = ring.dataBell.sleep(() => ring.availableRead() > 0, 5);
  t.ok(nap, 'nothing to read: the consumer naps');
  ring.push(Buffer.from('x'), 0, 1, false);
  t.notOk(ring.dataBell.ring(), 'a publish during a nap does not notify');
  await nap;
  t.ok(performance.now() - started >= 4, 'the nap lasted its length');
  t.ok(ring.availableRead() > 0, 'the record waits for the napper');
  ring.read(() => true);
  const sleep = ring.dataBell.sleep(() => ring.availableRead() > 0);
  t.ok(sleep, 'after the nap the consumer can sleep until rung');
  ring.push(Buffer.from('y'), 0, 1, false);
  t.ok(ring.dataBell.ring(), 'and a publish notifies that sleep');
  await sleep;
});

t.test('a napping reader: every record, in order; back to sleeping until rung when traffic stops', async (t) => {
  const spec: TrafficSpec = { seed: 0xbeef, count: 200_000, maxRecordBytes: 40_000 };
  const { ring, reader, seen, all, producer, worker } = seededTraffic(spec, { napMs: 1 });
  await all;
  t.equal((await producer).refused, 0);
  await worker.terminate();
  t.equal(seen.failure, null, 'every record is the expected one');
  t.equal(seen.records, spec.count, 'all records arrived');
  // Traffic stopped: after its naps run out (16 × 1 ms) the reader sleeps until rung again.
  await new Promise((r) => setTimeout(r, 60));
  const before = reader.stats.records;
  ring.push(Buffer.from('z'), 0, 1, false);
  t.ok(ring.dataBell.ring(), 'an idle reader is notified again');
  await new Promise((r) => setTimeout(r, 20));
  t.equal(reader.stats.records, before + 1, 'and reads the record');
  reader.close();
});

t.test('watchdog: a sleeping reader with records waiting and no ring is woken, and it is counted', async (t) => {
  const ring = new Ring(Ring.allocate(4096));
  const got: string[] = [];
  let stalls = 0;
  const reader = new RingReader(ring, (bytes, start, end) => got.push(Buffer.from(bytes.subarray(start, end)).toString()), {
    maxRecordBytes: 100,
    spinMicros: 0,
    onStall: () => stalls++,
  });
  t.teardown(() => reader.close());
  reader.start();
  await new Promise((r) => setTimeout(r, 20));
  // A wake-up lost: the record is published, the bell is not rung.
  ring.push(Buffer.from('lost'), 0, 4, false);
  const since = performance.now();
  while (got.length === 0 && performance.now() - since < 5000) await new Promise((r) => setTimeout(r, 10));
  const waited = performance.now() - since;
  t.same(got, ['lost'], 'the record is read');
  t.ok(waited < 3 * WATCH_EVERY_MS + 100, `within three looks (${waited.toFixed(0)} ms)`);
  t.equal(reader.stats.stalls, 1, 'counted');
  t.equal(stalls, 1, 'reported');
  // Rung as usual, over several looks: nothing more is counted, and one loop reads (the stalled
  // one, woken by the next ring too, sees it was replaced and ends).
  const wakeups = reader.stats.wakeups;
  for (let i = 0; i < 6; i++) {
    ring.push(Buffer.from(`r${i}`), 0, 2, false);
    ring.dataBell.ring();
    await new Promise((r) => setTimeout(r, WATCH_EVERY_MS / 2));
  }
  t.equal(got.length, 7);
  t.equal(reader.stats.wakeups - wakeups, 6, 'one wake-up per ring: one read loop');
  t.equal(reader.stats.stalls, 1, 'a rung sleep is never taken for a stalled one');
});

t.test('watchdog: a writer waiting for space that was freed without a ring resumes, and it is counted', async (t) => {
  const ring = new Ring(Ring.allocate(1024));
  let stalls = 0;
  let drained = 0;
  const writer = new RingWriter(ring, { maxRecordBytes: 200, overflowLimit: 2, onStall: () => stalls++, onDrain: () => drained++ });
  t.teardown(() => writer.close());
  const rec = Buffer.alloc(200, 1);
  while (writer.writable) writer.write(rec);
  t.ok(writer.queued >= 2, 'the ring is full and the queue waits');
  // A consumer frees space but its ring of the space bell is lost.
  let read = 0;
  ring.read(() => (++read, true));
  const since = performance.now();
  while (drained === 0 && performance.now() - since < 5000) await new Promise((r) => setTimeout(r, 10));
  t.equal(drained, 1, `the queue drained into the freed space (${(performance.now() - since).toFixed(0)} ms)`);
  t.equal(writer.stalls, 1, 'counted');
  t.equal(stalls, 1, 'reported');
  t.equal(writer.queued, 0);
});

t.test('watchdog: a wake-up still on its way at the first look is not a stall', async (t) => {
  let ready = false;
  let rescued = 0;
  const watch = new WakeWatch(() => ready, () => rescued++);
  t.teardown(() => watch.stop());
  watch.asleep();
  ready = true;
  // One look sees the work ready; the wake-up lands before the next.
  await new Promise((r) => setTimeout(r, WATCH_EVERY_MS * 1.5));
  watch.awake();
  await new Promise((r) => setTimeout(r, WATCH_EVERY_MS * 2));
  t.equal(rescued, 0);
  t.equal(watch.stalls, 0);
  // Never woken: the second look rescues the sleep.
  const since = performance.now();
  watch.asleep();
  while (rescued === 0 && performance.now() - since < 5000) await new Promise((r) => setTimeout(r, 10));
  t.equal(rescued, 1);
  t.equal(watch.stalls, 1);
  t.ok(performance.now() - since <= 2 * WATCH_EVERY_MS + 100, 'within two looks');
  // Asleep with no work: never a stall, however long.
  ready = false;
  watch.asleep();
  await new Promise((r) => setTimeout(r, WATCH_EVERY_MS * 3));
  t.equal(watch.stalls, 1, 'an idle sleep is left alone');
});
