/**
 * Reading a Prometheus text exposition in tests, with parse-prometheus-text-format (a parser of
 * the format, not ours). Its histogram output keeps one set of buckets per family and drops the
 * labels (every `operation` would be merged into one), so histograms are read twice: once as
 * typed (which checks the syntax and gives each family's type) and once with their `# TYPE` lines
 * taken out, where the parser gives every `_bucket`, `_sum` and `_count` sample with its labels.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Family name → type (COUNTER, GAUGE, HISTOGRAM). */
  types: Map<string, string>;
  samples: Sample[];
  /** Sum of the samples named `name` whose labels include `where`. */
  sum(name: string, where?: Record<string, string>): number;
  /** The samples named `name` whose labels include `where`. */
  find(name: string, where?: Record<string, string>): Sample[];
}

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

export function parseExposition(text: string): Exposition {
  const typed = parsePrometheusTextFormat(text) as Family[];
  const types = new Map(typed.map((f) => [f.name, f.type]));
  const untyped = text
    .split('\n')
    .filter((l) => !/^# TYPE \S+ (histogram|summary)$/.test(l))
    .join('\n');
  const samples: Sample[] = [];
  for (const f of parsePrometheusTextFormat(untyped) as Family[]) {
    for (const m of f.metrics) samples.push({ name: f.name, labels: m.labels ?? {}, value: Number(m.value) });
  }
  const matches = (s: Sample, name: string, where: Record<string, string>) =>
    s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v);
  const find = (name: string, where: Record<string, string> = {}) => samples.filter((s) => matches(s, name, where));
  return { types, samples, find, sum: (name, where = {}) => find(name, where).reduce((a, s) => a + s.value, 0) };
}
