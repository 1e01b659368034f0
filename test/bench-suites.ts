/**
 * `veza-chat bench`: every suite, briefly, against a real server (the built CLI in a child
 * process, as the bench starts it), then the CLI end to end with its own self-started server, the
 * uWS baseline and the Socket.IO server on the same shape, `compare`'s exit code, and the report
 * rendered from the stored file. (The Socket.IO target's own tests: test/bench-socketio.ts.)
 * Figures asserted are real ones: delivery ratio 1 at a low rate, latency measured, connections
 * counted, server CPU and RSS read from /proc.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/cli/program.js';
import type { CliIO } from '../src/cli/io.js';
import { renderReport } from '../bench/report-html.js';
import { readResults, type BenchResult } from '../bench/result.js';
import { benchServerConfig, newJwtSecret, spawnVeza, writeBenchConfig } from '../bench/server.js';
import { BenchSession, runSuite, summaryRows, verdicts, type SuiteContext, type SuiteParams } from '../bench/suites.js';
import { BENCH_PASSWORD } from '../bench/users.js';
import { compiledBenchEntries, compiledNode } from './helpers/dist.js';
import { seedPgliteDir } from './helpers/pglite-seed.js';

// The server child runs dist/: refuse a stale build rather than test old code.
await compiledNode();
compiledBenchEntries();

const dir = mkdtempSync(join(tmpdir(), 'veza-bench-test-'));
const configFile = join(dir, 'config.json');
writeBenchConfig(configFile, benchServerConfig({ jwtSecret: newJwtSecret() }));
// A migrated PGlite directory copied in: the server's first start would pay initdb (seconds of CPU).
const server = await spawnVeza({ dataDir: await seedPgliteDir(join(dir, 'data')), configFile });
const logs: string[] = [];
// The `--url` path: users registered through REST, the server's pid for /proc.
const session = new BenchSession({
  url: server.url,
  createUsers: 40,
  serverPid: server.pid,
  log: (l) => logs.push(l),
  progress: () => {},
  progressDone: () => {},
});
t.teardown(async () => {
  await session.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});
const ctx: SuiteContext = { session, settings: { protocol: 'veza.json', auth: 'header', workers: 1 } };
const short: Partial<SuiteParams> = { durationS: 0.8, warmupS: 0.3 };

const one = async (suite: Parameters<typeof runSuite>[0], params: Partial<SuiteParams>): Promise<BenchResult> => {
  const results = await runSuite(suite, 'veza', { ...short, ...params }, ctx);
  return results[0] as BenchResult;
};

/**
 * Every error fails, dropped connections included. A freshly authenticated socket closed without a
 * close frame (1006) before its first `join_room` was answered used to be reported here as a tap
 * `todo`: the upgrade then happened from a promise callback inside `res.cork` (see
 * test/ws-upgrade.ts and docs/ARCHITECTURE.md); it is synchronous now, and a drop is a failure.
 */
function checkErrors(t: Test, r: BenchResult): void {
  t.same(r.errors, {}, `no errors, no connection dropped ${JSON.stringify(r.errors)} ${JSON.stringify(r.notes ?? [])}`);
}

function loadFigures(t: Test, r: BenchResult, conns: number): void {
  const f = r.figures;
  checkErrors(t, r);
  t.equal(f.connections.connected, conns, 'every connection opened');
  t.equal(f.connections.joined, conns, 'every connection joined');
  t.ok(f.sent > 0, `messages sent (${f.sent})`);
  t.equal(f.delivered, f.expected, `every delivery arrived (${f.delivered})`);
  t.equal(f.delivery_ratio, 1);
  t.ok(f.latency_ms.p50 > 0 && f.latency_ms.p50 <= f.latency_ms.p99, `latency ${JSON.stringify(f.latency_ms)}`);
  t.ok(f.ack_latency_ms.p50 > 0, 'acks timed');
  t.ok(f.server.cpu_s !== null && f.server.cpu_s > 0, 'server CPU from /proc');
  t.ok(f.server.rss_mb !== null && f.server.rss_mb > 10, 'server RSS from /proc');
  t.ok(r.timeline.length >= 1, 'a timeline');
}

t.test('fanout: one room, every member gets every message', async (t) => {
  const r = await one('fanout', { conns: 20, senders: 2, rate: 20 });
  t.equal(r.suite, 'fanout');
  t.equal(r.target, 'veza');
  loadFigures(t, r, 20);
  t.equal(r.figures.expected, r.figures.sent * r.figures.connections.joined, 'every member expects each message');
});

