/**
 * Every metric veza-chat exports, defined once. Each thread (main, fronts, shards) loads this module
 * and so has its own registry and its own values: counting never crosses threads. On a scrape the
 * main thread asks each worker for `collectThread()` over the supervisor's control channel and
 * merges the answers with prom-client's `AggregatorRegistry.aggregate` (src/metrics/node.ts):
 * counters and histogram buckets are summed, so an answer is always the whole node.
 *
 * Names and labels follow the seed's list (`chat_*`); the runtime's own are `veza_*`. A label value
 * never comes from user input (no room or user ids): operations, message types, error types and
 * rate-limit actions are fixed lists, threads are named by role and index.
 *
 * Hot path (a frame, a message): the Hot* metrics of ./hot.ts, through children made here once.
 * Everything else (auth, database, errors, commits) uses prom-client directly.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import client from 'prom-client';
import { configSchema } from '../config/schema.js';
import { buildClientSchemas } from '../protocol/client-ops.js';
import { HotCounter, HotGauge, HotHistogram, type CounterChild, type HistogramChild } from './hot.js';

export const registry = new client.Registry();
const registers = [registry];

/**
 * Operations a client can send (PROTOCOL.md), read from the one table of their schemas so a new
 * operation is counted under its own name: the processing histogram's label values.
 */
