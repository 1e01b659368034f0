import t from 'tap';
import { pack } from 'msgpackr';
import { fanoutPlan, idlePlan, runLoad } from '../bench/cohort.js';
import { benchContent, FrameReader, KIND_ACK, KIND_MESSAGE, KIND_OTHER } from '../bench/frames.js';
import { makeResult, planSummary } from '../bench/result.js';
import { spawnBaseline } from '../bench/uws-baseline.js';
import { compiledBenchEntries } from './helpers/dist.js';

compiledBenchEntries();

t.test('FrameReader: fast path for message and ack, JSON and MessagePack, nothing else', async (t) => {
  const content = benchContent(12, 345, 1_700_000_000_123_456, 'x'.repeat(80));
  t.equal(content.length, 80);
  t.match(content, /^~b:12:345:1700000000123456~x+$/);
  const message = { type: 'message', data: { id: 1, seq: 9, content, message_type: 'text' } };
  const ack = { type: 'ack', reply_to: 's1700000000999999', data: { message_id: 1, seq: 9 } };

  const j = new FrameReader('veza.json');
  t.equal(j.read(Buffer.from(JSON.stringify(message))), KIND_MESSAGE);
  t.same([j.sender, j.seq, j.sentUs], [12, 345, 1_700_000_000_123_456]);
  t.equal(j.read(Buffer.from(JSON.stringify(ack))), KIND_ACK);
  t.equal(j.sentUs, 1_700_000_000_999_999);
  t.equal(j.read(Buffer.from(JSON.stringify({ data: message.data, type: 'message' }))), KIND_OTHER, 'other key order: slow path');
  t.equal(j.read(Buffer.from(JSON.stringify({ type: 'message', data: { content: 'hello' } }))), KIND_OTHER, 'not a bench message');
  t.equal(j.read(Buffer.from(JSON.stringify({ type: 'ack', reply_to: 'j5' }))), KIND_OTHER, 'a join reply');
  t.equal(j.read(Buffer.from('{"type":"joined"}')), KIND_OTHER);
  t.ok(j.readContent(content));
  t.notOk(j.readContent('~b:1:2:'), 'truncated marker');

  const m = new FrameReader('veza.msgpack');
  t.equal(m.read(pack(message)), KIND_MESSAGE);
  t.same([m.sender, m.seq, m.sentUs], [12, 345, 1_700_000_000_123_456]);
  t.equal(m.read(pack(ack)), KIND_ACK);
  t.equal(m.sentUs, 1_700_000_000_999_999);
  t.equal(m.read(pack({ type: 'joined', data: {} })), KIND_OTHER);
  t.equal(m.read(Buffer.from([0x91, 0x01])), KIND_OTHER, 'not a map');
});

// One reference server child for the whole file: starting one under tap's loader takes seconds.
const server = await spawnBaseline({ port: 0 });
t.teardown(() => server.stop());

t.test('end to end against the uWS baseline child: 2 workers, 200 members, 2 senders', async (t) => {
  const url = `ws://127.0.0.1:${server.port}/ws`;
  const plan = fanoutPlan({ url, members: 200, senders: 2, totalRate: 40, durationMs: 2000, warmupMs: 500, payloadBytes: 100 });
  const startedAt = new Date();
  const out = await runLoad(plan, { workers: 2, serverPid: server.pid });
  t.equal(out.workers, 2);
  t.same(out.connections, { ...out.connections, planned: 200, connected: 200, failed: 0, joined: 200 });
  t.same(out.errors, {}, 'no errors');
  t.ok(out.sent >= 70 && out.sent <= 90, `about 80 messages sent in the window (${out.sent})`);
  t.equal(out.expected, out.sent * 200, 'every member, sender included, expects each message');
  t.equal(out.delivery_ratio, 1, 'every delivery arrived');
  t.equal(out.acks, out.sent, 'every send acked');
  const p = out.latency.percentiles();
  t.ok(p.p50 > 0 && p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.max, `latency µs ${JSON.stringify(p)}`);
  t.ok(out.server.cpu_s !== null && out.server.cpu_s > 0, 'server CPU read from /proc');
  t.ok(out.server.rss_mb !== null && out.server.rss_mb > 10, 'server RSS read from /proc');
  t.ok(out.client.cpu_util > 0 && out.client.cpu_util < 1);
  t.equal(out.client.worker_elu.length, 2);
  t.ok(out.timeline.length >= 2, 'a point per second');
  t.ok(out.timeline.every((pt) => pt.server_cpu !== null && Number.isFinite(pt.client_cpu)));
  t.equal(out.dropped, 0);

  const r = makeResult({ suite: 'fanout-small', target: 'uws-baseline', startedAt, config: planSummary(plan, { workers: 2 }), outcome: out });
  t.equal(r.figures.delivery_ratio, 1);
  t.ok(r.figures.latency_ms.p99 > 0 && r.figures.latency_ms.p99 < 1000);
  t.ok(r.commit === null || /^[0-9a-f]{40}$/.test(r.commit));
  t.equal(r.config.connections, 200);
  t.equal(r.config.total_rate, 40);
  t.ok(r.machine.cpus >= 1 && r.machine.memory > 0);
});

t.test('MessagePack, auth by first frame, and per-connection errors are counted, not thrown', async (t) => {
  const url = `ws://127.0.0.1:${server.port}/ws`;
  const plan = fanoutPlan({
    url,
    members: 20,
    senders: 2,
    totalRate: 40,
    durationMs: 500,
    warmupMs: 200,
    protocol: 'veza.msgpack',
    auth: 'frame',
    tokens: ['t1', 't2'],
  });
  const out = await runLoad(plan, { workers: 1 });
  t.equal(out.delivery_ratio, 1);
  t.ok(out.delivered > 0);
  t.equal(out.server.cpu_s, null, 'no pid, no server figures');

  const bad = idlePlan({ url: url.replace('/ws', '/nope'), conns: 10, durationMs: 200, warmupMs: 0 });
  const o2 = await runLoad(bad, { workers: 1 });
  t.equal(o2.connections.connected, 0);
  t.same(o2.errors, { 'handshake_status:404': 10 });
  t.equal(o2.delivery_ratio, null, 'nothing expected');
});