t.test('rooms and latency: rooms of 2', async (t) => {
  const r = await one('rooms', { conns: 20, rooms: 10, rate: 40 });
  loadFigures(t, r, 20);
  t.equal(r.figures.expected, r.figures.sent * 2);
  const l = await one('latency', { conns: 10, rooms: 5, rate: 10 });
  loadFigures(t, l, 10);
});

t.test('--client-ids: every send carries a fresh client_id, and the server stores each once', async (t) => {
  const since = new Date(Date.now() - 1).toISOString();
  const r = await runSuite('rooms', 'veza', { ...short, conns: 20, rooms: 10, rate: 40 }, { ...ctx, settings: { ...ctx.settings, clientIds: true } });
  const res = r[0] as BenchResult;
  loadFigures(t, res, 20);
  t.equal(res.config.client_ids, true, 'recorded in the result');
  // What the server stored, read back over REST as one of the bench's users.
  const login = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: `${session.prefix}_0`, password: BENCH_PASSWORD }),
  });
  t.equal(login.status, 200, 'bench user 0 logs in');
  const { access_token: token } = (await login.json()) as { access_token: string };
  const get = async (path: string) => {
    const res = await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const rooms = await get('/rooms');
  const mine = (rooms.body.rooms ?? rooms.body) as Array<{ id: number }>;
  // This run's messages: the earlier tests' rooms are user 0's too, with messages sent without.
  type Stored = { client_id: string | null; created_at: string };
  const stored: Stored[] = [];
  for (const room of mine) {
    const page = await get(`/rooms/${room.id}/messages?limit=100`);
    if (page.status === 200) stored.push(...(page.body.messages as Stored[]).filter((m) => m.created_at >= since));
  }
  t.ok(stored.length > 0, `this run's messages read back (${stored.length})`);
  const ids = stored.map((m) => m.client_id);
  t.ok(ids.every((id) => typeof id === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)), 'each a random UUID');
  t.equal(new Set(ids).size, ids.length, 'no two alike');
});

t.test('dm: create_dm then send_dm, both sides get each message', async (t) => {
  const r = await one('dm', { conns: 10, rate: 20 });
  loadFigures(t, r, 10);
  t.equal(r.config.send, 'dm');
  t.equal(r.figures.expected, r.figures.sent * 2);
});

t.test('ingest: closed loop, durable messages per second', async (t) => {
  const r = await one('ingest', { conns: 4, rooms: 2, window: 2 });
  loadFigures(t, r, 4);
  t.ok((r.figures.ingest_per_s ?? 0) > 0, `ingest ${r.figures.ingest_per_s}/s`);
  t.equal(r.figures.acks, r.figures.sent, 'every send in the window acked');
});

t.test('connections: idle authenticated connections and RSS per connection', async (t) => {
  const r = await one('connections', { conns: 60, durationS: 0.5 });
  checkErrors(t, r);
  t.equal(r.figures.connections.connected, 60);
  t.equal(r.figures.delivery_ratio, null, 'nothing expected');
  t.ok(r.figures.rss_idle_mb !== null && (r.figures.rss_idle_mb ?? 0) > 10, `idle RSS ${r.figures.rss_idle_mb} MiB`);
  t.type(r.figures.rss_kb_per_connection, 'number');
});

t.test('churn: connect, authenticate, close', async (t) => {
  const r = await one('churn', { conns: 2 });
  checkErrors(t, r);
  t.ok((r.figures.churn_per_s ?? 0) > 10, `churn ${r.figures.churn_per_s}/s`);
  t.ok(r.figures.latency_ms.p50 > 0, 'connect+authenticate timed');
  t.equal(r.figures.counters?.churn_failed, undefined, 'no failed cycle');
});

t.test('resume: everyone reconnects at once and gets the missed messages', async (t) => {
  const r = await one('resume', { conns: 20, rooms: 4, roomsPerConn: 2, missed: 5, durationS: 20 });
  checkErrors(t, r);
  // Clients the server dropped during the storm itself (not while joining) do not complete.
  const stormDrops = r.errors['closed:1006'] ?? 0;
  t.equal(r.figures.resume_clients, 20);
  t.equal(r.figures.resume_complete, 20 - stormDrops, 'every client got everything back');
  if (stormDrops === 0) {
    t.equal(r.figures.resumed, 40, 'one resumed per position');
    t.equal(r.figures.resumed_recovered, 40, 'all recovered');
    t.equal(r.figures.recovered_events, 20 * 2 * 5);
    t.equal(r.figures.delivery_ratio, 1);
  }
  t.ok(r.figures.latency_ms.p50 > 0);
});

