import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadOutcome } from '../bench/cohort.js';
import { compare, formatComparison } from '../bench/compare.js';
import { Histogram } from '../bench/histogram.js';
import { byRole, parseStat, parseStatus, readProc, readThreads, threadCpuByName, threadRole, type ThreadSample } from '../bench/proc.js';
import { formatThreadCpu, niceTicks, renderReport } from '../bench/report-html.js';
import { makeResult, parseResult, readResult, resultFileName, writeResult, type BenchResult } from '../bench/result.js';
import { summaryRows, verdicts } from '../bench/suites.js';

/** A stored-looking outcome: 10 s of fan-out with a known latency distribution. */
function outcome(over: { throughput?: number; p?: number; cpuUs?: number; lost?: number; withServer?: boolean } = {}): LoadOutcome {
  const latency = new Histogram();
  for (let i = 1; i <= 10_000; i++) latency.record((over.p ?? 1) * i); // µs: p50 ≈ 5 ms × p
  const ackLatency = new Histogram();
  ackLatency.record(800);
  const thr = over.throughput ?? 300_000;
  const delivered = thr * 10 - (over.lost ?? 0);
  const withServer = over.withServer ?? true;
  return {
    workers: 2,
    connections: { planned: 1000, connected: 1000, failed: 0, joined: 1000, setup_ms: 900, connect_ms: { p50: 1, p90: 2, p99: 3, p999: 3, max: 3 } },
    window_s: 10,
    sent: 3000,
    delivered,
    expected: thr * 10,
    delivery_ratio: delivered / (thr * 10),
    sent_per_s: 300,
    throughput_per_s: delivered / 10,
    acks: 3000,
    latency,
    ackLatency,
    errors: withServer ? {} : { 'connect_failed:ECONNREFUSED': 2 },
    server: withServer
      ? {
          cpu_s: 3,
          cpu_us_per_delivery: over.cpuUs ?? 1,
          cpu_by_thread: { main: 0.2, front: 0.45678, shard: 0.25, cpu: 0, other: 0.1 },
          rss_mb: 80,
          rss_peak_mb: 81,
        }
      : { cpu_s: null, cpu_us_per_delivery: null, cpu_by_thread: null, rss_mb: null, rss_peak_mb: null },
    client: { cpu_s: 8, cpu_util: 0.4, cores_used: 0.8, worker_elu: [0.5, 0.6], worker_elu_max: 0.6, lag_max_ms: 2, saturated: false, lagging: false },
    dropped: 0,
    timeline: Array.from({ length: withServer ? 12 : 0 }, (_, k) => ({
      t: k + 1,
      phase: k === 0 ? ('warmup' as const) : k < 11 ? ('measure' as const) : ('drain' as const),
      sent: 300,
      throughput: thr + (k % 3) * 1000,
      acks: 300,
      p50_ms: 5,
      p99_ms: 9 + k,
      server_cpu: k === 4 ? null : 0.9,
      server_rss_mb: 80 + k,
      client_cpu: 0.8,
      elu_max: 0.6,
      open: 1000,
    })),
  };
}

const result = (o: LoadOutcome, suite = 'fanout'): BenchResult =>
  makeResult({
    suite,
    target: 'uws-baseline',
    startedAt: new Date('2026-01-15T10:30:00.000Z'),
    config: { connections: 1000, note: '<script>alert(1)</script>' },
    outcome: o,
    commit: null,
  });

t.test('HTML report from a stored result: charts, no NaN, escaped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'veza-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = result(outcome());
  const file = join(dir, resultFileName(r));
  t.equal(resultFileName(r), 'fanout-uws-baseline-2026-01-15T10-30-00-000Z.json');
  writeResult(file, r);
  const stored = readResult(file);
  t.same(stored, JSON.parse(JSON.stringify(r)), 'round trip');
  const html = renderReport(stored);
  t.match(html, /^<!doctype html>/);
  t.ok((html.match(/<svg/g) ?? []).length >= 5, 'five charts');
  t.match(html, /<polyline/, 'lines drawn');
  t.match(html, /<rect [^>]*class="bar"/, 'bars drawn');
  t.notMatch(html, /NaN|Infinity|undefined/);
  t.notMatch(html, /<script>/, 'config values are escaped');
  t.match(html, /&lt;script&gt;/);
  t.notMatch(html, /<script|<link|https?:\/\//, 'self-contained');
  t.match(html, /300,000/, 'throughput shown');
  t.same(stored.figures.server.cpu_us_per_delivery_by_thread, { main: 0.2, front: 0.457, shard: 0.25, cpu: 0, other: 0.1 }, 'rounded like its neighbours');
  t.match(html, /server CPU per delivery by thread \(µs\)<\/th><td>main 0\.20, front 0\.46, shard 0\.25, other 0\.10</);
});

