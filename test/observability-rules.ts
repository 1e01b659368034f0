/**
 * The alert rules and the Grafana dashboard the package ships (ops/): promtool does not install
 * here, so the rules file is parsed as YAML and checked for Prometheus' rule shape, and every
 * metric named by a rule or a panel must be one /metrics exports (the registry of src/metrics,
 * with the process metrics the main thread adds). A rule on a metric that was renamed or never
 * existed would never fire; this catches it.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { collectProcessMetrics, collectThread } from '../src/metrics/index.js';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Every series name /metrics can show: counters and gauges as named, histograms with their suffixes. */
async function exported(): Promise<Set<string>> {
  collectProcessMetrics();
  const names = new Set<string>();
  for (const m of await collectThread()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

/** Metric names in a PromQL expression: ours all start with one of these prefixes. */
const metricsIn = (expr: string): string[] => [...new Set(expr.match(/\b(?:chat|veza|process|nodejs)_[a-zA-Z0-9_]+/g) ?? [])];

const DURATION = /^\d+(ms|s|m|h|d|w|y)$/;

t.test('the rules file: Prometheus rule groups, each rule complete, every metric exported', async (t) => {
  const names = await exported();
  const doc = parse(readFileSync(`${root}ops/prometheus/veza-chat.rules.yml`, 'utf8')) as { groups: { name: string; rules: Record<string, unknown>[] }[] };
  t.ok(Array.isArray(doc.groups) && doc.groups.length > 0, 'groups');
  const alerts = new Set<string>();
  for (const g of doc.groups) {
    t.type(g.name, 'string');
    for (const r of g.rules) {
      const name = String(r.alert);
      t.notOk(alerts.has(name), `${name}: one rule of that name`);
      alerts.add(name);
      t.type(r.expr, 'string', `${name}: expr`);
      if (r.for !== undefined) t.match(String(r.for), DURATION, `${name}: for is a duration`);
      t.match((r.labels as Record<string, string>).severity, /^(critical|warning)$/, `${name}: severity`);
      t.type((r.annotations as Record<string, string>).summary, 'string', `${name}: summary`);
      t.same(Object.keys(r).filter((k) => !['alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'].includes(k)), [], `${name}: no unknown key`);
      const used = metricsIn(String(r.expr));
      t.ok(used.length > 0, `${name} names a metric`);
      for (const m of used) t.ok(names.has(m), `${name}: ${m} is exported`);
      // Balanced brackets: a cheap syntax check promtool would do better.
      const expr = String(r.expr);
      for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']] as const) {
        t.equal(expr.split(open).length, expr.split(close).length, `${name}: ${open}${close} balanced`);
      }
    }
  }
  for (const wanted of ['HighErrorRate', 'DatabaseConnectionsExhausted', 'MemoryUsageHigh', 'DeliveryLatencyHigh', 'RingSaturated', 'SlowConsumers', 'WorkerRestarts']) {
    t.ok(alerts.has(wanted), `rule ${wanted}`);
  }
});

t.test('the dashboard: valid JSON, every panel query on exported metrics', async (t) => {
  const names = await exported();
  const dash = JSON.parse(readFileSync(`${root}ops/grafana/veza-chat.json`, 'utf8')) as { uid: string; panels: { title: string; type: string; targets?: { expr: string }[] }[] };
  t.equal(dash.uid, 'veza-chat');
  const panels = dash.panels.filter((p) => p.type !== 'row');
  t.ok(panels.length >= 20, `${panels.length} panels`);
  const used = new Set<string>();
  for (const p of panels) {
    t.ok((p.targets ?? []).length > 0, `${p.title}: has queries`);
    for (const q of p.targets ?? []) for (const m of metricsIn(q.expr)) used.add(m);
  }
  for (const m of used) t.ok(names.has(m), `dashboard: ${m} is exported`);
  for (const m of ['chat_websocket_connections_active', 'chat_messages_received_total', 'veza_ring_occupancy_ratio', 'veza_actors_active', 'veza_event_loop_utilization', 'veza_worker_restarts_total']) {
    t.ok(used.has(m), `the dashboard shows ${m}`);
  }
});