t.test('flood: victims quiet, flooded and quiet again, with the flooder\'s figures', async (t) => {
  // A `--url` server keeps its own limits (here the bench's, none in practice): what is checked is
  // the suite's mechanics; the limits under a flood are test/live-flood.ts's.
  const r = await one('flood', { conns: 10, rooms: 5, rate: 20, durationS: 1 });
  checkErrors(t, r);
  const f = r.figures.flood!;
  t.ok(f, 'flood figures');
  t.ok((f.flooder?.sent ?? 0) > 0 && (f.flooder?.opened ?? 0) >= 1, `the flooder flooded: ${JSON.stringify(f.flooder)}`);
  for (const run of ['quiet_before', 'flooded', 'quiet_after'] as const) {
    t.ok(f.ack_p99_ms[run] > 0 && f.delivery_p99_ms[run] > 0, `${run}: ack and delivery timed`);
  }
  t.equal(f.ack_p99_ratio, Math.round((f.ack_p99_ms.flooded / ((f.ack_p99_ms.quiet_before + f.ack_p99_ms.quiet_after) / 2)) * 100) / 100);
  t.ok(f.rss_mb.start !== null && f.rss_mb.peak !== null && f.rss_mb.end !== null, `server RSS read: ${JSON.stringify(f.rss_mb)}`);
  t.equal(r.figures.delivered, r.figures.expected, 'the victims got every message');
  const v = verdicts(r).map((x) => x.what);
  t.ok(v.some((w) => w.startsWith("flood: other users' ack p99")) && v.some((w) => w.startsWith('flood: server RSS')), 'held to the issue\'s targets');
  t.match(summaryRows([r])[1]!.at(-1), /flooded\/quiet p99/);
});

t.test('mixed: every operation of the mix answered, over rooms of mixed sizes, with churn', async (t) => {
  const r = await one('mixed', { conns: 30, rate: 80, durationS: 2.5, warmupS: 1.5 });
  const f = r.figures;
  // Typing may not be built on this server yet: `not_implemented`, counted apart. Nothing else.
  const unexpected = Object.entries(r.errors).filter(([k]) => k !== 'server:typing:not_implemented');
  t.same(unexpected, [], `no other error ${JSON.stringify(r.errors)} ${JSON.stringify(r.notes ?? [])}`);
  t.equal(f.connections.connected, 30, 'every connection opened');
  t.equal(f.connections.joined, 30, 'every connection joined its rooms');
  t.ok((r.config.rooms_total as number) >= 4, `rooms of mixed sizes ${JSON.stringify(r.config.room_sizes)}`);
  t.equal(r.config.churning_connections, 1, 'one connection churns');
  t.ok((f.churn_reconnects ?? 0) >= 1, `it reconnected (${f.churn_reconnects})`);
  const ops = f.ops ?? {};
  t.same(Object.keys(ops), ['send_message', 'typing', 'add_reaction', 'mark_read', 'edit_message', 'delete_message']);
  for (const [op, o] of Object.entries(ops)) {
    t.ok(o.sent > 0, `${op} sent (${o.sent})`);
    if (op === 'typing' && o.acked === 0) {
      t.equal(o.errors, r.errors['server:typing:not_implemented'], 'typing: not built here, every reply not_implemented');
      t.ok(o.errors >= o.sent, 'and every one answered');
      continue;
    }
    t.ok(o.acked > 0, `${op} acked (${o.acked} of ${o.sent})`);
    t.equal(o.errors, 0, `${op}: no error`);
    t.ok(o.p50_ms !== null && o.p99_ms !== null && o.p50_ms > 0 && o.p50_ms <= o.p99_ms, `${op} ack latency ${o.p50_ms}..${o.p99_ms} ms`);
  }
  t.equal(f.acks, f.sent, 'every operation sent in the window answered');
  t.ok((f.ops_per_s ?? 0) > 0, `${f.ops_per_s} ops/s`);
  // Deliveries: message events to the other members (not the sender's own copy, not the churner).
  t.ok(f.delivered > 0);
  t.equal(f.delivered, f.expected, `every delivery arrived (${f.delivered})`);
  t.ok(f.latency_ms.p50 > 0 && f.latency_ms.p50 <= f.latency_ms.p99, `delivery latency ${JSON.stringify(f.latency_ms)}`);
  t.ok((f.counters?.['events:reaction_added'] ?? 0) > 0, 'reaction events reached the rooms');
  const v = verdicts(r);
  t.same(
    v.map((x) => x.what),
    ['mixed delivery p99 ≤ 50 ms', 'mixed ack p99 ≤ 50 ms, all operations', 'mixed: every operation acked'],
  );
  t.ok(v[2]?.ok, `every operation acked: ${v[2]?.detail}`);
  t.match(summaryRows([r])[1]?.[9] ?? '', /^ops [\d,]+\/s, acked and ack p99 ms: send_message \d+/);
});

