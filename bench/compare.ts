/**
 * Compare two bench results figure by figure: `b` (candidate) against `a` (reference).
 *
 * Each figure knows which way is better. A gated figure is a regression when it moved the wrong
 * way by more than `maxRegression` (relative, 0.1 = 10 %) AND by more than its absolute
 * tolerance, so sub-millisecond jitter on a 0.3 ms p50 or a few MiB of RSS do not fail a build.
 * Delivery is compared as loss (1 - ratio, lower is better): 0.9999 → 0.999 is ten times the
 * loss, which a ratio-of-ratios would call a 0.09 % change. Tail figures (p99.9, max) and client
 * figures are shown but not gated: they say more about the run than about the server.
 */
import type { BenchResult } from './result.js';

export type Direction = 'higher' | 'lower';

export interface FigureSpec {
  key: string;
  better: Direction;
  gate: boolean;
  /** A move smaller than this (in the figure's unit) is never a regression. */
  absTolerance: number;
  get(r: BenchResult): number | null;
}

export const FIGURES: readonly FigureSpec[] = [
  { key: 'throughput_per_s', better: 'higher', gate: true, absTolerance: 0, get: (r) => r.figures.throughput_per_s },
  {
    key: 'delivery_loss',
    better: 'lower',
    gate: true,
    absTolerance: 0.0005,
    get: (r) => (r.figures.delivery_ratio === null ? null : 1 - r.figures.delivery_ratio),
  },
  { key: 'latency_ms.p50', better: 'lower', gate: true, absTolerance: 0.5, get: (r) => r.figures.latency_ms.p50 },
  { key: 'latency_ms.p90', better: 'lower', gate: true, absTolerance: 0.5, get: (r) => r.figures.latency_ms.p90 },
  { key: 'latency_ms.p99', better: 'lower', gate: true, absTolerance: 1, get: (r) => r.figures.latency_ms.p99 },
  { key: 'latency_ms.p999', better: 'lower', gate: false, absTolerance: 1, get: (r) => r.figures.latency_ms.p999 },
  { key: 'latency_ms.max', better: 'lower', gate: false, absTolerance: 1, get: (r) => r.figures.latency_ms.max },
  { key: 'ack_latency_ms.p99', better: 'lower', gate: false, absTolerance: 1, get: (r) => r.figures.ack_latency_ms?.p99 ?? null },
  {
    key: 'server.cpu_us_per_delivery',
    better: 'lower',
    gate: true,
    absTolerance: 0,
    get: (r) => r.figures.server.cpu_us_per_delivery,
  },
  { key: 'server.rss_mb', better: 'lower', gate: true, absTolerance: 5, get: (r) => r.figures.server.rss_mb },
  { key: 'client.cpu_util', better: 'lower', gate: false, absTolerance: 0, get: (r) => r.figures.client.cpu_util },
  // Suite figures: absent (null) outside their suite, and then left out of the table.
  { key: 'ingest_per_s', better: 'higher', gate: true, absTolerance: 0, get: (r) => r.figures.ingest_per_s ?? null },
  { key: 'rss_kb_per_connection', better: 'lower', gate: true, absTolerance: 0.5, get: (r) => r.figures.rss_kb_per_connection ?? null },
  { key: 'churn_per_s', better: 'higher', gate: true, absTolerance: 0, get: (r) => r.figures.churn_per_s ?? null },
  { key: 'recovered_events', better: 'higher', gate: true, absTolerance: 0, get: (r) => r.figures.recovered_events ?? null },
  { key: 'ring_per_s', better: 'higher', gate: true, absTolerance: 0, get: (r) => r.figures.ring_per_s ?? null },
  { key: 'postmessage_per_s', better: 'higher', gate: false, absTolerance: 0, get: (r) => r.figures.postmessage_per_s ?? null },
  { key: 'ratio', better: 'higher', gate: true, absTolerance: 0.05, get: (r) => r.figures.ratio ?? null },
  { key: 'rtt_us.p50', better: 'lower', gate: true, absTolerance: 10, get: (r) => r.figures.rtt_us?.p50 ?? null },
  { key: 'rtt_us.p99', better: 'lower', gate: true, absTolerance: 25, get: (r) => r.figures.rtt_us?.p99 ?? null },
  {
    key: 'server_cpu_ratio_vs_baseline',
    better: 'lower',
    gate: true,
    absTolerance: 0.05,
    get: (r) => r.figures.server_cpu_ratio_vs_baseline ?? null,
  },
  {
    key: 'server_cpu_ratio_vs_socketio',
    better: 'lower',
    gate: true,
    absTolerance: 0.05,
    get: (r) => r.figures.server_cpu_ratio_vs_socketio ?? null,
  },
];

export interface CompareRow {
  figure: string;
  a: number | null;
  b: number | null;
  /** b / a; null when either is missing or a is 0. */
  ratio: number | null;
  better: Direction;
  gate: boolean;
  regression: boolean;
}

