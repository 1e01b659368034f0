/**
 * The ring and its two ends: a stress run across two threads (seeded generator in a worker,
 * verifier here, canaries around the storage, thousands of laps), then counts, wrap-around,
 * fragments, the size limit and the doorbell, in one thread.
 */
import t from 'tap';
import './fixtures/runtime/fast-workers.js';
import { Worker } from 'node:worker_threads';
import { Ring } from '../src/runtime/ring.js';
import { RingReader } from '../src/runtime/ring-reader.js';
import { RingWriter } from '../src/runtime/ring-writer.js';
import { isRuntimeError } from '../src/runtime/errors.js';
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
  const producer = new Promise<{ maxQueued: number; pauses: number; refused: number }>((resolve, reject) => {
    worker.on('message', resolve);
    worker.on('error', reject);
  });
  return { ring, reader, seen, all, producer, worker };
}

t.test('stress: seeded records across two threads, no loss, duplicate, reorder or corruption', async (t) => {
  // A 16 KiB ring laps thousands of times; records up to 40 KiB (bigger than the ring) pass as fragments.
  const spec: TrafficSpec = { seed: 0xc0ffee, count: 1_000_000, maxRecordBytes: 40_000 };
  const started = performance.now();
  const { ring, reader, seen, all, producer: report, worker } = seededTraffic(spec);
  await all;
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
