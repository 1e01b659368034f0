/**
 * Issue 17's finding, as a test: one user floods `fetch_history` and `resume` (200 ids a frame,
 * existing and non-existing conversations) at the highest rate one socket can push, reconnecting
 * whenever the server closes it for flooding (4429). The server's memory stays within 50 MiB of
 * where it started, and another user's ack p99 within 2x of its quiet p99 (5 ms at least: a
 * quiet p99 of 1 ms on a busy machine is noise).
 *
 * The node runs in this process (threads), so its RSS is this process's. The flooder is a child
 * process, so that its own memory does not pass for the server's, nor its work run on this
 * thread (where the PGlite store lives). Default limits but `send_message` (the victim's probe).
 *
 * VEZA_FLOOD_S sets the flood's length (default 10 s; the issue's minute: VEZA_FLOOD_S=60).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { room, startLive } from './helpers/live.js';

const FLOOD_S = Number(process.env.VEZA_FLOOD_S ?? 10);
const QUIET_S = 3;
const MiB = 1024 * 1024;
/** The repository: where the flooder finds `ws`. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function rss(): number {
  gc();
  gc();
  return process.memoryUsage().rss;
}

const FLOODER = `
const WebSocket = require('ws');
const { wsUrl, token, rooms, seconds } = JSON.parse(process.argv[1]);
const until = Date.now() + seconds * 1000;
// Frames made once: the flooder's own work stays small (it shares the machine with the server).
const frames = [];
for (let n = 0; n < 64; n++) {
  if (n % 2 === 0) {
    const positions = {};
    for (let i = 0; i < 200; i++) positions[i < rooms.length ? rooms[i] : 700000000 + n * 200 + i] = 0;
    frames.push(Buffer.from(JSON.stringify({ type: 'resume', id: 'r' + n, data: { positions } })));
  } else {
    const id = n % 4 === 1 ? rooms[n % rooms.length] : 800000000 + n;
    frames.push(Buffer.from(JSON.stringify({ type: 'fetch_history', id: 'h' + n, data: { conversation_id: id, limit: 50 } })));
  }
}
let sent = 0, replies = 0, limited = 0, closes = 0, n = 0;
const codes = {};
function connect() {
  if (Date.now() >= until) return done();
  const ws = new WebSocket(wsUrl, 'veza.json', { headers: { authorization: 'Bearer ' + token } });
  let open = false;
  const pump = () => {
    if (!open) return;
    while (open && ws.bufferedAmount < 256 * 1024 && Date.now() < until) { ws.send(frames[n++ & 63], { binary: false }); sent++; }
    if (Date.now() < until) setImmediate(pump); else ws.close();
  };
  ws.on('open', () => { open = true; pump(); });
  ws.on('message', (data) => {
    const s = data.toString();
    if (s.includes('"reply_to"')) replies++;
    if (s.includes('"rate_limited"')) limited++;
  });
  ws.on('close', (code) => { open = false; closes++; codes[code] = (codes[code] || 0) + 1; setImmediate(connect); });
  ws.on('error', () => {});
}
function done() { process.stdout.write(JSON.stringify({ sent, replies, limited, closes, codes })); process.exit(0); }
connect();
`;

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

t.test(`a ${FLOOD_S} s flood of history and resume: memory bounded, other users unaffected`, async (t) => {
  const live = await startLive(t, 'pglite', { limits: { perMinute: { send_message: 1_000_000 } } });
  if (!live) return;
  const [mallory, victim] = [await live.user('mallory'), await live.user('victim')];
  const rooms: number[] = [];
  for (let i = 0; i < 3; i++) rooms.push(await room(live, victim.token, `r${i}`));
  const v = await live.client(victim.token);
  for (const id of rooms) await v.ok('join_room', { room_id: id });
  // Warm: the paths the flood takes, then the baseline.
  for (let i = 0; i < 50; i++) await v.ok('send_message', { room_id: rooms[0], content: `warm ${i}` });
  const probe = async (seconds: number): Promise<number[]> => {
    const out: number[] = [];
    const end = Date.now() + seconds * 1000;
    for (let i = 0; Date.now() < end; i++) {
      const t0 = performance.now();
      await v.ok('send_message', { room_id: rooms[0], content: `probe ${seconds} ${i}` });
      out.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    return out;
  };
  const quiet = await probe(QUIET_S);
  const before = rss();

  const flooder = spawn(process.execPath, ['-e', FLOODER, JSON.stringify({ wsUrl: live.wsUrl, token: mallory.token, rooms, seconds: FLOOD_S })], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  flooder.stdout!.on('data', (d) => (out += d));
  const exited = once(flooder, 'exit');
  const during = await probe(FLOOD_S);
  await exited;
  const stats = JSON.parse(out) as { sent: number; replies: number; limited: number; closes: number; codes: Record<string, number> };
  const peak = rss();

  t.ok(stats.sent > 1000, `the flood sent ${stats.sent} frames (${stats.replies} answered, ${stats.limited} rate_limited, ${stats.closes} closes: ${JSON.stringify(stats.codes)})`);
  const growth = (peak - before) / MiB;
  t.ok(growth < 50, `RSS ${(before / MiB).toFixed(0)} MiB before, ${(peak / MiB).toFixed(0)} MiB after: ${growth.toFixed(1)} MiB more (under 50)`);
  const q = p99(quiet);
  const d = p99(during);
  t.ok(d <= 2 * Math.max(q, 5), `victim's ack p99: ${q.toFixed(1)} ms quiet (${quiet.length} acks), ${d.toFixed(1)} ms under the flood (${during.length} acks)`);
  v.close();
});