t.test('HTML report with missing server figures and an empty timeline', async (t) => {
  const r = result(outcome({ withServer: false }));
  t.equal(r.figures.server.cpu_us_per_delivery, null);
  t.equal(r.figures.server.cpu_us_per_delivery_by_thread, null);
  const html = renderReport(parseResult(JSON.stringify(r)));
  t.match(html, /no data/);
  t.match(html, /connect_failed:ECONNREFUSED/);
  t.notMatch(html, /NaN|Infinity|undefined/);
  t.match(html, /by thread \(µs\)<\/th><td>—</);
  const older = parseResult(JSON.stringify(result(outcome())));
  delete older.figures.server.cpu_us_per_delivery_by_thread;
  t.notMatch(renderReport(older), /by thread/, 'a file from before the figure: no row');
  const sat = result(outcome());
  sat.figures.client.saturated = true;
  sat.figures.client.lagging = true;
  t.match(renderReport(sat), /saturated/);
  t.match(renderReport(sat), /oversubscribed/);
  t.throws(() => parseResult('{"suite":"x"}'), /not a bench result/);
  t.same(niceTicks(0), [0, 1]);
  t.same(niceTicks(97), [0, 20, 40, 60, 80, 100]);
});

t.test('compare: ratios, directions, threshold', async (t) => {
  const a = result(outcome());
  const same = compare(a, result(outcome()), 0.1);
  t.equal(same.regression, false);
  t.equal(same.rows.find((r) => r.figure === 'throughput_per_s')?.ratio, 1);

  const slower = compare(a, result(outcome({ throughput: 250_000 })), 0.1);
  t.equal(slower.regression, true, 'throughput down 17 %');
  t.same(slower.regressions, ['throughput_per_s']);
  t.match(formatComparison(slower), /throughput_per_s.*REGRESSION/);

  t.equal(compare(a, result(outcome({ throughput: 280_000 })), 0.1).regression, false, 'down 7 %: within 10 %');
  t.equal(compare(a, result(outcome({ throughput: 400_000 })), 0.1).regression, false, 'higher is better');

  const lat = compare(a, result(outcome({ p: 1.5 })), 0.1);
  t.ok(lat.regressions.includes('latency_ms.p99'), 'p99 up 50 %');
  t.notOk(lat.regressions.includes('latency_ms.max'), 'max is not gated');
  t.equal(compare(a, result(outcome({ p: 0.5 })), 0.1).regression, false, 'lower latency is better');

  t.same(compare(a, result(outcome({ cpuUs: 1.3 })), 0.1).regressions, ['server.cpu_us_per_delivery']);
  t.equal(compare(a, result(outcome({ cpuUs: 1.3 })), 0.5).regression, false, 'within a 50 % threshold');

  const lossy = compare(a, result(outcome({ lost: 30_000 })), 0.1);
  t.ok(lossy.regressions.includes('delivery_loss'), '1 % loss where there was none');
  t.equal(compare(a, result(outcome({ lost: 3 })), 0.1).regressions.includes('delivery_loss'), false, 'one in a million: tolerated');

  const other = compare(a, result(outcome(), 'rooms'));
  t.match(other.warnings, [/different suites/]);
  t.throws(() => compare(a, a, -1));
});

t.test('/proc parsing', async (t) => {
  const stat = '1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 150 0 0 20 0 7 0 100 1000 200';
  const s = parseStat(stat, 100);
  t.equal(s.cpuS, 4);
  t.equal(s.threads, 7);
  t.equal(s.comm, 'my (odd) name', 'the name keeps its spaces and parentheses');
  t.equal(s.startTicks, 100);
  t.throws(() => parseStat('garbage'));
  t.same(parseStatus('Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n'), { rssMb: 100, rssPeakMb: 200 });
  const me = readProc(process.pid);
  t.ok(me && me.cpuS > 0 && me.rssMb > 10 && me.threads >= 1, JSON.stringify(me));
  t.equal(readProc(2 ** 22 + 12345), null, 'no such process');
});

