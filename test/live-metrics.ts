/**
 * Issue 18 end to end: after real traffic over WebSocket and REST against a live node (two front
 * and two shard threads), `GET /metrics` is parsed with a Prometheus text-format parser and its
 * counters match what the test sent, merged across the threads (and equal to the sum of each
 * thread's own registry); the histograms' counts equal the operations made; the runtime's gauges
 * name every thread. Then the admin status endpoint and its token. On embedded PGlite: the metrics
 * do not depend on the backend, and test/cli-observability.ts runs its node on PostgreSQL when
 * VEZA_TEST_DATABASE_URL is set (one node per file keeps these files within the suite's budget).
 */
import t, { type Test } from 'tap';
import { ROOM } from '../src/actors/messages.js';
import { shardOf } from '../src/runtime/actors/placement.js';
import { call } from './helpers/http.js';
import { room, startLive, type Backend, type Live, type TestClient } from './helpers/live.js';
import { parseExposition, type Exposition } from './helpers/prom-text.js';

const ADMIN = 'admin-token-for-the-tests-0123456789';
const THREADS = ['main', 'front-0', 'front-1', 'shard-0', 'shard-1'];

async function scrape(t: Test, live: Live): Promise<Exposition & { ms: number }> {
  const started = performance.now();
  const res = await fetch(`${live.url}/metrics`);
  const text = await res.text();
  const ms = performance.now() - started;
  t.equal(res.status, 200, 'GET /metrics answers 200');
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/, 'in the Prometheus text format');
  return { ...parseExposition(text), ms };
}

/** Every counter of `after` minus `before`, for one sample name and labels. */
const delta = (before: Exposition, after: Exposition, name: string, where: Record<string, string> = {}) => after.sum(name, where) - before.sum(name, where);

