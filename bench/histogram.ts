/**
 * An HDR-style log-linear histogram of non-negative integers (the bench records microseconds).
 *
 * Layout: with S = 2^SUB_BITS sub-buckets (S = 128 here), values below 2S are counted exactly
 * (one bucket per integer); each later power-of-two range [2^m, 2^(m+1)) is split into S equal
 * buckets of width 2^(m-SUB_BITS). A percentile is reported as the midpoint of the bucket holding
 * the nearest-rank sample, clamped to the exact [min, max], so:
 *
 *   |reported - exact| <= exact / (2S)   (RELATIVE_ERROR = 1/256 ≈ 0.39 %), and exact below 2S.
 *
 * (A bucket [lo, lo+w) holding integers starts at lo >= S*w, so its midpoint is within (w-1)/2 of
 * any member, and (w-1)/2 < lo/(2S) <= value/(2S).)
 *
 * Values up to 2^32-1 are bucketed (71 minutes in microseconds); larger values go to the last
 * bucket, while `max` stays exact. `record` is O(1) and allocates nothing. Counts live in a
 * Float64Array (exact to 2^53), so histograms merge by adding arrays — workers post theirs.
 */

const SUB_BITS = 7;
const S = 1 << SUB_BITS; // 128
const MAX_TRACKED = 0xffffffff;
/** Number of buckets: 2S exact ones, then S per power of two from 2^(SUB_BITS+1) to 2^31. */
export const BUCKETS = (33 - SUB_BITS) * S; // bucketIndex(2^32-1) + 1 = 26*128 = 3328

/** Documented bound on |reported - exact| / exact for percentiles (exact below 2S). */
export const RELATIVE_ERROR = 1 / (2 * S);

/** O(1): the bucket of integer `v` (0 <= v <= 2^32-1). */
export function bucketIndex(v: number): number {
  if (v < S) return v;
  const m = 31 - Math.clz32(v); // floor(log2 v), >= SUB_BITS
  const shift = m - SUB_BITS;
  return (shift << SUB_BITS) + (v >>> shift);
}

/** The smallest integer of bucket `i` and the bucket's width. */
export function bucketLow(i: number): number {
  if (i < 2 * S) return i;
  const shift = (i >>> SUB_BITS) - 1;
  return (i - shift * S) * 2 ** shift;
}

export function bucketWidth(i: number): number {
  return i < 2 * S ? 1 : 2 ** ((i >>> SUB_BITS) - 1);
}

/** Compact, JSON-safe form: sparse [index, count, index, count, ...]. */
export interface HistogramJSON {
  v: 1;
  sub_bucket_bits: number;
  count: number;
  min: number;
  max: number;
  sum: number;
  buckets: number[];
}

/** What a worker posts: a dense copy of the counts (structured-clonable), plus the scalars. */
export interface HistogramSnapshot {
  counts: Float64Array;
  count: number;
  min: number;
  max: number;
  sum: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  min = Infinity;
  max = 0;
  sum = 0;

  /** Record one value; fractions are truncated, negatives count as 0. No allocation. */
  record(value: number): void {
    let v = value > 0 ? Math.floor(value) : 0;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.sum += v;
    this.count++;
    if (v > MAX_TRACKED) v = MAX_TRACKED;
    const i = bucketIndex(v);
    this.counts[i] = (this.counts[i] as number) + 1;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.min = Infinity;
    this.max = 0;
    this.sum = 0;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * Nearest-rank percentile (the value of the ceil(p/100 * n)-th smallest sample), within
   * RELATIVE_ERROR of the exact one. 0 when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    const c = this.counts;
    for (let i = 0; i < BUCKETS; i++) {
      seen += c[i] as number;
      if (seen >= rank) {
        const mid = bucketLow(i) + (bucketWidth(i) - 1) / 2;
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  percentiles(): Percentiles {
    return {
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.count === 0 ? 0 : this.max,
    };
  }

  /** Add another histogram (or a posted snapshot / parsed JSON) into this one. */
  merge(other: Histogram | HistogramSnapshot | HistogramJSON): this {
    if (other.count === 0) return this;
    if ('buckets' in other) {
      if (other.sub_bucket_bits !== SUB_BITS) throw new Error(`histogram precision mismatch: ${other.sub_bucket_bits} bits`);
      const b = other.buckets;
      for (let k = 0; k + 1 < b.length; k += 2) {
        const i = b[k] as number;
        if (i < 0 || i >= BUCKETS) throw new Error(`histogram bucket ${i} out of range`);
        this.counts[i] = (this.counts[i] as number) + (b[k + 1] as number);
      }
    } else {
      const c = other.counts;
      if (c.length !== BUCKETS) throw new Error(`histogram length mismatch: ${c.length}`);
      for (let i = 0; i < BUCKETS; i++) {
        const n = c[i] as number;
        if (n !== 0) this.counts[i] = (this.counts[i] as number) + n;
      }
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    return this;
  }

  /** A dense copy, to post to another thread. */
  snapshot(): HistogramSnapshot {
    return { counts: this.counts.slice(), count: this.count, min: this.min, max: this.max, sum: this.sum };
  }

  toJSON(): HistogramJSON {
    const buckets: number[] = [];
    const c = this.counts;
    for (let i = 0; i < BUCKETS; i++) {
      const n = c[i] as number;
      if (n !== 0) buckets.push(i, n);
    }
    return {
      v: 1,
      sub_bucket_bits: SUB_BITS,
      count: this.count,
      min: this.count === 0 ? 0 : this.min,
      max: this.max,
      sum: this.sum,
      buckets,
    };
  }

  static fromJSON(j: HistogramJSON): Histogram {
    const h = new Histogram();
    h.merge(j);
    if (j.count === 0) h.min = Infinity;
    return h;
  }

  static fromSnapshot(s: HistogramSnapshot): Histogram {
    return new Histogram().merge(s);
  }
}