t.test('per-thread CPU: names, roles, threads that come and go', async (t) => {
  // Two fronts, a shard, a helper thread still called `node`, and a name with ") (" in it.
  const line = (tid: number, comm: string, ticks: number, start: number) =>
    `${tid} (${comm}) S 1 1234 1234 0 -1 4194560 500 0 0 0 ${ticks} 0 0 0 20 0 9 0 ${start} 1000 200`;
  const read = (lines: string[]): Map<string, ThreadSample> => {
    const out = new Map<string, ThreadSample>();
    for (const l of lines) {
      const s = parseStat(l, 100);
      out.set(`${l.split(' ')[0]}@${s.startTicks}`, { name: s.comm, cpuS: s.cpuS });
    }
    return out;
  };
  const from = read([
    line(1234, 'veza-main', 100, 10),
    line(1240, 'veza-front-0', 300, 20),
    line(1241, 'veza-front-1', 200, 20),
    line(1242, 'veza-shard-0', 150, 20),
    line(1235, 'node', 50, 10),
    line(1250, 'veza-cpu', 40, 30), // exits before the end: its time in the window is lost
    line(1260, 'veza-shard-1', 500, 25), // exits; a new thread reuses the id
  ]);
  const to = read([
    line(1234, 'veza-main', 130, 10),
    line(1240, 'veza-front-0', 400, 20),
    line(1241, 'veza-front-1', 260, 20),
    line(1242, 'veza-shard-0', 190, 20),
    line(1235, 'node', 55, 10),
    line(1236, 'node', 5, 900), // started within the window: counts from 0
    line(1260, 'weird ) (name', 7, 950), // the reused id: a new thread, counted from 0
  ]);
  const names = threadCpuByName(from, to);
  const near = (a: number | undefined, b: number) => Math.abs((a ?? NaN) - b) < 1e-9;
  t.ok(near(names.get('veza-main'), 0.3));
  t.ok(near(names.get('veza-front-0'), 1) && near(names.get('veza-front-1'), 0.6));
  t.ok(near(names.get('node'), 0.1), 'threads of one name summed, a new one from 0');
  t.ok(near(names.get('weird ) (name'), 0.07), 'a reused thread id is a new thread');
  t.notOk(names.has('veza-cpu'), 'an exited thread is gone');
  const roles = byRole(names);
  t.same(Object.keys(roles), ['main', 'front', 'shard', 'cpu', 'other']);
  t.ok(near(roles.front, 1.6) && near(roles.shard, 0.4) && near(roles.main, 0.3) && roles.cpu === 0 && near(roles.other, 0.17), JSON.stringify(roles));

  t.equal(threadRole('veza-shard-12'), 'shard');
  t.equal(threadRole('veza-cpu'), 'cpu');
  t.equal(threadRole('veza-test-1'), 'other', 'a veza- name of no role');
  t.equal(threadRole('uws-baseline'), 'other');
  t.equal(threadRole('libuv-worker'), 'other');
  t.equal(formatThreadCpu({ main: 10, front: 15.234, shard: 7.06, cpu: 0, other: 3.5 }), 'main 10.0, front 15.2, shard 7.1, other 3.5');
  t.equal(formatThreadCpu({ main: 0, front: 0, shard: 0, cpu: 0, other: 0 }), 'none');

  if (process.platform === 'linux') {
    const mine = readThreads(process.pid);
    t.ok(mine && mine.size >= 1 && [...mine.values()].some((th) => th.cpuS > 0), 'this process read');
    t.equal(readThreads(2 ** 22 + 12345), null, 'no such process');
  }
});

t.test('the summary table and the verdicts print a figure the same way', async (t) => {
  const r = { ...result(outcome(), 'rooms'), target: 'veza' as const };
  // 2.925 is 2.92499… in binary: toFixed(2) gave 2.92 in the verdict, the table said 2.93.
  r.figures.server_cpu_ratio_vs_baseline = 2.925;
  const verdict = verdicts(r).find((v) => v.what.startsWith('rooms server CPU'));
  const row = summaryRows([r])[1]!.join(' ');
  t.equal(verdict?.detail, '2.93×');
  t.match(row, 'CPU vs baseline 2.93×');
  t.equal(verdict?.ok, false);
  r.figures.server_cpu_ratio_vs_baseline = null;
  t.equal(verdicts(r).find((v) => v.what.startsWith('rooms server CPU'))?.detail, '—', 'no figure, no number');
});
