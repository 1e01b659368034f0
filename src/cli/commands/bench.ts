import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import type { AuthMode } from '../../../bench/cohort-messages.js';
import type { RoleFigures } from '../../../bench/proc.js';
import type { BenchResult, BenchSet } from '../../../bench/result.js';
import { COMPARABLE_SUITES, SUITES, TARGETS, unsupported, type ReferenceTarget, type Suite, type TargetKind } from '../../../bench/suite-names.js';
import type { SuiteParams } from '../../../bench/suites.js';
import { CliError, type CliIO } from '../io.js';
import { integer } from '../options.js';

interface BenchFlags {
  url?: string;
  tokensFile?: string;
  createUsers?: number;
  serverPid?: number;
  target: TargetKind;
  databaseUrl?: string;
  fronts?: number;
  shards?: number;
  serverCpuProf?: string;
  serverConfig?: string;
  keepData?: boolean;
  duration?: number;
  warmup?: number;
  conns?: number;
  rooms?: number;
  senders?: number;
  rate?: number;
  size?: number;
  window?: number;
  missed?: number;
  roomsPerConn?: number;
  envelopes?: number;
  roundTrips?: number;
  protocol: 'json' | 'msgpack';
  auth: AuthMode;
  workers?: number;
  connectConcurrency?: number;
  clientIds?: boolean;
  compareBaseline?: boolean;
  compareSocketio?: boolean;
  out?: string;
  html?: string;
  resultsDir?: string;
  json?: boolean;
  maxRegression: number;
}

