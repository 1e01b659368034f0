/**
 * `veza-chat status` and `veza-chat top`: a running node's summary, read from its admin endpoint
 * (`GET /api/v1/admin/status`, with the admin token). `status` prints it once (`--json` for
 * scripts); `top` redraws it every `--interval` seconds until interrupted (Ctrl-C, or `q`).
 */
import type { Command } from 'commander';
import type { NodeStatus } from '../../metrics/status.js';
import { CliError, printJson, type CliIO } from '../io.js';
import { configFromFlags, integer } from '../options.js';

interface StatusFlags {
  url?: string;
  token?: string;
  config?: string;
  json?: boolean;
  interval?: number;
}

/** The node's URL and the admin token: flags, else the configuration (file, environment). */
function target(flags: StatusFlags, io: CliIO): { url: string; token: string } {
  const config = configFromFlags({ ...(flags.config ? { config: flags.config } : {}) }, io);
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = (flags.url ?? `http://${host}:${config.server.port}`).replace(/\/+$/, '');
  const token = flags.token ?? config.admin.token;
  if (!token) throw new CliError('no admin token: pass --token or set admin.token (VEZA_ADMIN_TOKEN)');
  return { url, token };
}

export async function fetchStatus(url: string, token: string): Promise<NodeStatus> {
  let res: Response;
  try {
    res = await fetch(`${url}/api/v1/admin/status`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    throw new CliError(`cannot reach ${url}: ${(e as Error).message}`, 1, { cause: e });
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
    } catch {
      // not JSON: print it as it is
    }
    throw new CliError(`${url} answered ${res.status}: ${message}`);
  }
  return JSON.parse(text) as NodeStatus;
}

const num = (n: number | null, digits = 1): string => (n === null ? '-' : n.toFixed(digits));
const mib = (b: number | null): string => (b === null ? '-' : `${(b / 1048576).toFixed(1)} MiB`);

/** The summary as text lines (status prints them once, top redraws them). */
export function render(s: NodeStatus): string[] {
  const shards = Object.keys(s.actors.per_shard).sort((a, b) => Number(a) - Number(b));
  const lines = [
    `veza-chat ${s.node.version} at ${s.node.url}  pid ${s.node.pid}  up ${s.node.uptime_s}s  ${s.node.fronts} fronts, ${s.node.shards} shards, ${s.node.store}`,
    `connections ${s.connections.active} open (${s.connections.opened} since start)   messages/s in ${num(s.messages_per_second.received)} out ${num(s.messages_per_second.sent)}   errors/s ${num(s.errors_per_second, 2)}`,
    `p99 ms: all operations ${num(s.p99_ms.all_operations, 2)}  send_message ${num(s.p99_ms.send_message, 2)}   (over ${s.interval_s}s)`,
    `actors ${s.actors.total}: ${shards.map((k) => `shard-${k} ${s.actors.per_shard[k]} (mailbox ${s.mailbox_depth[k] ?? 0})`).join('  ')}`,
    `rings: max occupancy ${(s.ring.max_occupancy * 100).toFixed(2)}%  overflow ${s.ring.overflow_envelopes}   restarts ${s.restarts.total} (front ${s.restarts.front}, shard ${s.restarts.shard})`,
    `db connections ${s.db_connections.active}/${s.db_connections.total}   rss ${mib(s.memory.rss_bytes)}`,
    '',
    'THREAD      UP   LOOP%   LAG p99 ms   HEAP',
  ];
  for (const t of s.threads) {
    const loop = t.event_loop_utilization === null ? '-' : (t.event_loop_utilization * 100).toFixed(1);
    lines.push(`${t.thread.padEnd(10)}  ${(t.up ? 'yes' : 'NO').padEnd(3)}  ${loop.padStart(5)}   ${num(t.event_loop_lag_p99_ms, 2).padStart(10)}   ${mib(t.heap_used_bytes)}`);
  }
  return lines;
}

export function registerStatus(program: Command, io: CliIO): void {
  const common = (cmd: Command) =>
    cmd
      .option('--url <url>', "the node's address (default from the configuration: server.host, server.port)")
      .option('--token <token>', 'admin token (default admin.token, VEZA_ADMIN_TOKEN)')
      .option('--config <file>', 'JSON configuration file');

  common(program.command('status').description("a running node's summary: threads, actors, connections, rates, p99, rings, restarts"))
    .option('--json', 'print the summary as JSON')
    .action(async (flags: StatusFlags) => {
      const { url, token } = target(flags, io);
      const s = await fetchStatus(url, token);
      if (flags.json) printJson(io, s);
      else io.out(render(s).join('\n') + '\n');
    });

  common(program.command('top').description('the status, refreshed in the terminal until interrupted (Ctrl-C or q)'))
    .option('--interval <seconds>', 'seconds between refreshes (default 2)', integer(1, 3600))
    .action(async (flags: StatusFlags) => {
      const { url, token } = target(flags, io);
      await top(url, token, (flags.interval ?? 2) * 1000, io);
    });
}

async function top(url: string, token: string, intervalMs: number, io: CliIO): Promise<void> {
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stdin = process.stdin;
  const keys = (d: Buffer) => {
    const k = d.toString();
    if (k === 'q' || k === '\u0003') stop();
  };
  if (stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.on('data', keys);
    stdin.resume();
  }
  try {
    let done = false;
    void stopped.then(() => (done = true));
    while (!done) {
      let lines: string[];
      try {
        lines = render(await fetchStatus(url, token));
      } catch (e) {
        lines = [`veza-chat top: ${(e as Error).message}`];
      }
      if (done) break;
      // Clear the screen and home the cursor, then the summary.
      io.out(`\u001b[H\u001b[2J${lines.join('\n')}\n\n(refreshed every ${intervalMs / 1000}s; q or Ctrl-C to quit)\n`);
      await Promise.race([stopped, new Promise((r) => setTimeout(r, intervalMs))]);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (stdin.isTTY) {
      stdin.off('data', keys);
      stdin.setRawMode(false);
      stdin.pause();
    }
  }
}