function suite(t: Test, backend: Backend): void {
  t.test(`${backend}: counters and histograms across threads match the traffic`, async (t) => {
    const live = await startLive(t, backend, {
      limits: { perMinute: { create_room: 100, join_room: 3, send_message: 1000 } },
      admin: { token: ADMIN },
    });
    if (!live) return;
    const [alice, bob, dave] = [await live.user('alice'), await live.user('bob'), await live.user('dave')];
    // One room on each shard, so both shards count messages.
    const byShard = new Map<number, number>();
    for (let n = 0; byShard.size < 2; n++) {
      const id = await room(live, alice.token, `metrics-${n}`);
      if (!byShard.has(shardOf(ROOM, String(id), 2))) byShard.set(shardOf(ROOM, String(id), 2), id);
    }
    const [r0, r1] = [byShard.get(0)!, byShard.get(1)!];
    for (const id of [r0, r1]) t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: bob.token })).status, 200);

    const before = await scrape(t, live);
    t.same(
      THREADS.map((thread) => before.sum('veza_thread_up', { thread })),
      [1, 1, 1, 1, 1],
      'every thread answered the scrape',
    );

    // Nine sockets: eight authenticated at the upgrade, one by its first frame.
    const clients: TestClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await live.client(alice.token));
    for (let i = 0; i < 4; i++) clients.push(await live.client(bob.token, { protocol: i % 2 === 0 ? 'veza.json' : 'veza.msgpack' }));
    const late = await live.client(null, { atUpgrade: false });
    t.equal((await late.request('authenticate', { token: dave.token })).type, 'ack');
    clients.push(late);
    const a = clients.slice(0, 4);

    // 7 room messages over WebSocket, 4 over REST, 3 in a DM; sizes in UTF-8 bytes.
    const contents: string[] = [];
    const wsSends: Promise<unknown>[] = [];
    for (let i = 0; i < 7; i++) {
      const content = `héllo ✓ ${i}`;
      contents.push(content);
      wsSends.push(a[i % 4]!.ok('send_message', { room_id: i < 4 ? r0 : r1, content }));
    }
    await Promise.all(wsSends);
    for (let i = 0; i < 4; i++) {
      const content = `rest ${'x'.repeat(i * 100)}`;
      contents.push(content);
      t.equal((await call(live.url, 'POST', `/api/v1/rooms/${r1}/messages`, { token: bob.token, body: { content } })).status, 201);
    }
    const dm = await a[0]!.ok('create_dm', { user_id: bob.id });
    const dmContents = ['dm one', 'dm twö', 'dm three'];
    for (const content of dmContents) await a[1]!.ok('send_dm', { conversation_id: dm.conversation_id, content });

    // Failures: a bad frame, a wrong password, and dave's fourth join within the minute.
    t.equal((await a[2]!.request('send_message', { room_id: 'nope', content: 'x' })).data.code, 'validation_failed');
    t.equal((await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: alice.username, password: 'wrong password!' } })).status, 401);
    const joins = [];
    for (const id of [r0, r1, r0, r1]) joins.push(await late.request('join_room', { room_id: id }));
    t.same(
      joins.map((f) => (f.type === 'ack' ? 'ack' : f.data.code)),
      ['ack', 'ack', 'ack', 'rate_limited'],
      'join_room is limited to 3 a minute',
    );

    const after = await scrape(t, live);
    const bytes = (s: string) => Buffer.byteLength(s);
    t.equal(delta(before, after, 'chat_websocket_connections_total'), 9, 'connections opened');
    t.equal(after.sum('chat_websocket_connections_active'), 9, 'connections open');
    t.equal(delta(before, after, 'chat_messages_received_total', { type: 'room' }), 11, 'room messages received (WebSocket and REST)');
    t.equal(delta(before, after, 'chat_messages_received_total', { type: 'dm' }), 3, 'DM messages received');
    t.equal(delta(before, after, 'chat_messages_sent_total', { type: 'room' }), 11, 'room messages committed and published');
    t.equal(delta(before, after, 'chat_messages_sent_total', { type: 'dm' }), 3, 'DM messages committed and published');
    t.equal(delta(before, after, 'chat_message_size_bytes_count', { type: 'room' }), 11, 'one size per room message');
    t.equal(delta(before, after, 'chat_message_size_bytes_sum', { type: 'room' }), contents.reduce((n, c) => n + bytes(c), 0), 'sizes in UTF-8 bytes');
    t.equal(delta(before, after, 'chat_message_size_bytes_sum', { type: 'dm' }), dmContents.reduce((n, c) => n + bytes(c), 0));
    t.equal(
      delta(before, after, 'chat_message_size_bytes_bucket', { type: 'room', le: '16' }),
      contents.filter((c) => bytes(c) <= 16).length,
      'the short ones in the first bucket',
    );

    // The processing histogram: one observation per operation answered, by operation.
    const ops = { send_message: 7, send_dm: 3, create_dm: 1, join_room: 4 };
    for (const [operation, n] of Object.entries(ops)) {
      t.equal(delta(before, after, 'chat_message_processing_duration_seconds_count', { operation }), n, `${operation}: ${n} observations`);
      t.equal(delta(before, after, 'chat_message_processing_duration_seconds_bucket', { operation, le: '+Inf' }), n, `${operation}: +Inf bucket is the count`);
    }
    t.equal(delta(before, after, 'chat_message_processing_duration_seconds_count'), 15, 'no other operation observed');
    t.ok(delta(before, after, 'chat_message_processing_duration_seconds_sum', { operation: 'send_message' }) > 0);

    t.equal(delta(before, after, 'chat_http_requests_total', { route: '/api/v1/rooms/:id/messages', method: 'POST', status: '201' }), 4, 'REST posts by route pattern');
    t.equal(delta(before, after, 'chat_http_request_duration_seconds_count', { route: '/api/v1/rooms/:id/messages' }), 4);
    t.equal(delta(before, after, 'chat_auth_requests_total', { method: 'login', status: 'failure' }), 1, 'the wrong password');
    t.equal(delta(before, after, 'chat_auth_requests_total', { method: 'token', status: 'success' }), 9, 'nine sockets authenticated');
    t.equal(delta(before, after, 'chat_auth_duration_seconds_count', { method: 'login' }), 1);
    t.equal(delta(before, after, 'chat_errors_total', { type: 'validation' }), 1, 'the bad frame');
    t.equal(delta(before, after, 'chat_errors_total', { type: 'auth' }), 1, 'the refused login');
    t.equal(delta(before, after, 'chat_errors_total', { type: 'rate_limit', severity: 'warning' }), 1, 'the refused join');
    t.equal(delta(before, after, 'chat_errors_total', { severity: 'critical' }), 0, 'no internal error');
    t.equal(delta(before, after, 'chat_rate_limit_exceeded_total', { action_type: 'join_room' }), 1);

    // Group commit: every message is one row of some batch.
    t.equal(delta(before, after, 'veza_group_commit_batch_size_sum'), 14, '14 rows committed');
    const commits = delta(before, after, 'veza_group_commit_batch_size_count');
    t.ok(commits >= 1 && commits <= 14, `${commits} commits`);
    t.equal(delta(before, after, 'veza_group_commit_duration_seconds_count'), commits, 'one latency per commit');

    // Store operations: counter and histogram agree kind by kind; messages were inserted.
    for (const operation of ['select', 'insert', 'update', 'delete']) {
      t.equal(after.sum('chat_db_operation_duration_seconds_count', { operation }), after.sum('chat_db_operations_total', { operation }), `store ${operation}: histogram count = counter`);
    }
    t.ok(delta(before, after, 'chat_db_operations_total', { operation: 'insert' }) >= 1, 'inserts counted');
    t.ok(after.sum('chat_db_connections_total') >= 1, 'database connections counted');

    // The runtime: every thread named, both shards host actors, rings between every linked pair.
    for (const thread of THREADS) {
      t.equal(after.find('veza_event_loop_lag_seconds', { thread, quantile: '0.99' }).length, 1, `${thread}: event-loop lag`);
      t.equal(after.find('veza_event_loop_utilization', { thread }).length, 1, `${thread}: event-loop utilisation`);
    }
    t.ok(after.sum('veza_actors_active', { shard: '0' }) > 0 && after.sum('veza_actors_active', { shard: '1' }) > 0, 'actors on both shards');
    t.equal(after.find('veza_ring_occupancy_ratio', { from: 'front-1', to: 'shard-0' }).length, 1, 'a ring per linked pair');
    t.equal(after.find('veza_ring_occupancy_ratio').length, 10, '2 fronts x 2 shards both ways, and shard to shard');
    t.equal(after.sum('veza_worker_restarts_total'), 0);
    t.ok(after.sum('process_resident_memory_bytes') > 0 && after.sum('process_open_fds') > 0 && after.sum('process_cpu_seconds_total') > 0, 'process metrics');
    t.equal(after.types.get('chat_message_processing_duration_seconds'), 'HISTOGRAM');
    t.equal(after.types.get('chat_messages_received_total'), 'COUNTER');
    t.equal(after.types.get('veza_mailbox_depth'), 'GAUGE');

    // The merge is exact: each thread's own registry, summed, is what /metrics said.
    const own = await Promise.all(
      (['front', 'shard'] as const).flatMap((role) => [0, 1].map((i) => live.node.supervisor.control(role, i, { t: 'metrics' }) as Promise<{ name: string; values: { value: number; labels: Record<string, string> }[] }[]>)),
    );
    const ofThread = (json: (typeof own)[number], name: string, where: Record<string, string> = {}) =>
      (json.find((m) => m.name === name)?.values ?? []).filter((v) => Object.entries(where).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
    const [f0, f1, s0, s1] = own as [(typeof own)[number], (typeof own)[number], (typeof own)[number], (typeof own)[number]];
    t.equal(ofThread(f0, 'chat_messages_received_total') + ofThread(f1, 'chat_messages_received_total'), after.sum('chat_messages_received_total'), 'received: the fronts summed');
    t.equal(ofThread(s0, 'chat_messages_sent_total') + ofThread(s1, 'chat_messages_sent_total'), after.sum('chat_messages_sent_total'), 'sent: the shards summed');
    t.ok(ofThread(s0, 'chat_messages_sent_total') > 0 && ofThread(s1, 'chat_messages_sent_total') > 0, 'both shards sent messages');
    t.equal(ofThread(f0, 'chat_websocket_connections_total') + ofThread(f1, 'chat_websocket_connections_total'), 9);
    t.comment(`sockets per front: ${ofThread(f0, 'chat_websocket_connections_active')} and ${ofThread(f1, 'chat_websocket_connections_active')}`);
    t.equal(
      ofThread(f0, 'chat_message_processing_duration_seconds', { operation: 'send_message', le: '+Inf' }) +
        ofThread(f1, 'chat_message_processing_duration_seconds', { operation: 'send_message', le: '+Inf' }),
      7,
      'histogram buckets summed across fronts',
    );

    // Closing three sockets: active goes down, three durations observed.
    for (const c of clients.slice(0, 3)) c.close();
    await Promise.all(clients.slice(0, 3).map((c) => c.waitClose()));
    let closed = await scrape(t, live);
    for (let i = 0; i < 50 && closed.sum('chat_websocket_connections_active') !== 6; i++) {
      await new Promise((r) => setTimeout(r, 100)); // the fronts' close handlers run after the client saw the close
      closed = await scrape(t, live);
    }
    t.equal(closed.sum('chat_websocket_connections_active'), 6, 'six still open');
    t.equal(delta(after, closed, 'chat_websocket_connection_duration_seconds_count'), 3, 'three durations');
    t.comment(`${backend}: one scrape at ${closed.sum('chat_websocket_connections_active')} connections took ${closed.ms.toFixed(1)} ms (${after.samples.length} samples)`);

    // The admin status: its token, and its figures.
    t.equal((await call(live.url, 'GET', '/api/v1/admin/status')).status, 401, 'no token: 401');
    t.equal((await call(live.url, 'GET', '/api/v1/admin/status', { token: alice.token })).status, 401, "a user's token is not the admin token");
    const status = await call(live.url, 'GET', '/api/v1/admin/status', { token: ADMIN });
    t.equal(status.status, 200);
    t.equal(status.body.connections.active, 6);
    t.same(status.body.threads.map((x: { thread: string; up: boolean }) => [x.thread, x.up]), [
      ['main', true],
      ['front-0', true],
      ['front-1', true],
      ['shard-0', true],
      ['shard-1', true],
    ]);
    t.same(Object.keys(status.body.actors.per_shard).sort(), ['0', '1']);
    t.equal(status.body.node.store, backend);
    t.equal(status.body.restarts.total, 0);

    // A shard thread dies: the supervisor restarts it, and the count says so.
    const sup = live.node.supervisor;
    const restarted = new Promise<void>((resolve) => sup.once('restart', () => resolve()));
    await sup.worker('shard', 1)!.terminate();
    await restarted;
    await sup.whenReady('shard', 1);
    const again = await scrape(t, live);
    t.equal(again.sum('veza_worker_restarts_total', { role: 'shard' }), 1, 'one shard restart counted');
    t.equal(again.sum('veza_worker_restarts_total', { role: 'front' }), 0);
    t.equal(again.sum('veza_thread_up', { thread: 'shard-1' }), 1, 'the new shard-1 answers');
    t.equal((await call(live.url, 'GET', '/api/v1/admin/status', { token: ADMIN })).body.restarts.shard, 1, 'status: one shard restart');
    for (const c of clients.slice(3)) c.close();
  });
}

suite(t, 'pglite');
