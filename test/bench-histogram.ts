import t from 'tap';
import { BUCKETS, bucketIndex, bucketLow, bucketWidth, Histogram, RELATIVE_ERROR } from '../bench/histogram.js';

/** mulberry32: a seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Nearest-rank percentile of sorted integers: the ceil(p/100 n)-th smallest. */
const exact = (sorted: number[], p: number) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] as number;

/** Percentiles of a histogram over `values` against the exact ones: the misses, as messages. */
function misses(values: number[]): string[] {
  const h = new Histogram();
  for (const v of values) h.record(v);
  const sorted = [...values].sort((a, b) => a - b);
  const out: string[] = [];
  for (const p of [1, 10, 50, 90, 99, 99.9, 99.99]) {
    const e = exact(sorted, p);
    const got = h.percentile(p);
    if (Math.abs(got - e) > e * RELATIVE_ERROR) out.push(`p${p}: ${got} vs exact ${e}`);
  }
  if (h.percentile(100) !== sorted[sorted.length - 1] || h.max !== sorted[sorted.length - 1]) out.push('max');
  if (h.min !== sorted[0]) out.push('min');
  if (Math.abs(h.mean - values.reduce((s, v) => s + v, 0) / values.length) > 1e-6) out.push('mean');
  return out;
}

t.test('bucket layout: contiguous, O(1) index agrees with bounds', async (t) => {
  let expectLow = 0;
  const bad: string[] = [];
  for (let i = 0; i < BUCKETS; i++) {
    if (bucketLow(i) !== expectLow) bad.push(`bucket ${i} does not start where ${i - 1} ended`);
    if (bucketIndex(bucketLow(i)) !== i || bucketIndex(bucketLow(i) + bucketWidth(i) - 1) !== i) bad.push(`bucket ${i} bounds`);
    // The bound behind RELATIVE_ERROR: half a width is at most lo / (2S).
    if ((bucketWidth(i) - 1) / 2 > bucketLow(i) * RELATIVE_ERROR) bad.push(`bucket ${i} too wide`);
    expectLow += bucketWidth(i);
  }
  t.same(bad, []);
  t.equal(expectLow, 2 ** 32, 'covers 0 .. 2^32-1');
  t.equal(bucketIndex(2 ** 32 - 1), BUCKETS - 1);
});

t.test('uniform integers, 0..1e6', async (t) => {
  const r = prng(1);
  t.same(misses(Array.from({ length: 200_000 }, () => Math.floor(r() * 1e6))), [], `within ${RELATIVE_ERROR}`);
});

t.test('exponential, mean 2000 (a latency-like tail)', async (t) => {
  const r = prng(42);
  t.same(misses(Array.from({ length: 200_000 }, () => Math.round(-Math.log(1 - r()) * 2000))), [], `within ${RELATIVE_ERROR}`);
});

t.test('small values are exact; big ones are clamped to the last bucket but max stays exact', async (t) => {
  const h = new Histogram();
  for (let v = 0; v < 256; v++) h.record(v);
  t.equal(h.percentile(50), 127);
  t.equal(h.percentile(100), 255);
  h.record(-5);
  h.record(1e12);
  t.equal(h.min, 0);
  t.equal(h.max, 1e12);
  t.equal(h.count, 258);
  t.equal(new Histogram().percentile(99), 0, 'empty histogram');
  t.same(new Histogram().percentiles(), { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
});

t.test('merge: per-thread histograms add up to one over everything; JSON and snapshots round-trip', async (t) => {
  const r = prng(7);
  const all = new Histogram();
  const parts = [new Histogram(), new Histogram(), new Histogram()];
  for (let i = 0; i < 30_000; i++) {
    const v = Math.round(-Math.log(1 - r()) * 5000);
    all.record(v);
    (parts[i % 3] as Histogram).record(v);
  }
  const merged = new Histogram();
  merged.merge(parts[0] as Histogram).merge((parts[1] as Histogram).snapshot()).merge(JSON.parse(JSON.stringify(parts[2])));
  t.same(merged.percentiles(), all.percentiles());
  t.equal(merged.count, all.count);
  t.equal(merged.min, all.min);
  t.equal(merged.sum, all.sum);
  const back = Histogram.fromJSON(JSON.parse(JSON.stringify(all.toJSON())));
  t.same(back.percentiles(), all.percentiles());
  t.same([...back.counts], [...all.counts]);
  t.ok(JSON.stringify(all.toJSON()).length < 20_000, 'sparse JSON stays small');
  t.throws(() => merged.merge({ ...all.toJSON(), sub_bucket_bits: 5 }), /precision/);
  t.equal(Histogram.fromJSON(new Histogram().toJSON()).min, Infinity, 'an empty one stays empty');
});

t.test('record allocates nothing: no garbage collection while recording millions', async (t) => {
  // heapUsed is too noisy to prove this (scavenges reclaim short-lived garbage anyway). Instead:
  // the loop is synchronous, so any GC that starts inside it was caused by it; 5 M records that
  // allocated even one heap number each (16+ bytes) would force several scavenges.
  const { PerformanceObserver, performance } = await import('node:perf_hooks');
  const h = new Histogram();
  for (let i = 0; i < 10_000; i++) h.record(i); // let the JIT settle first
  const gcs: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  const t0 = performance.now();
  for (let i = 0; i < 5_000_000; i++) h.record((i * 7919) % 5_000_000);
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
  obs.disconnect();
  const during = gcs.filter((s) => s >= t0 && s <= t1).length;
  // One may start because the young generation was nearly full when the loop began.
  t.ok(during <= 1, `${during} GCs during the loop`);
  t.equal(h.count, 5_010_000);
});

t.test('the error bound is tight enough to notice a wrong estimator', async (t) => {
  // Lognormal-ish spread over several decades, where bucket widths vary most.
  const r = prng(99);
  const values = Array.from({ length: 100_000 }, () => Math.round(Math.exp(r() * 14)));
  t.same(misses(values), []);
});
