/**
 * A self-contained HTML report of one bench result: inline CSS and SVG charts drawn here (latency
 * percentiles, throughput and p99 over time, CPU and memory over time). No script, no library, no
 * network: the file opens anywhere, and renders the same in a CI artifact as on a laptop.
 */
import type { BenchResult, BenchSet } from './result.js';
import type { TimelinePoint } from './cohort.js';
import { THREAD_ROLES, type RoleFigures } from './proc.js';

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** Every coordinate goes through here: a chart never prints NaN or Infinity. */
const num = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 10) / 10) : '0');

export function formatNumber(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  const d = abs >= 1000 ? 0 : abs >= 100 ? Math.min(digits, 1) : digits;
  return v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: 0 });
}

/** `main 10.0, front 15.2, shard 7.1, other 3.5`: the roles that used any CPU, in a fixed order. */
export function formatThreadCpu(by: Readonly<RoleFigures>, digits = 1): string {
  const used = THREAD_ROLES.filter((role) => by[role] > 0);
  return used.length === 0 ? 'none' : used.map((role) => `${role} ${by[role].toFixed(digits)}`).join(', ');
}

/** About `count` round tick values covering [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Math.round(v / step) * step);
  return ticks;
}

export interface Series {
  name: string;
  color: string;
  points: Array<[number, number | null]>;
}

const W = 640;
const H = 240;
const PAD = { l: 56, r: 16, t: 28, b: 36 };

function frame(title: string, yTicks: number[], yMax: number, xLabel: string, body: string, legend: string): string {
  const ih = H - PAD.t - PAD.b;
  const y = (v: number) => PAD.t + ih - (v / yMax) * ih;
  const grid = yTicks
    .map(
      (t) =>
        `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${num(y(t))}" y2="${num(y(t))}" class="grid"/>` +
        `<text x="${PAD.l - 6}" y="${num(y(t) + 4)}" text-anchor="end">${esc(formatNumber(t))}</text>`,
    )
    .join('');
  return (
    `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">` +
    `<text x="${PAD.l}" y="18" class="title">${esc(title)}</text>${grid}${body}` +
    `<text x="${(W + PAD.l) / 2}" y="${H - 4}" text-anchor="middle" class="axis">${esc(xLabel)}</text>${legend}</svg>`
  );
}

export function lineChart(title: string, xLabel: string, series: Series[]): string {
  const pts = series.flatMap((s) => s.points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1])));
  if (pts.length === 0) return emptyChart(title);
  const xMin = Math.min(...pts.map((p) => p[0]));
  const xMax = Math.max(...pts.map((p) => p[0]));
  const ticks = niceTicks(Math.max(...pts.map((p) => p[1])));
  const yMax = ticks[ticks.length - 1] || 1;
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const x = (v: number) => PAD.l + (xMax === xMin ? iw / 2 : ((v - xMin) / (xMax - xMin)) * iw);
  const y = (v: number) => PAD.t + ih - (v / yMax) * ih;
  const body = series
    .map((s) => {
      // A null breaks the line: no value is drawn as zero.
      const segments: string[][] = [[]];
      for (const [px, py] of s.points) {
        if (py === null || !Number.isFinite(py)) segments.push([]);
        else (segments[segments.length - 1] as string[]).push(`${num(x(px))},${num(y(py))}`);
      }
      return segments
        .filter((seg) => seg.length > 0)
        .map((seg) =>
          seg.length === 1
            ? `<circle cx="${(seg[0] as string).split(',')[0]}" cy="${(seg[0] as string).split(',')[1]}" r="3" fill="${s.color}"/>`
            : `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${seg.join(' ')}"/>`,
        )
        .join('');
    })
    .join('');
  const xTicks = [...new Set(pts.map((p) => p[0]))].sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(xTicks.length / 10));
  const xAxis = xTicks
    .filter((_, i) => i % every === 0)
    .map((t) => `<text x="${num(x(t))}" y="${H - PAD.b + 14}" text-anchor="middle">${esc(formatNumber(t))}</text>`)
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${W - PAD.r - 150}" y="${8 + i * 14}" width="10" height="10" fill="${s.color}"/>` +
        `<text x="${W - PAD.r - 136}" y="${17 + i * 14}">${esc(s.name)}</text>`,
    )
    .join('');
  return frame(title, ticks, yMax, xLabel, body + xAxis, legend);
}

export function barChart(title: string, unit: string, bars: Array<{ label: string; value: number | null }>): string {
  const vals = bars.map((b) => (b.value !== null && Number.isFinite(b.value) ? b.value : 0));
  if (bars.length === 0) return emptyChart(title);
  const ticks = niceTicks(Math.max(...vals));
  const yMax = ticks[ticks.length - 1] || 1;
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const slot = iw / bars.length;
  const bw = slot * 0.6;
  const body = bars
    .map((b, i) => {
      const v = vals[i] as number;
      const h = (v / yMax) * ih;
      const x0 = PAD.l + i * slot + (slot - bw) / 2;
      return (
        `<rect x="${num(x0)}" y="${num(PAD.t + ih - h)}" width="${num(bw)}" height="${num(h)}" class="bar"/>` +
        `<text x="${num(x0 + bw / 2)}" y="${num(PAD.t + ih - h - 4)}" text-anchor="middle">${esc(b.value === null ? '—' : formatNumber(v))}</text>` +
        `<text x="${num(x0 + bw / 2)}" y="${H - PAD.b + 14}" text-anchor="middle">${esc(b.label)}</text>`
      );
    })
    .join('');
  return frame(title, ticks, yMax, unit, body, '');
}

function emptyChart(title: string): string {
  return (
    `<svg viewBox="0 0 ${W} 80" width="${W}" height="80" role="img" aria-label="${esc(title)}">` +
    `<text x="${PAD.l}" y="18" class="title">${esc(title)}</text><text x="${PAD.l}" y="50">no data</text></svg>`
  );
}

function table(rows: Array<[string, unknown]>): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

const pick = (tl: TimelinePoint[], f: (p: TimelinePoint) => number | null): Array<[number, number | null]> =>
  tl.map((p) => [p.t, f(p)]);

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1340px}
h1{font-size:20px;margin:0 0 4px}.meta{color:#666;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
th{font-weight:600;color:#444}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fafafa;border:1px solid #eee}svg text{font-size:11px;fill:#444}svg .title{font-size:13px;font-weight:600}
svg .grid{stroke:#e4e4e4}svg .bar{fill:#4c78a8}.warn{background:#fff3cd;padding:8px;border:1px solid #e0c068}
section{border-top:2px solid #ddd;margin-top:24px;padding-top:8px}`;

function head(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${esc(title)}</title>
<style>
${STYLE}
</style></head><body>
`;
}

function metaLine(r: Pick<BenchResult, 'started_at' | 'commit' | 'machine'>): string {
  const machine = r.machine;
  return `<p class="meta">${esc(r.started_at)} · commit ${esc(r.commit ?? 'unknown')} · ${esc(machine.cpus)} CPUs, ${esc(formatNumber(machine.memory))} MiB,
Node ${esc(machine.node)}${machine.load_avg ? ` · load ${esc(machine.load_avg.join(' '))}` : ''}</p>`;
}

/** The suite figures a result has, as table rows. */
function suiteRows(r: BenchResult): Array<[string, unknown]> {
  const f = r.figures;
  const rows: Array<[string, unknown]> = [];
  if (f.ingest_per_s !== undefined) rows.push(['durable messages / s (ingest)', formatNumber(f.ingest_per_s)]);
  if (f.rss_kb_per_connection !== undefined) {
    rows.push(['server RSS idle (MiB)', formatNumber(f.rss_idle_mb, 1)]);
    rows.push(['RSS per connection (KiB)', formatNumber(f.rss_kb_per_connection, 2)]);
  }
  if (f.churn_per_s !== undefined) rows.push(['connect+authenticate+close / s', formatNumber(f.churn_per_s)]);
  if (f.ops_per_s !== undefined) {
    rows.push(['operations answered / s (mixed)', formatNumber(f.ops_per_s)]);
    for (const [op, o] of Object.entries(f.ops ?? {})) {
      rows.push([
        `${op}: sent, acked, errors; ack p50 / p99 / max (ms)`,
        `${formatNumber(o.sent)}, ${formatNumber(o.acked)}, ${formatNumber(o.errors)}${o.substituted > 0 ? ` (${formatNumber(o.substituted)} sent as messages for want of a target)` : ''}; ` +
          `${formatNumber(o.p50_ms)} / ${formatNumber(o.p99_ms)} / ${formatNumber(o.max_ms)}`,
      ]);
    }
    rows.push(['reconnects of the churning connections', formatNumber(f.churn_reconnects)]);
  }
  if (f.resumed !== undefined) {
    rows.push(['clients resumed completely', `${formatNumber(f.resume_complete)} / ${formatNumber(f.resume_clients)}`]);
    rows.push(['resumed (recovered)', `${formatNumber(f.resumed)} (${formatNumber(f.resumed_recovered)})`]);
    rows.push(['recovered events', formatNumber(f.recovered_events)]);
  }
  if (f.ring_per_s !== undefined) {
    rows.push(['ring envelopes / s', formatNumber(f.ring_per_s)]);
    rows.push(['postMessage envelopes / s', formatNumber(f.postmessage_per_s)]);
    rows.push(['ring / postMessage', formatNumber(f.ratio)]);
    rows.push(['ring RTT p50 / p99 (µs)', `${formatNumber(f.rtt_us?.p50)} / ${formatNumber(f.rtt_us?.p99)}`]);
  }
  const runs = (v: readonly (number | null)[] | undefined) => (v ? ` (before and after: ${v.map((x) => formatNumber(x, 3)).join(', ')})` : '');
  if (f.server_cpu_ratio_vs_baseline !== undefined) {
    rows.push(['baseline CPU per delivery (µs)', formatNumber(f.baseline_cpu_us_per_delivery, 3) + runs(f.baseline_cpu_us_per_delivery_runs)]);
    rows.push(['server CPU per delivery vs baseline', formatNumber(f.server_cpu_ratio_vs_baseline, 2)]);
  }
  if (f.server_cpu_ratio_vs_socketio !== undefined) {
    rows.push(['Socket.IO CPU per delivery (µs)', formatNumber(f.socketio_cpu_us_per_delivery, 3) + runs(f.socketio_cpu_us_per_delivery_runs)]);
    rows.push(['server CPU per delivery vs Socket.IO', formatNumber(f.server_cpu_ratio_vs_socketio, 2)]);
  }
  return rows;
}