export interface Comparison {
  maxRegression: number;
  rows: CompareRow[];
  regression: boolean;
  /** Keys of the gated figures that regressed. */
  regressions: string[];
  /** Things that make the comparison weaker (different suites, saturated client...). */
  warnings: string[];
}

export function compare(a: BenchResult, b: BenchResult, maxRegression = 0.1): Comparison {
  if (!(maxRegression >= 0)) throw new RangeError('maxRegression must be >= 0');
  const rows = FIGURES.filter((spec) => spec.get(a) !== null || spec.get(b) !== null).map((spec): CompareRow => {
    const va = spec.get(a);
    const vb = spec.get(b);
    const ratio = va === null || vb === null || va === 0 ? null : vb / va;
    let regression = false;
    if (spec.gate && va !== null && vb !== null) {
      const worse = spec.better === 'higher' ? va - vb : vb - va;
      const limit = Math.max(spec.absTolerance, Math.abs(va) * maxRegression);
      regression = worse > limit;
    }
    return { figure: spec.key, a: va, b: vb, ratio, better: spec.better, gate: spec.gate, regression };
  });
  const warnings: string[] = [];
  if (a.suite !== b.suite) warnings.push(`different suites: ${a.suite} vs ${b.suite}`);
  // Not a regression check then, a comparison of servers (veza against a reference): say so.
  if (a.target !== b.target) warnings.push(`different targets: ${a.target} vs ${b.target}`);
  if (a.machine.cpus !== b.machine.cpus) warnings.push(`different machines: ${a.machine.cpus} vs ${b.machine.cpus} CPUs`);
  if (a.figures.client.saturated) warnings.push('the reference run had a saturated client');
  if (b.figures.client.saturated) warnings.push('the candidate run had a saturated client');
  if (a.figures.client.lagging || b.figures.client.lagging) warnings.push('a run had its send schedule late (CPUs oversubscribed)');
  const regressions = rows.filter((r) => r.regression).map((r) => r.figure);
  return { maxRegression, rows, regression: regressions.length > 0, regressions, warnings };
}

/** A plain-text table of the comparison, for a terminal or a CI log. */
export function formatComparison(c: Comparison): string {
  const fmt = (v: number | null) => (v === null ? '—' : Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4));
  const lines = [['figure', 'a', 'b', 'b/a', 'better', 'verdict']];
  for (const r of c.rows) {
    lines.push([
      r.figure,
      fmt(r.a),
      fmt(r.b),
      r.ratio === null ? '—' : r.ratio.toFixed(3),
      r.better,
      r.regression ? 'REGRESSION' : r.gate ? 'ok' : '(info)',
    ]);
  }
  const widths = (lines[0] as string[]).map((_, i) => Math.max(...lines.map((l) => (l[i] as string).length)));
  const out = lines.map((l) => l.map((cell, i) => cell.padEnd(widths[i] as number)).join('  ').trimEnd());
  out.push('', c.regression ? `regression beyond ${(c.maxRegression * 100).toFixed(0)} %: ${c.regressions.join(', ')}` : 'no regression');
  for (const w of c.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}

/** Results of two files (single results or sets), paired by suite and target. */
export interface FileComparison {
  pairs: Array<{ key: string; comparison: Comparison }>;
  /** Results of one file with no counterpart in the other. */
  unmatched: string[];
  regression: boolean;
}

export function compareAll(a: readonly BenchResult[], b: readonly BenchResult[], maxRegression = 0.1): FileComparison {
  const key = (r: BenchResult) => `${r.suite} on ${r.target}`;
  // Two single results are compared whatever their names (the caller chose them).
  if (a.length === 1 && b.length === 1) {
    const c = compare(a[0] as BenchResult, b[0] as BenchResult, maxRegression);
    return { pairs: [{ key: key(b[0] as BenchResult), comparison: c }], unmatched: [], regression: c.regression };
  }
  const byKey = new Map(a.map((r) => [key(r), r]));
  const pairs: FileComparison['pairs'] = [];
  const unmatched: string[] = [];
  for (const r of b) {
    const ref = byKey.get(key(r));
    if (!ref) unmatched.push(`${key(r)} (only in the second file)`);
    else {
      pairs.push({ key: key(r), comparison: compare(ref, r, maxRegression) });
      byKey.delete(key(r));
    }
  }
  for (const k of byKey.keys()) unmatched.push(`${k} (only in the first file)`);
  return { pairs, unmatched, regression: pairs.some((p) => p.comparison.regression) };
}

export function formatFileComparison(f: FileComparison): string {
  const out: string[] = [];
  for (const p of f.pairs) out.push(`== ${p.key}`, formatComparison(p.comparison), '');
  for (const u of f.unmatched) out.push(`not compared: ${u}`);
  out.push(f.regression ? 'RESULT: regression' : 'RESULT: no regression');
  return out.join('\n');
}