export const OPERATIONS: readonly string[] = Object.keys(buildClientSchemas(configSchema.shape.limits.parse(undefined)));
const OTHER = 'other';
const MESSAGE_TYPES = ['room', 'dm'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// ----------------------------------------------------------------------------------------------
// The seed's application metrics

export const wsConnectionsTotal = new HotCounter({ name: 'chat_websocket_connections_total', help: 'WebSocket connections opened', registers });
export const wsConnectionsActive = new HotGauge({ name: 'chat_websocket_connections_active', help: 'WebSocket connections open now', registers });
export const wsConnectionDuration = new HotHistogram({
  name: 'chat_websocket_connection_duration_seconds',
  help: 'How long WebSocket connections stayed open',
  buckets: [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86_400],
  registers,
});

const messagesReceived = new HotCounter({
  name: 'chat_messages_received_total',
  help: 'Chat messages received from clients (send_message, send_dm, POST of a message), by conversation type',
  label: { name: 'type', values: MESSAGE_TYPES },
  registers,
});
const messagesSent = new HotCounter({
  name: 'chat_messages_sent_total',
  help: 'Chat messages committed and published to their conversation, by conversation type',
  label: { name: 'type', values: MESSAGE_TYPES },
  registers,
});
const messageSize = new HotHistogram({
  name: 'chat_message_size_bytes',
  help: 'Size of received chat message contents (UTF-8 bytes), by conversation type',
  label: { name: 'type', values: MESSAGE_TYPES },
  buckets: [16, 64, 256, 1024, 4096, 16_384, 65_536],
  registers,
});
const processing = new HotHistogram({
  name: 'chat_message_processing_duration_seconds',
  help: 'From a WebSocket frame decoded to its reply sent (ack or error), by operation',
  label: { name: 'operation', values: [...OPERATIONS, OTHER] },
  buckets: LATENCY_BUCKETS,
  registers,
});

/** A chat message received from a client (WebSocket or REST): counted, and its size. */
export function countReceived(type: MessageType, content: string): void {
  received[type].inc();
  sizes[type].observe(Buffer.byteLength(content));
}

/** A WebSocket connection opened (at uWS `open`). */
export function connectionOpened(): void {
  wsConnectionsTotal.child().inc();
  wsConnectionsActive.child().inc();
}

/** A WebSocket connection closed; `openedAt` from performance.now() at its open. */
export function connectionClosed(openedAt: number): void {
  wsConnectionsActive.child().dec();
  wsConnectionDuration.child().observe((performance.now() - openedAt) / 1000);
}

export const received: Readonly<Record<MessageType, CounterChild>> = { room: messagesReceived.child('room'), dm: messagesReceived.child('dm') };
export const sent: Readonly<Record<MessageType, CounterChild>> = { room: messagesSent.child('room'), dm: messagesSent.child('dm') };
export const sizes: Readonly<Record<MessageType, HistogramChild>> = { room: messageSize.child('room'), dm: messageSize.child('dm') };
const processingChildren = new Map<string, HistogramChild>(OPERATIONS.map((op) => [op, processing.child(op)]));
const processingOther = processing.child(OTHER);
/** The processing histogram of an operation (its child, looked up in a Map of fixed names). */
export const processingOf = (op: string): HistogramChild => processingChildren.get(op) ?? processingOther;

export const authRequests = new client.Counter({
  name: 'chat_auth_requests_total',
  help: 'Authentication requests by method (register, login, refresh, logout, token) and status (success, failure)',
  labelNames: ['method', 'status'],
  registers,
});
export const authDuration = new client.Histogram({
  name: 'chat_auth_duration_seconds',
  help: 'Authentication request duration by method',
  labelNames: ['method'],
  buckets: LATENCY_BUCKETS,
  registers,
});
/** Count one authentication request (`method` from a fixed list: the route or `token`). */
export function observeAuth(method: string, ok: boolean, seconds: number): void {
  authRequests.inc({ method, status: ok ? 'success' : 'failure' });
  authDuration.observe({ method }, seconds);
}

export const httpRequests = new client.Counter({
  name: 'chat_http_requests_total',
  help: 'REST requests by route pattern, method and status code',
  labelNames: ['route', 'method', 'status'],
  registers,
});
export const httpDuration = new client.Histogram({
  name: 'chat_http_request_duration_seconds',
  help: 'REST request duration by route pattern',
  labelNames: ['route'],
  buckets: LATENCY_BUCKETS,
  registers,
});

const AUTH_ROUTE = /\/auth\/([a-z_]+)$/;
/** One REST request, by route pattern; the routes under `/auth/` count as authentication too. */
export function observeHttp(route: string, method: string, status: number, seconds: number): void {
  httpRequests.inc({ route, method, status: String(status) });
  httpDuration.observe({ route }, seconds);
  const auth = AUTH_ROUTE.exec(route);
  if (auth) observeAuth(auth[1]!, status < 400, seconds);
}

export const dbOperations = new client.Counter({
  name: 'chat_db_operations_total',
  help: 'Store operations by kind (select, insert, update, delete)',
  labelNames: ['operation'],
  registers,
});
export const dbDuration = new client.Histogram({
  name: 'chat_db_operation_duration_seconds',
  help: 'Store operation duration by kind',
  labelNames: ['operation'],
  buckets: LATENCY_BUCKETS,
  registers,
});
export const dbConnectionsActive = new client.Gauge({ name: 'chat_db_connections_active', help: 'Database connections in use', registers });
export const dbConnectionsTotal = new client.Gauge({ name: 'chat_db_connections_total', help: 'Database connections open (pool size at most)', registers });
export const dbConnectionsMax = new client.Gauge({ name: 'chat_db_connections_max', help: 'Database connections the pools may open', registers });

export const cacheHits = new client.Counter({ name: 'chat_cache_hits_total', help: 'Cache hits by cache', labelNames: ['cache_type'], registers });
export const cacheMisses = new client.Counter({ name: 'chat_cache_misses_total', help: 'Cache misses by cache', labelNames: ['cache_type'], registers });

export const errors = new client.Counter({
  name: 'chat_errors_total',
  help: 'Errors answered to clients or met by the server, by type (validation, auth, database, network, rate_limit, internal, client) and severity',
  labelNames: ['type', 'severity'],
  registers,
});
const ERROR_TYPE: Record<string, string> = {
  invalid_frame: 'validation',
  invalid_json: 'validation',
  validation_failed: 'validation',
  payload_too_large: 'validation',
  content_rejected: 'validation',
  unauthenticated: 'auth',
  forbidden: 'auth',
  rate_limited: 'rate_limit',
  internal: 'internal',
};
/** Count an error by its wire code (a fixed list; an unknown code counts as `client`). */
export function countError(code: string): void {
  errors.inc({ type: ERROR_TYPE[code] ?? 'client', severity: code === 'internal' ? 'critical' : 'warning' });
}
/** A failure of a dependency (`database`, `network`): severity error. */
export function countFailure(type: 'database' | 'network'): void {
  errors.inc({ type, severity: 'error' });
}

export const rateLimited = new client.Counter({
  name: 'chat_rate_limit_exceeded_total',
  help: 'Requests refused by a per-user rate limit, by action',
  labelNames: ['action_type'],
  registers,
});

// ----------------------------------------------------------------------------------------------
// The runtime's own

export const actorsActive = new client.Gauge({ name: 'veza_actors_active', help: 'Actors activated, per shard', labelNames: ['shard'], registers });
export const mailboxDepth = new client.Gauge({ name: 'veza_mailbox_depth', help: 'Messages waiting in actor mailboxes, per shard', labelNames: ['shard'], registers });
export const ringUsed = new client.Gauge({
  name: 'veza_ring_used_bytes',
  help: 'Bytes waiting in the ring from one thread to another',
  labelNames: ['from', 'to'],
  registers,
});
export const ringOccupancy = new client.Gauge({
  name: 'veza_ring_occupancy_ratio',
  help: 'Fill of the ring from one thread to another (0..1)',
  labelNames: ['from', 'to'],
  registers,
});
export const ringQueued = new client.Gauge({
  name: 'veza_ring_overflow_envelopes',
  help: 'Envelopes waiting outside a full ring (its overflow queue)',
  labelNames: ['from', 'to'],
  registers,
});
export const ringWakeups = new client.Gauge({
  name: 'veza_ring_wakeups',
  help: 'Wake-ups of the reader of the ring into a thread since the ring was made (a peer restart starts it again)',
  labelNames: ['thread'],
  registers,
});
export const ringStalls = new client.Counter({
  name: 'veza_ring_stalls_total',
  help: 'Lost ring wake-ups the watchdog rescued, by thread and side',
  labelNames: ['thread', 'side'],
  registers,
});
export const commitBatch = new client.Histogram({
  name: 'veza_group_commit_batch_size',
  help: 'Rows per group commit',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
  registers,
});
export const commitLatency = new client.Histogram({
  name: 'veza_group_commit_duration_seconds',
  help: 'Duration of a group commit (one store round trip)',
  buckets: LATENCY_BUCKETS,
  registers,
});
export const commitFailures = new client.Counter({ name: 'veza_group_commit_failures_total', help: 'Group commits that failed', registers });
/** GroupCommitter's `onFlush`: one call per commit, not per row. */
export function observeCommit(rows: number, ms: number, failed: boolean): void {
  if (failed) commitFailures.inc();
  else {
    commitBatch.observe(rows);
    commitLatency.observe(ms / 1000);
  }
}

/** Hits and misses of one lookup in a cache of ours (`cacheType` a fixed name). */
export function countCache(cacheType: string, hits: number, misses: number): void {
  if (hits > 0) cacheHits.inc({ cache_type: cacheType }, hits);
  if (misses > 0) cacheMisses.inc({ cache_type: cacheType }, misses);
}
export const eventLoopLag = new client.Gauge({
  name: 'veza_event_loop_lag_seconds',
  help: 'Event-loop delay per thread over the last window (10 s), by quantile (0.5, 0.99, 1 for the maximum)',
  labelNames: ['thread', 'quantile'],
  registers,
});
export const eventLoopUtilization = new client.Gauge({
  name: 'veza_event_loop_utilization',
  help: 'Share of time the thread\'s event loop was busy over the last window (10 s)',
  labelNames: ['thread'],
  registers,
});
export const eventLoopBusy = new client.Gauge({
  name: 'veza_event_loop_busy_seconds',
  help: 'Time the thread\'s event loop was busy since it started (rate() of it is the utilisation)',
  labelNames: ['thread'],
  registers,
});
export const heapUsed = new client.Gauge({ name: 'veza_thread_heap_used_bytes', help: 'V8 heap in use, per thread', labelNames: ['thread'], registers });
export const threadUp = new client.Gauge({
  name: 'veza_thread_up',
  help: '1 when the thread answered the scrape, 0 when it did not (restarting)',
  labelNames: ['thread', 'role'],
  registers,
});
export const workerRestarts = new client.Counter({
  name: 'veza_worker_restarts_total',
  help: 'Front and shard threads restarted by the supervisor after they died',
  labelNames: ['role'],
  registers,
});
/** Set from the fronts' sweep counts at collection (a front that restarts starts again from 0). */
export const slowConsumers = new HotCounter({
  name: 'veza_slow_consumers_total',
  help: 'Sockets found at their backpressure limit by the sweep, by what was done (skip: publishes skipped; close: closed with 1008)',
  label: { name: 'action', values: ['skip', 'close'] },
  registers,
});
export const cpuQueue = new client.Gauge({ name: 'veza_cpu_pool_queue', help: 'Tasks waiting for the CPU pool (password hashing)', registers });

// ----------------------------------------------------------------------------------------------
// Per thread: what is read at collection, and the event loop

let thread = 'main';
const hooks: (() => void)[] = [];

/** Run `fn` before each collection (to set gauges from live state). Returns a remover. */
export function onCollect(fn: () => void): () => void {
  hooks.push(fn);
  return () => {
    const i = hooks.indexOf(fn);
    if (i >= 0) hooks.splice(i, 1);
  };
}

export const threadName = (): string => thread;

const WINDOW_MS = 10_000;
let started = false;

/**
 * Name this thread in the metrics (`main`, `front-0`, `shard-1`) and watch its event loop: delay
 * through perf_hooks' histogram, utilisation through `eventLoopUtilization`, both over windows of
 * 10 s (the last complete one, or the current one when it shows more).
 */
export function startThreadMetrics(name: string): void {
  thread = name;
  if (started) return;
  started = true;
  // The histogram records each 10 ms timer's whole interval: the lag is what exceeds 10 ms.
  const RESOLUTION_MS = 10;
  const lagS = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1000;
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let last = { p50: 0, p99: 0, max: 0 };
  let eluMark: EventLoopUtilization = performance.eventLoopUtilization();
  let lastElu = 0;
  const timer = setInterval(() => {
    last = { p50: lagS(delay.percentile(50)), p99: lagS(delay.percentile(99)), max: lagS(delay.max) };
    delay.reset();
    lastElu = performance.eventLoopUtilization(eluMark).utilization;
    eluMark = performance.eventLoopUtilization();
  }, WINDOW_MS);
  timer.unref();
  onCollect(() => {
    const count = delay.count;
    const p50 = count > 0 ? Math.max(last.p50, lagS(delay.percentile(50))) : last.p50;
    const p99 = count > 0 ? Math.max(last.p99, lagS(delay.percentile(99))) : last.p99;
    const max = count > 0 ? Math.max(last.max, lagS(delay.max)) : last.max;
    eventLoopLag.set({ thread, quantile: '0.5' }, p50);
    eventLoopLag.set({ thread, quantile: '0.99' }, p99);
    eventLoopLag.set({ thread, quantile: '1' }, max);
    const now = performance.eventLoopUtilization(eluMark).utilization;
    eventLoopUtilization.set({ thread }, Math.max(lastElu, Number.isFinite(now) ? now : 0));
    eventLoopBusy.set({ thread }, performance.eventLoopUtilization().active / 1000);
    heapUsed.set({ thread }, getHeapStatistics().used_heap_size);
  });
}

/** This thread's metrics as prom-client JSON, gauges refreshed first. */
export async function collectThread(): Promise<client.MetricObjectWithValues<client.MetricValue<string>>[]> {
  for (const fn of hooks) fn();
  return registry.getMetricsAsJSON();
}

/** The process's own (memory, CPU, fds): once per process, on the main thread only. */
let processMetrics = false;
export function collectProcessMetrics(): void {
  if (processMetrics) return; // a test process may start several nodes
  processMetrics = true;
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
}
