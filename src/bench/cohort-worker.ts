/**
 * A cohort: one worker thread's share of the load generator's connections (see cohort-messages.ts
 * for the conversation with the main thread).
 *
 * Hot path per delivery: FrameReader.read (prefix compare + indexOf + digit scan), one clock
 * reading, two histogram records, a few counters: no allocation beyond the Buffer view the
 * client hands over. Latency is receive time minus the send time written in the content, both on
 * the process-wide monotonic clock, measured on every delivery.
 *
 * The send schedule is open-loop: each wake-up sends every message due by now (round-robin over
 * this worker's senders), so a late timer shows as `lagMs` (schedule lateness) rather than as a
 * silently lower rate. Latency is measured from the actual send, so lag is reported separately.
 */
import { parentPort } from 'node:worker_threads';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { nowMs, nowUs } from './clock.js';
import {
  benchContent,
  decodeEnvelope,
  envelopeFrame,
  FrameReader,
  KIND_ACK,
  KIND_MESSAGE,
  sendMessageFrame,
  type Envelope,
} from './frames.js';
import { Histogram } from './histogram.js';
import { ConnectLimiter, WsClientError, WsConnection } from './ws-client.js';
import type { DoneMessage, GoMessage, MainToWorker, StartMessage, TickMessage, WorkerConnPlan, WorkerToMain } from './cohort-messages.js';

if (!parentPort) throw new Error('cohort-worker.ts runs as a worker thread');
const port = parentPort;
const post = (m: WorkerToMain) => port.postMessage(m);

interface Conn {
  plan: WorkerConnPlan;
  ws: WsConnection | null;
  seq: number;
  /** Reply waiters during setup (by reply id); null once set-up is over. */
  waiters: Map<string, (env: Envelope) => void> | null;
}

let plan: StartMessage;
let reader: FrameReader;
const conns: Conn[] = [];
const errors: Record<string, number> = {};
const count = (key: string, n = 1) => {
  errors[key] = (errors[key] ?? 0) + n;
};

// Run state, on the shared clock.
let running = false;
let closing = false;
let startAt = 0;
let mFromUs = 0;
let mToUs = 0;
let sentTotal = 0; // every send attempt since go: the schedule's position
let sent = 0; // successful sends inside the window
const sentByRoom = new Map<number, number>();
let delivered = 0;
let deliveredTotal = 0;
let acks = 0;
let lastActivityUs = 0;
let dropped = 0;
let open = 0;
const latency = new Histogram();
const ackLatency = new Histogram();
const tickLatency = new Histogram();
let tickSent = 0;
let tickDelivered = 0;
let tickAcks = 0;
let tickLag = 0;
let lagMax = 0;

function onDelivery(sentUs: number): void {
  const now = nowUs();
  const lat = now - sentUs;
  deliveredTotal++;
  tickDelivered++;
  tickLatency.record(lat);
  lastActivityUs = now;
  if (sentUs >= mFromUs && sentUs < mToUs) {
    delivered++;
    latency.record(lat);
  }
}

function onAck(sentUs: number): void {
  const now = nowUs();
  tickAcks++;
  lastActivityUs = now;
  if (sentUs >= mFromUs && sentUs < mToUs) {
    acks++;
    ackLatency.record(now - sentUs);
  }
}

/** Everything that is not a fast-path `message`/`ack`: decode it whole. */
function slow(c: Conn, buf: Buffer, isBinary: boolean): void {
  const env = decodeEnvelope(plan.protocol, buf, isBinary);
  if (env === null) {
    count('client:undecodable_frame');
    return;
  }
  const data = env.data ?? {};
  switch (env.type) {
    case 'message':
      if (typeof data.content === 'string' && reader.readContent(data.content)) onDelivery(reader.sentUs);
      return;
    case 'ack':
      if (typeof env.reply_to === 'string' && /^s\d+$/.test(env.reply_to)) onAck(Number(env.reply_to.slice(1)));
      else resolveWaiter(c, env.reply_to, env);
      return;
    case 'error':
      if (!resolveWaiter(c, env.reply_to, env)) count(`server:${String(data.code ?? 'unknown')}`);
      return;
    case 'authenticated':
      resolveWaiter(c, env.reply_to ?? 'a1', env);
      return;
    case 'joined':
      resolveWaiter(c, env.reply_to ?? `j${String(data.room_id)}`, env);
      return;
    default:
      return; // presence, member_joined, typing...: not the bench's business
  }
}

function resolveWaiter(c: Conn, key: unknown, env: Envelope): boolean {
  if (typeof key !== 'string' || c.waiters === null) return false;
  const w = c.waiters.get(key);
  if (!w) return false;
  c.waiters.delete(key);
  w(env);
  return true;
}