t.test('ring: the runtime micro-bench', async (t) => {
  const [r] = await runSuite('ring', 'veza', { envelopes: 2000, roundTrips: 500 }, ctx);
  const f = (r as BenchResult).figures;
  t.ok((f.ring_per_s ?? 0) > 0 && (f.postmessage_per_s ?? 0) > 0);
  t.ok(Math.abs((f.ratio ?? 0) - (f.ring_per_s ?? 0) / (f.postmessage_per_s ?? 1)) < 0.01, `ratio ${f.ratio}`);
  t.ok((f.rtt_us?.p50 ?? 0) > 0 && (f.rtt_us?.p99 ?? 0) >= (f.rtt_us?.p50 ?? 0));
});

function captured(): CliIO & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (s) => void (out += s), err: (s) => void (err += s), env: {}, stdout: () => out, stderr: () => err };
}

t.test('CLI: self-started server with the baseline and Socket.IO, files, compare, report', async (t) => {
  const out = join(dir, 'fanout.json');
  const html = join(dir, 'fanout.html');
  const io = captured();
  // Enough deliveries (~15,000) that the baseline's CPU shows in /proc's 10 ms ticks.
  const args = ['bench', 'fanout', '--conns', '50', '--senders', '5', '--rate', '200', '--duration', '1.5', '--warmup', '0.3'];
  const code = await run([...args, '--workers', '1', '--compare-baseline', '--compare-socketio', '--out', out, '--html', html], io);
  t.equal(code, 0, io.stderr());
  t.match(io.stdout(), /fanout\s+veza/);
  t.match(io.stdout(), /fanout\s+uws-baseline/);
  t.match(io.stdout(), /fanout\s+socketio/);
  t.match(io.stdout(), /CPU vs baseline [\d.]+× \(runs before and after: [\d.]+, [\d.]+ µs\); CPU vs socket\.io [\d.]+×/);
  t.match(io.stdout(), /target (met|MISSED)\s+fan-out delivery ratio/);
  t.match(io.stdout(), /fanout\/veza server CPU per delivery by thread: main [\d.]+, front [\d.]+, shard [\d.]+.* µs \(sum [\d.]+ of [\d.]+\)/);
  t.match(io.stderr(), /fanout\/veza\s+\d+s (warmup|measure)/, 'a progress line per second');

  const results = readResults(out);
  t.same(
    results.map((r) => r.target),
    ['veza', 'uws-baseline', 'socketio'],
  );
  const [veza, base, sio] = results as [BenchResult, BenchResult, BenchResult];
  checkErrors(t, veza);
  t.equal(veza.figures.delivery_ratio, 1, JSON.stringify(veza.errors));
  t.equal(base.figures.delivery_ratio, 1, JSON.stringify(base.errors));
  t.ok((base.figures.server.cpu_us_per_delivery ?? 0) > 0);
  // Where veza's CPU went, from its threads' names; the threads together are (about) the process.
  const by = veza.figures.server.cpu_us_per_delivery_by_thread;
  const total = veza.figures.server.cpu_us_per_delivery ?? 0;
  t.ok(by && by.main > 0 && by.front > 0 && by.shard > 0, `by thread ${JSON.stringify(by)}`);
  const sum = by ? Object.values(by).reduce((a, v) => a + v, 0) : 0;
  // /proc counts in clock ticks (10 ms): each thread's difference is off by up to one tick, the
  // process's too. A node here has at most ~16 threads, so allow that many ticks, in µs per delivery.
  const cpuS = veza.figures.server.cpu_s ?? 0;
  const slack = total > 0 && cpuS > 0 ? (16 * 0.01 * total) / cpuS : 0;
  t.ok(Math.abs(sum - total) <= Math.max(slack, total * 0.05), `threads sum to ${sum} of ${total} µs (±${slack.toFixed(1)})`);
  const baseBy = base.figures.server.cpu_us_per_delivery_by_thread;
  t.ok(baseBy && baseBy.other > 0 && baseBy.main + baseBy.front + baseBy.shard + baseBy.cpu === 0, `the baseline names no veza thread: ${JSON.stringify(baseBy)}`);
  // Each reference ran just before and just after veza (the stored result is the second run); the
  // ratio is against the mean of the two, so drift of the machine's speed during the run cancels.
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  const vezaCpu = veza.figures.server.cpu_us_per_delivery ?? 0;
  const baseRuns = veza.figures.baseline_cpu_us_per_delivery_runs ?? [];
  t.equal(baseRuns.length, 2, `baseline runs ${JSON.stringify(baseRuns)}`);
  t.ok((baseRuns[0] ?? 0) > 0, 'the baseline ran before veza too');
  t.equal(baseRuns[1], base.figures.server.cpu_us_per_delivery, 'and after it: the stored baseline result');
  t.equal(veza.figures.baseline_cpu_us_per_delivery, r3(((baseRuns[0] ?? 0) + (baseRuns[1] ?? 0)) / 2));
  t.equal(veza.figures.server_cpu_ratio_vs_baseline, r3(vezaCpu / (veza.figures.baseline_cpu_us_per_delivery ?? 1)));
  t.equal(sio.figures.delivery_ratio, 1, JSON.stringify(sio.errors));
  const sioRuns = veza.figures.socketio_cpu_us_per_delivery_runs ?? [];
  t.equal(sioRuns.length, 2);
  t.equal(sioRuns[1], sio.figures.server.cpu_us_per_delivery);
  t.equal(veza.figures.socketio_cpu_us_per_delivery, r3(((sioRuns[0] ?? 0) + (sioRuns[1] ?? 0)) / 2));
  t.equal(veza.figures.server_cpu_ratio_vs_socketio, r3(vezaCpu / (veza.figures.socketio_cpu_us_per_delivery ?? 1)));
  t.match(readFileSync(html, 'utf8'), /fanout on veza[\s\S]*fanout on uws-baseline[\s\S]*fanout on socketio/);

  // The report renders from the stored result.
  const page = renderReport(veza);
  t.match(page, /<title>veza-chat bench: fanout on veza<\/title>/);
  t.match(page, /delivery ratio<\/th><td>1\.000000/);
  t.match(page, /server CPU per delivery vs baseline/);
  t.match(page, /server CPU per delivery vs Socket\.IO/);

  // compare: the same file passes; a candidate with half the throughput and 10× the p99 fails.
  const same = captured();
  t.equal(await run(['bench', 'compare', out, out], same), 0, same.stderr());
  t.match(same.stdout(), /no regression/);
  const worse = JSON.parse(readFileSync(out, 'utf8')) as { results: BenchResult[] };
  const w = worse.results[0] as BenchResult;
  w.figures.throughput_per_s /= 2;
  w.figures.latency_ms.p99 = w.figures.latency_ms.p99 * 10 + 5;
  const worseFile = join(dir, 'worse.json');
  writeFileSync(worseFile, JSON.stringify(worse));
  const cmp = captured();
  t.equal(await run(['bench', 'compare', out, worseFile, '--max-regression', '0.1'], cmp), 1);
  t.match(cmp.stdout(), /throughput_per_s.*REGRESSION/);
  t.match(cmp.stderr(), /regression beyond 10 %/);
  // Past a looser threshold the throughput halving is tolerated, the p99 still is not.
  const loose = captured();
  t.equal(await run(['bench', 'compare', out, worseFile, '--max-regression', '0.6'], loose), 1);
  t.notMatch(loose.stdout(), /throughput_per_s.*REGRESSION/);
});

t.test('CLI: what a target cannot run is refused by name; bad usage fails', async (t) => {
  const io = captured();
  t.equal(await run(['bench', 'resume', '--target', 'socketio'], io), 1);
  t.match(io.stderr(), /bench resume: the socketio target has no resume/);
  const c = captured();
  t.equal(await run(['bench', 'compare', 'only-one.json'], c), 1);
  t.match(c.stderr(), /two result files/);
  const d = captured();
  t.equal(await run(['bench', 'dm', '--target', 'uws-baseline', '--conns', '2'], d), 1);
  t.match(d.stderr(), /no direct conversations/);
  const m = captured();
  t.equal(await run(['bench', 'mixed', '--target', 'uws-baseline'], m), 1);
  t.match(m.stderr(), /bench mixed: the uws-baseline target has no mixed workload/);
});