/** The by-thread row where the result has the figure (older files do not). */
function threadRow(by: RoleFigures | null | undefined): Array<[string, unknown]> {
  if (by === undefined) return [];
  return [['server CPU per delivery by thread (µs)', by === null ? '—' : formatThreadCpu(by, 2)]];
}

/** One result's sections (figures, charts, errors, configuration), without the page around them. */
export function reportBody(r: BenchResult, level = 1): string {
  const f = r.figures;
  const tl = r.timeline ?? [];
  const lat = f.latency_ms;
  const h = `h${level}`;
  const h2 = `h${level + 1}`;
  const saturated =
    (f.client.saturated
      ? `<p class="warn">The load generator was saturated (busiest event loop ${formatNumber(f.client.worker_elu_max * 100, 0)} % busy): ` +
        'these figures describe the client as much as the server.</p>'
      : '') +
    (f.client.lagging
      ? `<p class="warn">The send schedule ran up to ${formatNumber(f.client.lag_max_ms)} ms late: the machine's CPUs were ` +
        'oversubscribed (load average in the header); tail latency includes time the threads were not scheduled.</p>'
      : '') +
    (r.notes ?? []).map((n) => `<p class="warn">${esc(n)}</p>`).join('');
  const loadRows: Array<[string, unknown]> =
    f.ring_per_s !== undefined
      ? []
      : [
          ['deliveries / s', formatNumber(f.throughput_per_s)],
          ['delivered / expected', `${formatNumber(f.delivered)} / ${formatNumber(f.expected)}`],
          ['delivery ratio', f.delivery_ratio === null ? '—' : f.delivery_ratio.toFixed(6)],
          ['messages sent / s', formatNumber(f.sent_per_s)],
          ['latency p50 / p99 / max (ms)', `${formatNumber(lat.p50)} / ${formatNumber(lat.p99)} / ${formatNumber(lat.max)}`],
          ['ack latency p50 / p99 (ms)', `${formatNumber(f.ack_latency_ms.p50)} / ${formatNumber(f.ack_latency_ms.p99)}`],
          ['server CPU (s)', formatNumber(f.server.cpu_s, 3)],
          ['server CPU per delivery (µs)', formatNumber(f.server.cpu_us_per_delivery, 3)],
          ...threadRow(f.server.cpu_us_per_delivery_by_thread),
          ['server RSS (MiB)', formatNumber(f.server.rss_mb, 1)],
          ['client CPU (share of machine)', `${formatNumber(f.client.cpu_util * 100, 1)} %`],
          ['client busiest event loop', `${formatNumber(f.client.worker_elu_max * 100, 1)} %`],
          ['connections', `${f.connections.connected} / ${f.connections.planned} (${f.connections.failed} failed)`],
        ];
  const summary = [...suiteRows(r), ...loadRows];
  const errs = Object.entries(r.errors ?? {});
  const charts =
    f.ring_per_s !== undefined
      ? ''
      : `<div class="charts">
${barChart('Latency percentiles (ms)', 'percentile', [
  { label: 'p50', value: lat.p50 },
  { label: 'p90', value: lat.p90 },
  { label: 'p99', value: lat.p99 },
  { label: 'p99.9', value: lat.p999 },
  { label: 'max', value: lat.max },
])}
${lineChart('Throughput (deliveries / s)', 'seconds since start', [
  { name: 'delivered / s', color: '#4c78a8', points: pick(tl, (p) => p.throughput) },
])}
${lineChart('Latency over time (ms)', 'seconds since start', [
  { name: 'p50', color: '#54a24b', points: pick(tl, (p) => p.p50_ms) },
  { name: 'p99', color: '#e45756', points: pick(tl, (p) => p.p99_ms) },
])}
${lineChart('CPU (cores busy)', 'seconds since start', [
  { name: 'server', color: '#e45756', points: pick(tl, (p) => p.server_cpu) },
  { name: 'client', color: '#4c78a8', points: pick(tl, (p) => p.client_cpu) },
])}
${lineChart('Server memory (RSS, MiB)', 'seconds since start', [
  { name: 'server RSS', color: '#b279a2', points: pick(tl, (p) => p.server_rss_mb) },
])}
</div>`;
  return `<${h}>veza-chat bench: ${esc(r.suite)} on ${esc(r.target)}</${h}>
${metaLine(r)}
${saturated}
${table(summary)}
${charts}
<${h2}>Errors</${h2}>
${errs.length === 0 ? '<p>none</p>' : table(errs)}
<${h2}>Configuration</${h2}>
${table(Object.entries(r.config ?? {}).map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : v]))}`;
}

export function renderReport(r: BenchResult): string {
  return `${head(`veza-chat bench: ${r.suite} on ${r.target}`)}${reportBody(r)}
</body></html>
`;
}

/** One page for a set: a summary table of every result, then each result's sections. */
export function renderSetReport(set: BenchSet, summaryRows: string[][] = []): string {
  const summary =
    summaryRows.length > 1
      ? `<table>${summaryRows
          .map((row, i) => `<tr>${row.map((c) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`)
          .join('')}</table>`
      : '';
  return `${head(`veza-chat bench: ${set.suite}`)}<h1>veza-chat bench: ${esc(set.suite)}</h1>
${metaLine(set)}
${summary}
${set.results.map((r) => `<section>${reportBody(r, 2)}</section>`).join('\n')}
</body></html>
`;
}