function waitReply(c: Conn, key: string, timeoutMs: number): Promise<Envelope | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.waiters?.delete(key);
      resolve(null);
    }, timeoutMs);
    (c.waiters ??= new Map()).set(key, (env: Envelope) => {
      clearTimeout(t);
      resolve(env);
    });
  });
}

/* ---------- set-up ---------- */

async function setup(m: StartMessage): Promise<void> {
  plan = m;
  reader = new FrameReader(m.protocol);
  const t0 = performance.now();
  const limiter = new ConnectLimiter(Math.max(1, m.connectConcurrency));
  const connectUs = new Histogram();
  let connected = 0;
  let failed = 0;
  let joinedConns = 0;
  const members = new Map<number, number>();
  const progress = setInterval(() => post({ type: 'progress', worker: m.worker, connected, failed }), 500);
  const deadline = Date.now() + m.setupTimeoutMs;

  const one = async (cp: WorkerConnPlan): Promise<void> => {
    const c: Conn = { plan: cp, ws: null, seq: 0, waiters: null };
    conns.push(c);
    let url = m.url;
    const headers: Record<string, string> = {};
    if (cp.token !== undefined && m.auth === 'header') headers.Authorization = `Bearer ${cp.token}`;
    if (cp.token !== undefined && m.auth === 'query') url += `${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(cp.token)}`;
    try {
      c.ws = await WsConnection.connect({
        url,
        protocols: [m.protocol],
        headers,
        limiter,
        handshakeTimeoutMs: m.handshakeTimeoutMs,
        onMessage: (buf, isBinary) => {
          const kind = reader.read(buf);
          if (kind === KIND_MESSAGE) onDelivery(reader.sentUs);
          else if (kind === KIND_ACK) onAck(reader.sentUs);
          else slow(c, buf, isBinary);
        },
        onError: (e) => count(e.key),
        onClose: (code) => {
          open--;
          if (!closing) {
            dropped++;
            count(`closed:${code}`);
          }
        },
      });
    } catch (e) {
      failed++;
      count(e instanceof WsClientError ? e.key : 'connect_failed:unknown');
      return;
    }
    connected++;
    open++;
    connectUs.record(c.ws.handshakeMs * 1000);
    const left = () => Math.max(1, deadline - Date.now());
    if (m.auth === 'frame' && cp.token !== undefined) {
      // `authenticated` may come without reply_to (the seed servers'): slow() files it under a1 too.
      const reply = waitReply(c, 'a1', left());
      c.ws.send(envelopeFrame(m.protocol, 'authenticate', { token: cp.token }, 'a1'));
      const env = await reply;
      if (env === null || env.type !== 'authenticated') {
        count(env === null ? 'auth:timeout' : `auth:${String(env.data?.code ?? env.type)}`);
        return;
      }
    }
    const replies = cp.rooms.map((room) => {
      const r = waitReply(c, `j${room}`, left());
      c.ws?.send(envelopeFrame(m.protocol, 'join_room', { room_id: room }, `j${room}`));
      return r;
    });
    const envs = await Promise.all(replies);
    let ok = true;
    envs.forEach((env, i) => {
      if (env !== null && (env.type === 'joined' || env.type === 'ack')) {
        const room = cp.rooms[i] as number;
        members.set(room, (members.get(room) ?? 0) + 1);
      } else {
        ok = false;
        count(env === null ? 'join:timeout' : `join:${String(env.data?.code ?? env.type)}`);
      }
    });
    if (ok) joinedConns++;
  };

  await Promise.all(m.conns.map(one));
  clearInterval(progress);
  for (const c of conns) c.waiters = null;
  post({
    type: 'ready',
    worker: m.worker,
    connected,
    failed,
    joined: joinedConns,
    rooms: [...members.keys()],
    members: [...members.values()],
    errors: { ...errors },
    connectUs: connectUs.toJSON(),
    setupMs: performance.now() - t0,
  });
}

/* ---------- the run ---------- */

