/**
 * The operator's summary of a node (`GET /api/v1/admin/status`, `veza-chat status` and `top`),
 * computed from two merged samples of the metrics: counts from the later one, rates and the p99
 * from their difference. Pure functions: no I/O here.
 */
import type client from 'prom-client';

type MetricJson = client.MetricObjectWithValues<client.MetricValue<string>>;
type Value = client.MetricValue<string> & { metricName?: string };
type Labels = Partial<Record<string, string | number>>;

export interface Sample {
  at: number;
  metrics: MetricJson[];
}

export interface ThreadStatus {
  thread: string;
  role: string;
  up: boolean;
  event_loop_utilization: number | null;
  event_loop_lag_p99_ms: number | null;
  heap_used_bytes: number | null;
}

export interface NodeStatus {
  node: { version: string; url: string; pid: number; uptime_s: number; fronts: number; shards: number; store: string };
  threads: ThreadStatus[];
  actors: { total: number; per_shard: Record<string, number> };
  mailbox_depth: Record<string, number>;
  connections: { active: number; opened: number };
  messages_per_second: { received: number; sent: number };
  /** p99 from decoded frame to reply, over the interval (null: no operation in it). */
  p99_ms: { all_operations: number | null; send_message: number | null };
  ring: { max_occupancy: number; overflow_envelopes: number };
  restarts: { total: number; front: number; shard: number };
  db_connections: { active: number; total: number };
  errors_per_second: number;
  memory: { rss_bytes: number };
  interval_s: number;
}

const find = (ms: MetricJson[], name: string): Value[] => (ms.find((m) => m.name === name)?.values ?? []) as Value[];

function sum(ms: MetricJson[], name: string, where: (l: Labels) => boolean = () => true, metricName?: string): number {
  let s = 0;
  for (const v of find(ms, name)) if ((metricName === undefined || v.metricName === metricName) && where(v.labels)) s += v.value;
  return s;
}

function byLabel(ms: MetricJson[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of find(ms, name)) {
    const k = String(v.labels[label] ?? '');
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

/** The q-quantile (seconds) of a histogram's observations between two samples, by linear interpolation in its bucket. */
export function quantileBetween(prev: MetricJson[], cur: MetricJson[], name: string, q: number, where: (l: Labels) => boolean = () => true): number | null {
  const bucketName = `${name}_bucket`;
  const counts = new Map<number, number>();
  const add = (ms: MetricJson[], sign: number) => {
    for (const v of find(ms, name)) {
      if (v.metricName !== bucketName || !where(v.labels)) continue;
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      counts.set(le, (counts.get(le) ?? 0) + sign * v.value);
    }
  };
  add(cur, 1);
  add(prev, -1);
  const bounds = [...counts.keys()].sort((a, b) => a - b);
  const total = counts.get(Infinity) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const le of bounds) {
    const c = counts.get(le)!;
    if (c >= rank) {
      if (le === Infinity) return lower;
      const inBucket = c - below;
      return inBucket <= 0 ? le : lower + ((le - lower) * (rank - below)) / inBucket;
    }
    lower = le;
    below = c;
  }
  return lower;
}

const round = (n: number, digits = 3): number => Math.round(n * 10 ** digits) / 10 ** digits;
const ms = (s: number | null): number | null => (s === null ? null : round(s * 1000));

export function summarize(
  prev: Sample,
  cur: Sample,
  info: { version: string; url: string; fronts: number; shards: number; store: string; pid: number; startedAt: number },
): NodeStatus {
  const c = cur.metrics;
  const p = prev.metrics;
  const dt = Math.max(0.001, (cur.at - prev.at) / 1000);
  const rate = (name: string) => Math.max(0, (sum(c, name) - sum(p, name)) / dt);

  const threads: ThreadStatus[] = find(c, 'veza_thread_up').map((v) => {
    const thread = String(v.labels.thread);
    const of = (name: string, extra: (l: Labels) => boolean = () => true) => {
      const hit = find(c, name).find((x) => x.labels.thread === thread && extra(x.labels));
      return hit ? hit.value : null;
    };
    const lag = of('veza_event_loop_lag_seconds', (l) => l.quantile === '0.99');
    const elu = of('veza_event_loop_utilization');
    return {
      thread,
      role: String(v.labels.role),
      up: v.value === 1,
      event_loop_utilization: elu === null ? null : round(elu),
      event_loop_lag_p99_ms: lag === null ? null : round(lag * 1000),
      heap_used_bytes: of('veza_thread_heap_used_bytes'),
    };
  });
  const order = (t: string) => (t === 'main' ? '0' : t.startsWith('front') ? `1${t.padStart(12)}` : `2${t.padStart(12)}`);
  threads.sort((a, b) => order(a.thread).localeCompare(order(b.thread)));

  const actors = byLabel(c, 'veza_actors_active', 'shard');
  const occupancy = find(c, 'veza_ring_occupancy_ratio').reduce((m, v) => Math.max(m, v.value), 0);
  const restarts = byLabel(c, 'veza_worker_restarts_total', 'role');
  return {
    node: {
      version: info.version,
      url: info.url,
      pid: info.pid,
      uptime_s: Math.round((cur.at - info.startedAt) / 1000),
      fronts: info.fronts,
      shards: info.shards,
      store: info.store,
    },
    threads,
    actors: { total: Object.values(actors).reduce((a, b) => a + b, 0), per_shard: actors },
    mailbox_depth: byLabel(c, 'veza_mailbox_depth', 'shard'),
    connections: { active: sum(c, 'chat_websocket_connections_active'), opened: sum(c, 'chat_websocket_connections_total') },
    messages_per_second: { received: round(rate('chat_messages_received_total'), 2), sent: round(rate('chat_messages_sent_total'), 2) },
    p99_ms: {
      all_operations: ms(quantileBetween(p, c, 'chat_message_processing_duration_seconds', 0.99)),
      send_message: ms(quantileBetween(p, c, 'chat_message_processing_duration_seconds', 0.99, (l) => l.operation === 'send_message')),
    },
    ring: { max_occupancy: round(occupancy, 4), overflow_envelopes: sum(c, 'veza_ring_overflow_envelopes') },
    restarts: { total: (restarts.front ?? 0) + (restarts.shard ?? 0), front: restarts.front ?? 0, shard: restarts.shard ?? 0 },
    db_connections: { active: sum(c, 'chat_db_connections_active'), total: sum(c, 'chat_db_connections_total') },
    errors_per_second: round(rate('chat_errors_total'), 2),
    memory: { rss_bytes: sum(c, 'process_resident_memory_bytes') },
    interval_s: round(dt, 2),
  };
}