const number = (min: number) => (value: string) => {
  const n = Number(value);
  if (!/^\s*[0-9.eE+-]+\s*$/.test(value) || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number ≥ ${min}`);
  return n;
};

/** The `standard` set (`npm run bench`): a few minutes on a 2-core machine. */
const STANDARD: ReadonlyArray<{ suite: Suite; params: Partial<SuiteParams>; baseline: boolean }> = [
  { suite: 'ring', params: {}, baseline: false },
  { suite: 'fanout', params: { conns: 1000, senders: 10, rate: 300, durationS: 10, warmupS: 2 }, baseline: true },
  { suite: 'rooms', params: { conns: 2000, rooms: 1000, rate: 10_000, durationS: 10, warmupS: 2 }, baseline: true },
  { suite: 'connections', params: { conns: 15_000, durationS: 3, warmupS: 1 }, baseline: false },
  // No baseline: the uWS baseline has none of its operations (typing, reactions, read markers, edits).
  { suite: 'mixed', params: { conns: 1000, durationS: 10, warmupS: 3 }, baseline: false },
  // Issue 17's figures: other users' p99 and the server's RSS under one user's one-minute flood.
  { suite: 'flood', params: { conns: 100, rooms: 50, rate: 100, durationS: 60, warmupS: 2 }, baseline: false },
];

/** bench/results under the working directory (the repository's, for `npm run bench`; never inside an installed package). */
const defaultResultsDir = () => join(process.cwd(), 'bench', 'results');

export function registerBench(program: Command, io: CliIO): void {
  program
    .command('bench')
    .description(
      'load-test a server and write results (JSON, HTML): suites fanout, rooms, dm, latency, ingest, connections, churn, resume, mixed, ring; ' +
        '`standard` runs the set `npm run bench` runs; `compare A.json B.json` checks for regressions',
    )
    .addArgument(new Argument('<suite>', 'what to run').choices([...SUITES, 'standard', 'compare']))
    .argument('[files...]', 'compare: the reference result file, then the candidate')
    .option('--url <url>', 'a running server (http://host:port); without it the bench starts its own')
    .option('--tokens-file <file>', 'with --url: access tokens, one per line')
    .option('--create-users <n>', 'with --url: register this many users through REST', integer(1))
    .option('--server-pid <pid>', 'with --url: the server process on this machine, for its CPU and RSS', integer(1))
    .addOption(new Option('--target <target>', 'what to measure: veza, or a reference server (uws-baseline: plain uWS speaking veza\'s frames; socketio: socket.io on node:http, which needs the socket.io package installed)').choices([...TARGETS]).default('veza'))
    .option('--database-url <url>', 'self-started server: PostgreSQL instead of embedded PGlite')
    .option('--fronts <n>', 'self-started server: front threads', integer(1, 64))
    .option('--shards <n>', 'self-started server: shard threads', integer(1, 64))
    .option('--server-cpu-prof <dir>', 'self-started server: write V8 CPU profiles (--cpu-prof) into this directory')
    .option('--server-config <json>', 'self-started server: configuration merged into the bench configuration (JSON)')
    .option('--keep-data', 'self-started server: keep its temp directory (data, configuration)')
    .option('--duration <s>', 'measured seconds (resume: the longest wait)', number(0))
    .option('--warmup <s>', 'seconds of load before the measured window', number(0))
    .option('--conns <n>', 'connections (fanout: room members; churn: parallel slots; resume: clients; mixed: in rooms of mixed sizes)', integer(1))
    .option('--rooms <n>', 'rooms (rooms, latency, ingest, resume)', integer(1))
    .option('--senders <n>', 'fanout: members that send', integer(1))
    .option('--rate <n>', 'total messages per second (fanout, rooms, dm, latency); mixed: operations per second', number(0))
    .option('--size <bytes>', 'message content bytes', integer(24, 1_000_000))
    .option('--window <n>', 'ingest: sends in flight per sender', integer(1))
    .option('--missed <n>', 'resume: messages each room gets while its members are away', integer(0))
    .option('--rooms-per-conn <n>', 'resume: rooms each client resumes', integer(1))
    .option('--envelopes <n>', 'ring: envelopes per throughput run', integer(1000))
    .option('--round-trips <n>', 'ring: round trips timed', integer(100))
    .addOption(new Option('--protocol <codec>', 'sub-protocol (veza, uws-baseline; socketio speaks JSON)').choices(['json', 'msgpack']).default('json'))
    .addOption(new Option('--auth <mode>', 'how clients authenticate to veza (socketio: the token is in the connect packet)').choices(['header', 'query', 'frame']).default('header'))
    .option('--workers <n>', 'client cohort threads (default: the machine\'s cores)', integer(1, 64))
    .option('--connect-concurrency <n>', 'handshakes in flight', integer(1))
    .option('--client-ids', 'every message carries a fresh client_id (the idempotency key real clients send)')
    .option('--compare-baseline', 'also run the uWS baseline on the same shape and report veza\'s CPU per delivery against it')
    .option('--compare-socketio', 'also run the Socket.IO server on the same shape and report veza\'s CPU per delivery against it (standard: with fanout and rooms; needs the socket.io package)')
    .option('--out <file>', 'write the result JSON here')
    .option('--html <file>', 'write the HTML report here')
    .option('--results-dir <dir>', 'standard: where results go (default ./bench/results under the working directory)')
    .option('--json', 'print the result JSON on stdout (the summary goes to stderr)')
    .option('--max-regression <fraction>', 'compare: the largest tolerated regression', number(0), 0.1)
    .action(async (suite: Suite | 'standard' | 'compare', files: string[], flags: BenchFlags) => {
      if (suite === 'compare') return compareCommand(files, flags, io);
      if (files.length > 0) throw new CliError(`unexpected arguments: ${files.join(' ')}`);
      return benchCommand(suite, flags, io);
    });
}

async function compareCommand(files: string[], flags: BenchFlags, io: CliIO): Promise<void> {
  if (files.length !== 2) throw new CliError('compare needs two result files: bench compare A.json B.json');
  const { readResults } = await import('../../../bench/result.js');
  const { compareAll, formatFileComparison } = await import('../../../bench/compare.js');
  let a: BenchResult[];
  let b: BenchResult[];
  try {
    a = readResults(files[0] as string);
    b = readResults(files[1] as string);
  } catch (e) {
    throw new CliError((e as Error).message, 1, { cause: e });
  }
  const c = compareAll(a, b, flags.maxRegression);
  io.out(formatFileComparison(c) + '\n');
  if (c.pairs.length === 0) throw new CliError('nothing to compare: no suite and target in common');
  if (c.regression) throw new CliError(`regression beyond ${(flags.maxRegression * 100).toFixed(0)} % (${c.pairs.filter((p) => p.comparison.regression).map((p) => `${p.key}: ${p.comparison.regressions.join(', ')}`).join('; ')})`, 1);
}

/** The progress line: overwritten in place on a terminal, one line per update otherwise. */
function progressWriter(io: CliIO): { progress: (line: string) => void; done: () => void; log: (line: string) => void } {
  // processIO's output is the process's stderr; a test's captured io (its own env) is not a terminal.
  const tty = process.stderr.isTTY === true && io.env === process.env;
  let open = false;
  return {
    progress: (line) => {
      if (tty) {
        io.err(`\r\x1b[K${line}`);
        open = true;
      } else io.err(line + '\n');
    },
    done: () => {
      if (open) io.err('\n');
      open = false;
    },
    log: (line) => {
      if (open) io.err('\n');
      open = false;
      io.err(line + '\n');
    },
  };
}

async function benchCommand(suite: Suite | 'standard', flags: BenchFlags, io: CliIO): Promise<void> {
  // The bench's code is loaded only when a bench runs: other commands start without it.
  const { BenchSession, formatTable, resolveParams, runSuite, summaryRows, usersNeeded, verdicts } = await import(
    '../../../bench/suites.js'
  );
  const { makeSet, resultFileName, writeResult } = await import('../../../bench/result.js');
  const { formatThreadCpu, renderReport, renderSetReport } = await import('../../../bench/report-html.js');
  // Before anything starts: what the target cannot do.
  if (suite !== 'standard' && suite !== 'ring') {
    const refused = unsupported(flags.target, suite);
    if (refused !== null) throw new CliError(`bench ${suite}: ${refused}`);
  }
  if (flags.target === 'socketio' && flags.protocol !== 'json') {
    throw new CliError(`--target socketio speaks Socket.IO's JSON parser: --protocol ${flags.protocol} does not apply`);
  }
  if (flags.target === 'socketio' || flags.compareSocketio) {
    // socket.io is a devDependency: say how to add it before anything starts.
    const { requireSocketIo, SocketIoMissing } = await import('../../../bench/socketio-package.js');
    try {
      requireSocketIo();
    } catch (e) {
      if (e instanceof SocketIoMissing) throw new CliError(e.message, 1, { cause: e });
      throw e;
    }
  }
  if (flags.url !== undefined && !/^https?:\/\/[^/]+\/?$/.test(flags.url)) throw new CliError('--url is http://host:port');
  if (flags.url !== undefined && flags.target !== 'veza') throw new CliError(`--url is a running veza server: the ${flags.target} target is a server the bench starts itself`);
  if (flags.url !== undefined && flags.url.startsWith('https')) throw new CliError('--url: the bench client speaks plain ws:// only');
  if ((flags.tokensFile || flags.createUsers) && flags.url === undefined) throw new CliError('--tokens-file and --create-users go with --url');
  let serverConfig: Record<string, unknown> | undefined;
  if (flags.serverConfig !== undefined) {
    try {
      serverConfig = JSON.parse(flags.serverConfig) as Record<string, unknown>;
    } catch (e) {
      throw new CliError(`--server-config is not JSON: ${(e as Error).message}`, 1, { cause: e });
    }
  }
  const pw = progressWriter(io);
  const session = new BenchSession({
    ...(flags.url !== undefined ? { url: flags.url } : {}),
    ...(flags.tokensFile !== undefined ? { tokensFile: flags.tokensFile } : {}),
    ...(flags.createUsers !== undefined ? { createUsers: flags.createUsers } : {}),
    ...(flags.serverPid !== undefined ? { serverPid: flags.serverPid } : {}),
    ...(flags.databaseUrl !== undefined ? { databaseUrl: flags.databaseUrl } : {}),
    ...(flags.fronts !== undefined ? { fronts: flags.fronts } : {}),
    ...(flags.shards !== undefined ? { shards: flags.shards } : {}),
    ...(flags.serverCpuProf !== undefined ? { serverNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${resolve(flags.serverCpuProf)}`] } : {}),
    ...(serverConfig ? { serverConfig } : {}),
    ...(flags.keepData ? { keepData: true } : {}),
    log: pw.log,
    progress: pw.progress,
    progressDone: pw.done,
  });
  const onSignal = () => {
    session.killNow();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const given: Partial<SuiteParams> = {
    ...(flags.duration !== undefined ? { durationS: flags.duration } : {}),
    ...(flags.warmup !== undefined ? { warmupS: flags.warmup } : {}),
    ...(flags.conns !== undefined ? { conns: flags.conns } : {}),
    ...(flags.rooms !== undefined ? { rooms: flags.rooms } : {}),
    ...(flags.senders !== undefined ? { senders: flags.senders } : {}),
    ...(flags.rate !== undefined ? { rate: flags.rate } : {}),
    ...(flags.size !== undefined ? { size: flags.size } : {}),
    ...(flags.window !== undefined ? { window: flags.window } : {}),
    ...(flags.missed !== undefined ? { missed: flags.missed } : {}),
    ...(flags.roomsPerConn !== undefined ? { roomsPerConn: flags.roomsPerConn } : {}),
    ...(flags.envelopes !== undefined ? { envelopes: flags.envelopes } : {}),
    ...(flags.roundTrips !== undefined ? { roundTrips: flags.roundTrips } : {}),
  };
  const ctx = {
    session,
    settings: {
      protocol: flags.protocol === 'msgpack' ? ('veza.msgpack' as const) : ('veza.json' as const),
      auth: flags.auth,
      ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
      ...(flags.connectConcurrency !== undefined ? { connectConcurrency: flags.connectConcurrency } : {}),
      ...(flags.clientIds ? { clientIds: true } : {}),
    },
  };
  const startedAt = new Date();
  const results: BenchResult[] = [];
  try {
    if (suite === 'standard') {
      // Seed once for the largest suite (a self-started server): later runs reuse the users.
      const plan = STANDARD.map((s) => ({ ...s, params: { ...s.params, ...given } }));
      if (flags.target === 'veza') await session.prepare(Math.max(...plan.map((s) => usersNeeded(s.suite, resolveParams(s.suite, s.params)))));
      // On veza, fanout and rooms always get the baseline run (the issue's target), and the
      // Socket.IO run on request; a reference target runs the subset it supports, alone.
      const refs = (baseline: boolean): ReferenceTarget[] =>
        baseline && flags.target === 'veza' ? ['uws-baseline', ...(flags.compareSocketio ? (['socketio'] as const) : [])] : [];
      for (const s of plan) {
        if (unsupported(flags.target, s.suite) !== null) continue;
        pw.log(`bench: == ${s.suite}`);
        results.push(...(await runSuite(s.suite, flags.target, s.params, ctx, refs(s.baseline))));
      }
    } else {
      const refs: ReferenceTarget[] = [];
      if (flags.compareBaseline) refs.push('uws-baseline');
      if (flags.compareSocketio) refs.push('socketio');
      if (refs.length > 0 && !COMPARABLE_SUITES.has(suite)) {
        throw new CliError(`--compare-baseline and --compare-socketio apply to ${[...COMPARABLE_SUITES].join(', ')}`);
      }
      results.push(...(await runSuite(suite, flags.target, given, ctx, refs)));
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`bench ${suite}: ${(e as Error).message}`, 1, { cause: e });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await session.close();
  }

  // Output: the document, the files, the summary.
  const doc: BenchResult | BenchSet = results.length === 1 && suite !== 'standard' ? (results[0] as BenchResult) : makeSet(suite, startedAt, results);
  const written: string[] = [];
  let outFile = flags.out;
  let htmlFile = flags.html;
  if (suite === 'standard') {
    const dir = resolve(flags.resultsDir ?? defaultResultsDir());
    const stamp = resultFileName({ suite: 'standard', target: flags.target, started_at: startedAt.toISOString() }).replace(/\.json$/, '');
    outFile ??= join(dir, `${stamp}.json`);
    htmlFile ??= join(dir, `${stamp}.html`);
  }
  const rows = summaryRows(results);
  if (outFile) {
    mkdirSync(dirname(resolve(outFile)), { recursive: true });
    writeResult(outFile, doc);
    written.push(outFile);
  }
  if (htmlFile) {
    mkdirSync(dirname(resolve(htmlFile)), { recursive: true });
    writeFileSync(htmlFile, 'kind' in doc ? renderSetReport(doc, rows) : renderReport(doc));
    written.push(htmlFile);
  }
  const summary =
    [
      formatTable(rows),
      ...threadLines(results, formatThreadCpu),
      ...targetLines(results, verdicts),
      ...noteLines(results),
      ...written.map((f) => `wrote ${f}`),
    ].join('\n') + '\n';
  if (flags.json) {
    io.out(JSON.stringify(doc, null, 2) + '\n');
    io.err(summary);
  } else io.out(summary);
}

/**
 * Where veza's CPU per delivery went, by thread role. The reference servers have no veza threads
 * (all of theirs is `other`): nothing to say there.
 */
function threadLines(results: readonly BenchResult[], format: (by: RoleFigures) => string): string[] {
  const lines: string[] = [];
  for (const r of results) {
    const by = r.figures.server.cpu_us_per_delivery_by_thread;
    const total = r.figures.server.cpu_us_per_delivery;
    if (r.target !== 'veza' || !by || total === null) continue;
    const sum = Object.values(by).reduce((a, v) => a + v, 0);
    lines.push(`${r.suite}/${r.target} server CPU per delivery by thread: ${format(by)} µs (sum ${sum.toFixed(1)} of ${total.toFixed(1)})`);
  }
  return lines.length > 0 ? ['', ...lines] : [];
}

function targetLines(results: readonly BenchResult[], verdicts: (r: BenchResult) => Array<{ ok: boolean; what: string; detail: string }>): string[] {
  const lines: string[] = [];
  for (const r of results) for (const v of verdicts(r)) lines.push(`target ${v.ok ? 'met   ' : 'MISSED'}  ${v.what}: ${v.detail}`);
  return lines.length > 0 ? ['', ...lines] : [];
}

function noteLines(results: readonly BenchResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    for (const n of r.notes ?? []) lines.push(`!!! ${r.suite}/${r.target}: ${n}`);
    const errs = Object.entries(r.errors);
    if (errs.length > 0) lines.push(`errors ${r.suite}/${r.target}: ${errs.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  return lines.length > 0 ? ['', ...lines] : [];
}