function run(g: GoMessage): void {
  running = true;
  startAt = g.startAt;
  const mFrom = g.startAt + g.warmupMs;
  const mTo = mFrom + g.durationMs;
  mFromUs = Math.round(mFrom * 1000);
  mToUs = Math.round(mTo * 1000);
  const senders = conns.filter((c) => c.plan.sends && c.ws !== null && (c.plan.rooms.length > 0));
  const rate = plan.ratePerSender * senders.length; // this worker's msg/s
  const padding = 'x'.repeat(plan.payloadBytes);
  let rr = 0;
  let eluAtFrom: EventLoopUtilization | null = null;
  let eluWindow: number | null = null;

  const sendOne = (c: Conn) => {
    const t = nowUs();
    const seq = ++c.seq;
    const room = c.plan.rooms[0] as number;
    const content = benchContent(c.plan.index, seq, t, padding);
    const frame = sendMessageFrame(plan.protocol, room, content, plan.ack ? `s${t}` : undefined);
    if (!(c.ws as WsConnection).send(frame)) {
      count('client:send_on_closed');
      return;
    }
    tickSent++;
    if (t >= mFromUs && t < mToUs) {
      sent++;
      sentByRoom.set(room, (sentByRoom.get(room) ?? 0) + 1);
    }
  };

  const pump = () => {
    const now = nowMs();
    if (now >= mTo) return;
    if (now >= startAt && rate > 0) {
      const due = Math.floor(((now - startAt) * rate) / 1000);
      if (due > sentTotal) {
        const lag = now - (startAt + ((sentTotal + 1) * 1000) / rate);
        if (lag > tickLag) tickLag = lag;
        while (sentTotal < due) {
          sendOne(senders[rr] as Conn);
          rr = (rr + 1) % senders.length;
          sentTotal++;
        }
      }
    }
    const next = rate > 0 ? startAt + ((sentTotal + 1) * 1000) / rate : mTo;
    setTimeout(pump, Math.max(1, Math.min(next, mTo) - nowMs()));
  };
  if (senders.length > 0) setTimeout(pump, Math.max(0, startAt - nowMs()));

  setTimeout(() => {
    eluAtFrom = performance.eventLoopUtilization();
  }, Math.max(0, mFrom - nowMs()));
  const windowElu = () => (eluAtFrom ? performance.eventLoopUtilization(eluAtFrom).utilization : 0);
  setTimeout(() => {
    eluWindow ??= windowElu();
  }, Math.max(0, mTo - nowMs()));

  let k = 0;
  let eluTick = performance.eventLoopUtilization();
  let tickTimer: NodeJS.Timeout | undefined;
  const tick = () => {
    const elu = performance.eventLoopUtilization(eluTick);
    eluTick = performance.eventLoopUtilization();
    const msg: TickMessage = {
      type: 'tick',
      worker: plan.worker,
      k,
      sent: tickSent,
      delivered: tickDelivered,
      acks: tickAcks,
      latency: tickLatency.snapshot(),
      elu: elu.utilization,
      lagMs: tickLag,
      open,
    };
    port.postMessage(msg, [msg.latency.counts.buffer as ArrayBuffer]);
    if (tickLag > lagMax) lagMax = tickLag;
    tickLatency.reset();
    tickSent = tickDelivered = tickAcks = tickLag = 0;
    k++;
    tickTimer = setTimeout(tick, Math.max(0, startAt + (k + 1) * 1000 - nowMs()));
  };
  tickTimer = setTimeout(tick, Math.max(0, startAt + 1000 - nowMs()));

  // Drain: after the window, until deliveries stop for quietMs or drainMs passes.
  const checkDone = () => {
    const now = nowMs();
    const quiet = now - lastActivityUs / 1000 >= g.quietMs;
    if ((now >= mTo + g.quietMs && quiet) || now >= mTo + g.drainMs) {
      clearTimeout(tickTimer);
      if (tickLag > lagMax) lagMax = tickLag;
      running = false;
      const done: DoneMessage = {
        type: 'done',
        worker: plan.worker,
        sentRooms: [...sentByRoom.keys()],
        sentCounts: [...sentByRoom.values()],
        sent,
        sentTotal,
        delivered,
        deliveredTotal,
        acks,
        latency: latency.snapshot(),
        ackLatency: ackLatency.snapshot(),
        errors: { ...errors },
        elu: eluWindow ?? windowElu(),
        lagMaxMs: lagMax,
        dropped,
      };
      port.postMessage(done, [done.latency.counts.buffer as ArrayBuffer, done.ackLatency.counts.buffer as ArrayBuffer]);
      return;
    }
    setTimeout(checkDone, 50);
  };
  setTimeout(checkDone, Math.max(0, mTo - nowMs()));
}

async function closeAll(): Promise<void> {
  closing = true;
  for (const c of conns) c.ws?.close(1000, 'bench done');
  // `open` drops in each connection's onClose; one poll loop rather than a timer per socket.
  const until = Date.now() + 3000;
  while (open > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  if (open > 0) for (const c of conns) c.ws?.terminate();
  post({ type: 'closed', worker: plan?.worker ?? -1 });
}

const fatal = (e: unknown) => {
  const err = e instanceof Error ? e : new Error(String(e));
  post({ type: 'fatal', worker: plan?.worker ?? -1, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
};

port.on('message', (m: MainToWorker) => {
  try {
    if (m.type === 'start') setup(m).catch(fatal);
    else if (m.type === 'go') {
      if (!running) run(m);
    } else if (m.type === 'close') closeAll().catch(fatal);
  } catch (e) {
    fatal(e);
  }
});
