/**
 * Counters, gauges and histograms for the hot path (a frame, a message, a connection). prom-client's
 * own `inc`/`observe` build a label hash string and an object on every call, even through a child
 * from `labels()`: too much per message. These keep plain numbers in a child made once per label
 * value (the label values are a fixed list given at definition, never user input), and hand
 * prom-client the same JSON its own metrics produce when the registry is read (`get()`), so the
 * text format and `AggregatorRegistry.aggregate` (counters summed, histogram buckets summed) treat
 * them like any other metric.
 */
import type { MetricValue, Registry } from 'prom-client';

/** What prom-client's own metrics return from `get()`. */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  values: (MetricValue<string> & { metricName?: string })[];
  aggregator: string;
}

type Aggregator = 'sum' | 'max' | 'min' | 'average' | 'first' | 'omit';

interface HotBase {
  name: string;
  help: string;
  /** One label (or none); its values are fixed here, so scrape cost is bounded. */
  label?: { name: string; values: readonly string[] };
  registers: Registry[];
  aggregator?: Aggregator;
}

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class GaugeChild extends CounterChild {
  dec(n = 1): void {
    this.value -= n;
  }
  set(n: number): void {
    this.value = n;
  }
}

abstract class HotMetric<C> {
  readonly name: string;
  readonly help: string;
  readonly aggregator: Aggregator;
  readonly #label: HotBase['label'];
  readonly #children = new Map<string, C>();

  constructor(opts: HotBase, make: () => C) {
    this.name = opts.name;
    this.help = opts.help;
    this.aggregator = opts.aggregator ?? 'sum';
    this.#label = opts.label;
    for (const v of opts.label?.values ?? ['']) this.#children.set(v, make());
    for (const r of opts.registers) r.registerMetric(this as never);
  }

  /** The child of a label value: keep it, and count on it. Throws on a value not declared. */
  child(value = ''): C {
    const c = this.#children.get(value);
    if (c === undefined) throw new Error(`${this.name}: label value "${value}" was not declared`);
    return c;
  }

  protected labelsOf(value: string): Record<string, string> {
    return this.#label ? { [this.#label.name]: value } : {};
  }

  protected get children(): Map<string, C> {
    return this.#children;
  }

  /** prom-client reads every registered metric through this (Registry.getMetricsAsJSON / metrics). */
  abstract get(): MetricJson;

  reset(): void {}
}

export class HotCounter extends HotMetric<CounterChild> {
  constructor(opts: HotBase) {
    super(opts, () => new CounterChild());
  }

  get(): MetricJson {
    const values: MetricValue<string>[] = [];
    for (const [v, c] of this.children) values.push({ value: c.value, labels: this.labelsOf(v) });
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: this.aggregator };
  }
}

export class HotGauge extends HotMetric<GaugeChild> {
  constructor(opts: HotBase) {
    super(opts, () => new GaugeChild());
  }

  get(): MetricJson {
    const values: MetricValue<string>[] = [];
    for (const [v, c] of this.children) values.push({ value: c.value, labels: this.labelsOf(v) });
    return { name: this.name, help: this.help, type: 'gauge', values, aggregator: this.aggregator };
  }
}

export class HistogramChild {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  readonly #bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class HotHistogram extends HotMetric<HistogramChild> {
  readonly buckets: readonly number[];

  constructor(opts: HotBase & { buckets: readonly number[] }) {
    const buckets = [...opts.buckets].sort((a, b) => a - b);
    super(opts, () => new HistogramChild(buckets));
    this.buckets = buckets;
  }

  get(): MetricJson {
    const values: (MetricValue<string> & { metricName: string })[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [v, c] of this.children) {
      const labels = this.labelsOf(v);
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += c.counts[i]!;
        values.push({ value: acc, labels: { ...labels, le: this.buckets[i]! }, metricName: bucket });
      }
      values.push({ value: c.count, labels: { ...labels, le: '+Inf' }, metricName: bucket });
      values.push({ value: c.sum, labels, metricName: `${this.name}_sum` });
      values.push({ value: c.count, labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: this.aggregator };
  }
}
