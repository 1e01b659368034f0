/**
 * A cohort: one worker thread's share of the load generator's connections (see cohort-messages.ts
 * for the conversation with the main thread).
 *
 * Hot path per delivery: the wire's reader (wire.ts; prefix compare + indexOf + digit scan), one
 * clock reading, two histogram records, a few counters: no allocation beyond the Buffer view the
 * client hands over. Latency is receive time minus the send time written in the content, both on
 * the process-wide monotonic clock, measured on every delivery.
 *
 * The wire (wire.ts: veza's envelopes or Socket.IO's packets) is the only thing that knows the
 * target's frames: operations are built by `wire.op` / `wire.message`, and whatever the fast path
 * does not take is decoded by the connection's `WireConn` into veza's envelope shape.
 *
 * The send schedule is open-loop: each wake-up sends every message due by now (round-robin over
 * this worker's senders), so a late timer shows as `lagMs` (schedule lateness) rather than as a
 * silently lower rate. Latency is measured from the actual send, so lag is reported separately.
 * With a `window`, the schedule is closed-loop instead (ingest): each sender keeps `window` sends
 * in flight and sends again on each reply, so the rate is whatever the server sustains.
 *
 * The `churn` and `resume` modes (cohort-messages.ts) open nothing at set-up: their connections
 * are made after `go`, and what they count goes in `counters` beside the usual figures (churn: a
 * completed connect+authenticate is a "delivery", its duration the latency; resume: a recovered
 * event is a delivery, the time from `go` until a client has everything back the latency).
 */
import { randomUUID } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { nowMs, nowUs } from './clock.js';
import { benchContent, KIND_ACK, KIND_MESSAGE, startsWith, type Envelope, type FrameReader } from './frames.js';
import { Histogram } from './histogram.js';
import { makeWire, type Wire, type WireConn, type WireReader } from './wire.js';
import { ConnectLimiter, WsClientError, WsConnection } from './ws-client.js';
import { MIXED_OPS } from './cohort-messages.js';
import type { DoneMessage, GoMessage, MainToWorker, MixedOp, StartMessage, TickMessage, WorkerConnPlan, WorkerToMain } from './cohort-messages.js';

if (!parentPort) throw new Error('cohort-worker.ts runs as a worker thread');
const port = parentPort;
const post = (m: WorkerToMain) => port.postMessage(m);

interface Conn {
  plan: WorkerConnPlan;
  ws: WsConnection | null;
  /** Its wire protocol state (shared by all connections on veza's wire). */
  wc: WireConn | null;
  seq: number;
  /** Reply waiters during setup (by reply id); null once set-up is over. */
  waiters: Map<string, (env: Envelope) => void> | null;
  /** Closed loop: sends awaiting their reply. */
  inflight: number;
  /** `mixed`: per room of `plan.rooms` (same index), the latest message of another member that may be reacted to and marked read (0: none yet). */
  targets?: number[];
  /** `mixed`: the next typing state this connection sends. */
  typingStart?: boolean;
  /** `mixed`: the connection is being closed on purpose (churn): its close is no drop. */
  leaving?: boolean;
}

let plan: StartMessage;
let wire: Wire;
let reader: WireReader;
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

/**
 * The open-loop schedule: from `startAt` until `mTo` (ms on nowMs's clock), `send` is called
 * `rate` times a second, on time or in a burst that catches up when a timer fires late (the
 * lateness goes into `tickLag`); `sentTotal` is the schedule's position.
 */
function paced(rate: number, startAt: number, mTo: number, send: () => void): void {
  const pump = () => {
    const now = nowMs();
    if (now >= mTo) return;
    if (now >= startAt && rate > 0) {
      const due = Math.floor(((now - startAt) * rate) / 1000);
      if (due > sentTotal) {
        const lag = now - (startAt + ((sentTotal + 1) * 1000) / rate);
        if (lag > tickLag) tickLag = lag;
        while (sentTotal < due) {
          send();
          sentTotal++;
        }
      }
    }
    const next = rate > 0 ? startAt + ((sentTotal + 1) * 1000) / rate : mTo;
    setTimeout(pump, Math.max(1, Math.min(next, mTo) - nowMs()));
  };
  setTimeout(pump, Math.max(0, startAt - nowMs()));
}
let lagMax = 0;
let eluAtFrom: EventLoopUtilization | null = null;
let eluWindow: number | null = null;
const counters: Record<string, number> = {};
const bump = (key: string, n = 1) => {
  counters[key] = (counters[key] ?? 0) + n;
};
/** Set by run(): send one message from `c` (closed loop refills through it). */
let sendNext: ((c: Conn) => void) | null = null;
let windowEndMs = 0;

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

function onAck(c: Conn, sentUs: number): void {
  const now = nowUs();
  tickAcks++;
  lastActivityUs = now;
  if (sentUs >= mFromUs && sentUs < mToUs) {
    acks++;
    ackLatency.record(now - sentUs);
  }
  if (plan.window > 0) refill(c);
}

/** Closed loop: a reply came back for one of `c`'s sends; send the next while the window lasts. */
function refill(c: Conn): void {
  if (c.inflight > 0) c.inflight--;
  if (running && sendNext !== null && nowMs() < windowEndMs) sendNext(c);
}

/** Everything that is not a fast-path `message`/`ack`: decode it whole. */
function slow(c: Conn, buf: Buffer, isBinary: boolean): void {
  const d = (c.wc as WireConn).decode(buf, isBinary);
  if (d.kind === 'none') return;
  if (d.kind === 'invalid') {
    count(d.key);
    return;
  }
  const env = d.env;
  const data = env.data ?? {};
  switch (env.type) {
    case 'message':
      if (typeof data.content === 'string' && reader.readContent(data.content)) onDelivery(reader.sentUs);
      return;
    case 'ack':
      if (typeof env.reply_to === 'string' && /^s\d+$/.test(env.reply_to)) onAck(c, Number(env.reply_to.slice(1)));
      else resolveWaiter(c, env.reply_to, env);
      return;
    case 'error':
      if (!resolveWaiter(c, env.reply_to, env)) {
        count(`server:${String(data.code ?? 'unknown')}`);
        if (plan.window > 0 && typeof env.reply_to === 'string' && /^s\d+$/.test(env.reply_to)) refill(c);
      }
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

/**
 * URL and headers of a connection, with its token where the auth mode puts it (on Socket.IO's
 * wire the auth mode is `none`: the token rides in the connect packet, WireConn).
 */
function target(cp: WorkerConnPlan): { url: string; headers: Record<string, string> } {
  let url = plan.url;
  const headers: Record<string, string> = {};
  if (cp.token !== undefined && plan.auth === 'header') headers.Authorization = `Bearer ${cp.token}`;
  if (cp.token !== undefined && plan.auth === 'query') url += `${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(cp.token)}`;
  return { url, headers };
}

/**
 * Open one socket of this worker on the wire, with what every connection shares (URL and headers
 * for its auth mode, the wire's sub-protocols, the wire's handshake hooks, error counting).
 * `onClose` runs after the wire has heard of the close. A failed connect is counted and null.
 */
async function connectOn(
  cp: WorkerConnPlan,
  wc: WireConn,
  limiter: ConnectLimiter | undefined,
  onMessage: (buf: Buffer, isBinary: boolean) => void,
  onClose: (code: number) => void,
): Promise<WsConnection | null> {
  const { url, headers } = target(cp);
  try {
    return await WsConnection.connect({
      url,
      protocols: wire.protocols,
      headers,
      ...(limiter ? { limiter } : {}),
      handshakeTimeoutMs: plan.handshakeTimeoutMs,
      onOpen: (ws) => wc.opened(ws),
      onMessage,
      onError: (e) => count(e.key),
      onClose: (code) => {
        wc.closed(code);
        onClose(code);
      },
    });
  } catch (e) {
    count(e instanceof WsClientError ? e.key : 'connect_failed:unknown');
    return null;
  }
}

/** A connection held for the run closed: one open less and, unless we are closing, a drop. */
function lost(code: number): void {
  open--;
  if (!closing) {
    dropped++;
    count(`closed:${code}`);
  }
}

async function setup(m: StartMessage): Promise<void> {
  plan = m;
  wire = makeWire(m.wire, m.protocol);
  reader = wire.reader;
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
    const wc = wire.conn(cp.token);
    const c: Conn = { plan: cp, ws: null, wc, seq: 0, waiters: null, inflight: 0 };
    conns.push(c);
    const ws = await connectOn(
      cp,
      wc,
      limiter,
      m.mode === 'mixed'
        ? (buf, isBinary) => mixedReceive(c, buf, isBinary)
        : (buf, isBinary) => {
            const kind = reader.read(buf);
            if (kind === KIND_MESSAGE) onDelivery(reader.sentUs);
            else if (kind === KIND_ACK) onAck(c, reader.sentUs);
            else slow(c, buf, isBinary);
          },
      (code) => {
        if (c.leaving) {
          open--;
          c.leaving = false;
        } else lost(code);
        // A set-up reply that can no longer come: answer its waiter now, not at the deadline.
        if (c.waiters !== null) {
          for (const [key, w] of [...c.waiters]) {
            c.waiters.delete(key);
            w({ type: 'closed', data: { code: `closed_${code}` } });
          }
        }
      },
    );
    if (ws === null) {
      failed++;
      return;
    }
    c.ws = ws;
    open++;
    const left = () => Math.max(1, deadline - Date.now());
    // The wire's own handshake (Socket.IO: open packet, then the namespace connect) is part of
    // connecting: a connection that fails it is counted failed, not connected.
    const wsUpMs = performance.now();
    const notReady = await wc.ready(left());
    if (notReady !== null) {
      failed++;
      count(notReady);
      // Half connected: it neither joins nor sends (it is closed with the others at the end).
      cp.sends = false;
      return;
    }
    connected++;
    connectUs.record((c.ws.handshakeMs + performance.now() - wsUpMs) * 1000);
    if (m.auth === 'frame' && cp.token !== undefined && !wire.tokenInConnect) {
      // veza answers a request with an id by its `ack`; the reference servers (and the seed's) send
      // `authenticated`, perhaps without reply_to: slow() files it under a1 too.
      const reply = waitReply(c, 'a1', left());
      c.ws.send(wire.op('authenticate', { token: cp.token }, 'a1'));
      const env = await reply;
      if (env === null || (env.type !== 'authenticated' && env.type !== 'ack')) {
        count(env === null ? 'auth:timeout' : `auth:${String(env.data?.code ?? env.type)}`);
        return;
      }
    }
    if (cp.dmPeer !== undefined) {
      // The direct conversation with the peer (both sides ask; the same pair gets the same one).
      const reply = waitReply(c, 'd1', left());
      c.ws.send(wire.op('create_dm', { user_id: cp.dmPeer }, 'd1'));
      const env = await reply;
      const conv = env?.type === 'ack' ? Number(env.data?.conversation_id) : NaN;
      if (!Number.isSafeInteger(conv) || conv <= 0) {
        count(env === null ? 'create_dm:timeout' : `create_dm:${String(env.data?.code ?? env.type)}`);
        return;
      }
      cp.rooms = [conv];
      members.set(conv, (members.get(conv) ?? 0) + 1);
      joinedConns++;
      return;
    }
    const replies = cp.rooms.map((room) => {
      const r = waitReply(c, `j${room}`, left());
      c.ws?.send(wire.op('join_room', { room_id: room }, `j${room}`));
      return r;
    });
    const envs = await Promise.all(replies);
    let ok = true;
    envs.forEach((env, i) => {
      if (env !== null && (env.type === 'joined' || env.type === 'ack')) {
        const room = cp.rooms[i] as number;
        // A churning connection is away part of the time: not counted as a member for deliveries.
        if (!cp.churns) members.set(room, (members.get(room) ?? 0) + 1);
      } else {
        ok = false;
        count(env === null ? 'join:timeout' : `join:${String(env.data?.code ?? env.type)}`);
      }
    });
    if (ok) joinedConns++;
  };

  // churn and resume connect after `go`.
  if (m.mode === 'load' || m.mode === 'mixed') await Promise.all(m.conns.map(one));
  else for (const cp of m.conns) conns.push({ plan: cp, ws: null, wc: null, seq: 0, waiters: null, inflight: 0 });
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
  windowEndMs = mTo;
  mFromUs = Math.round(mFrom * 1000);
  mToUs = Math.round(mTo * 1000);

  setTimeout(() => {
    eluAtFrom = performance.eventLoopUtilization();
  }, Math.max(0, mFrom - nowMs()));
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
  const finish = (expected: number | null) => {
    clearTimeout(tickTimer);
    postDone(expected);
  };

  if (plan.mode === 'churn') {
    setTimeout(() => {
      Promise.all(conns.map((c) => churnSlot(c, mTo, g.drainMs))).then(() => finish(null), fatal);
    }, Math.max(0, startAt - nowMs()));
    return;
  }
  if (plan.mode === 'mixed') {
    runMixed(g, mTo, finish);
    return;
  }
  if (plan.mode === 'resume') {
    setTimeout(() => {
      const deadline = mTo + g.drainMs;
      const limiter = new ConnectLimiter(Math.max(1, plan.connectConcurrency));
      let expected = 0;
      for (const c of conns) expected += c.plan.expectEvents ?? 0;
      Promise.all(conns.map((c) => resumeOne(c, deadline, limiter))).then(() => finish(expected), fatal);
    }, Math.max(0, startAt - nowMs()));
    return;
  }

  const senders = conns.filter((c) => c.plan.sends && c.ws !== null && c.plan.rooms.length > 0);
  const rate = plan.ratePerSender * senders.length; // this worker's msg/s (open loop)
  const padding = 'x'.repeat(plan.payloadBytes);
  let rr = 0;

  const sendOne = (c: Conn) => {
    const t = nowUs();
    const seq = ++c.seq;
    const room = c.plan.rooms[0] as number;
    const content = benchContent(c.plan.index, seq, t, padding);
    const frame = wire.message(plan.send, room, content, plan.ack ? `s${t}` : undefined, plan.clientIds ? randomUUID() : undefined);
    if (!(c.ws as WsConnection).send(frame)) {
      count('client:send_on_closed');
      return;
    }
    c.inflight++;
    tickSent++;
    if (t >= mFromUs && t < mToUs) {
      sent++;
      sentByRoom.set(room, (sentByRoom.get(room) ?? 0) + 1);
    }
  };

  if (plan.window > 0) {
    // Closed loop: fill every sender's window at the start; each reply sends the next (refill).
    sendNext = (c) => {
      sentTotal++;
      sendOne(c);
    };
    setTimeout(() => {
      for (const c of senders) for (let i = 0; i < plan.window; i++) sendNext?.(c);
    }, Math.max(0, startAt - nowMs()));
  } else {
    if (senders.length > 0) {
      paced(rate, startAt, mTo, () => {
        sendOne(senders[rr] as Conn);
        rr = (rr + 1) % senders.length;
      });
    }
  }

  // Drain: after the window, until deliveries stop for quietMs with every send of the window
  // acknowledged, or drainMs passes. Without the acks condition, a server stalled for quietMs (an
  // oversubscribed machine) ended the drain with its acks still on the way.
  const checkDone = () => {
    const now = nowMs();
    const quiet = now - lastActivityUs / 1000 >= g.quietMs && (plan.window > 0 || acks >= sent);
    if ((now >= mTo + g.quietMs && quiet) || now >= mTo + g.drainMs) {
      finish(null);
      return;
    }
    setTimeout(checkDone, 50);
  };
  setTimeout(checkDone, Math.max(0, mTo - nowMs()));
}

const windowElu = () => (eluAtFrom ? performance.eventLoopUtilization(eluAtFrom).utilization : 0);

function postDone(expected: number | null): void {
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
    ...(plan.mode === 'mixed' ? { opLatency: Object.fromEntries(Object.entries(opLatency).map(([op, h]) => [op, h.snapshot()])) } : {}),
    errors: { ...errors },
    elu: eluWindow ?? windowElu(),
    lagMaxMs: lagMax,
    dropped,
    expected,
    counters: { ...counters },
  };
  port.postMessage(done, [done.latency.counts.buffer as ArrayBuffer, done.ackLatency.counts.buffer as ArrayBuffer]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A promise with its resolver, for one-shot waits inside a connection's callbacks. */
function signal<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Churn: connect, authenticate (`authenticated` received: at the upgrade with a header or query
 * token, by the first frame otherwise; without a token the handshake is the end; on Socket.IO's
 * wire, the namespace connect that carries the token), close and wait for the close, again and
 * again until the window ends. A completed connect+authenticate counts as a delivery; its
 * duration is the latency.
 */
async function churnSlot(c: Conn, mTo: number, drainMs: number): Promise<void> {
  const cp = c.plan;
  while (nowMs() < mTo && !closing) {
    const t0 = nowUs();
    const inWindow = t0 >= mFromUs && t0 < mToUs;
    tickSent++;
    if (inWindow) sent++;
    const authed = signal<string>();
    const closed = signal<void>();
    const wc = wire.conn(cp.token);
    const ws = await connectOn(
      cp,
      wc,
      undefined,
      (buf, isBinary) => {
        const d = wc.decode(buf, isBinary);
        if (d.kind === 'invalid') count(d.key);
        else if (d.kind === 'envelope' && (d.env.type === 'authenticated' || (d.env.type === 'ack' && d.env.reply_to === 'a1'))) authed.resolve('ok');
        else if (d.kind === 'envelope' && d.env.type === 'error') authed.resolve(`auth:${String(d.env.data?.code ?? 'error')}`);
      },
      (code) => {
        authed.resolve(`closed:${code}`);
        closed.resolve();
      },
    );
    if (ws === null) {
      bump('churn_failed');
      await sleep(5);
      continue;
    }
    open++;
    let outcome = (await wc.ready(plan.handshakeTimeoutMs)) ?? 'ok';
    if (outcome === 'ok' && cp.token !== undefined && !wire.tokenInConnect) {
      if (plan.auth === 'frame') ws.send(wire.op('authenticate', { token: cp.token }, 'a1'));
      const timer = setTimeout(() => authed.resolve('auth:timeout'), plan.handshakeTimeoutMs);
      outcome = await authed.promise;
      clearTimeout(timer);
    }
    const now = nowUs();
    if (outcome === 'ok') {
      tickDelivered++;
      deliveredTotal++;
      tickLatency.record(now - t0);
      lastActivityUs = now;
      if (inWindow) {
        delivered++;
        latency.record(now - t0);
        bump('churn_cycles');
      }
    } else {
      count(outcome);
      bump('churn_failed');
    }
    ws.close(1000, 'churn');
    const t1 = nowUs();
    await Promise.race([closed.promise, sleep(drainMs)]);
    open--;
    if (inWindow && outcome === 'ok') ackLatency.record(nowUs() - t1); // the close handshake
  }
}

/**
 * Resume: connect (token at the upgrade or by the first frame), send `resume` with the
 * connection's positions, and count what comes back: one `resumed` per position (recovered or
 * not), then the missed events. Done when the reply and every expected event arrived, or at the
 * deadline. Latency: from `go` to done (what a client waits in a reconnect storm); ack latency:
 * from this connection's own connect to done.
 */
async function resumeOne(c: Conn, deadline: number, limiter: ConnectLimiter): Promise<void> {
  const cp = c.plan;
  const positions = cp.positions ?? {};
  const nPositions = Object.keys(positions).length;
  const expect = cp.expectEvents ?? 0;
  const startUs = Math.round(startAt * 1000);
  let events = 0;
  let resumed = 0;
  let replied = false;
  const done = signal<void>();
  const check = () => {
    if (replied && resumed >= nPositions && events >= expect) done.resolve();
  };
  const recovered = () => {
    events++;
    delivered++;
    deliveredTotal++;
    tickDelivered++;
  };
  const t0 = nowUs();
  const wc = wire.conn(cp.token);
  c.wc = wc;
  const ws = await connectOn(
    cp,
    wc,
    limiter,
    (buf, isBinary) => {
      if (reader.read(buf) === KIND_MESSAGE) {
        recovered();
        lastActivityUs = nowUs();
        check();
        return;
      }
      const d = wc.decode(buf, isBinary);
      if (d.kind === 'invalid') return count(d.key);
      if (d.kind === 'none') return;
      const env = d.env;
      if (env.type === 'resumed') {
        resumed++;
        bump('resumed');
        bump(env.data?.recovered === true ? 'resumed_recovered' : 'resumed_not_recovered');
      } else if (env.type === 'message' && typeof env.data?.content === 'string') {
        // A recovered event in another key order (the fast path did not take it).
        recovered();
      } else if (env.reply_to === 'r1') {
        replied = true;
        if (env.type === 'error') {
          count(`server:${String(env.data?.code ?? 'unknown')}`);
          done.resolve();
        }
      } else if (env.type === 'error') count(`server:${String(env.data?.code ?? 'unknown')}`);
      check();
    },
    (code) => {
      lost(code);
      done.resolve();
    },
  );
  if (ws === null) {
    bump('resume_connect_failed');
    return;
  }
  c.ws = ws;
  open++;
  const notReady = await wc.ready(Math.max(1, deadline - nowMs()));
  if (notReady !== null) {
    count(notReady);
    bump('resume_connect_failed');
    return;
  }
  if (plan.auth === 'frame' && cp.token !== undefined && !wire.tokenInConnect) ws.send(wire.op('authenticate', { token: cp.token }));
  ws.send(wire.op('resume', { positions }, 'r1'));
  const timer = setTimeout(() => done.resolve(), Math.max(1, deadline - nowMs()));
  await done.promise;
  clearTimeout(timer);
  const now = nowUs();
  if (replied && resumed >= nPositions && events >= expect) {
    bump('resume_complete');
    latency.record(now - startUs);
    tickLatency.record(now - startUs);
    ackLatency.record(now - t0);
  } else {
    bump('resume_incomplete');
  }
  if (events > expect) bump('resume_extra_events', events - expect);
}

/* ---------- mixed ---------- */

/**
 * Every DELETE_EVERY-th message this worker sends is sent to be deleted later (its request id
 * starts with `x`; its ack's id goes to `deletable`), and the one at KEEP_AT in that cycle is kept
 * for edits (`k`, to `editable`). A message to be deleted, and only such a message, has a sequence
 * number (in its marker) that is a multiple of DELETE_EVERY: receivers never react to one or mark
 * it read, and edits never touch one, so no operation of the mix races a delete into `not_found`.
 * The pools are the worker's (the author's connection sends the edit or delete), so even at a
 * fraction of an operation per connection per second there is soon something to edit and delete.
 */
const DELETE_EVERY = 8;
const KEEP_AT = 4;
const EDITABLE_KEPT = 256;
const DELETABLE_KEPT = 1024;
interface Owned {
  c: Conn;
  id: number;
}
const editable: Owned[] = [];
const deletable: Owned[] = [];
let mixedSends = 0;
const EMOJI = ['👍', '❤️', '😂', '🎉', '👀', '🙏'];
/** The first character of a mixed operation's request id, then its send time in µs. */
const OP_OF_CHAR: Readonly<Record<string, MixedOp>> = {
  s: 'send_message',
  k: 'send_message',
  x: 'send_message',
  t: 'typing',
  r: 'add_reaction',
  m: 'mark_read',
  e: 'edit_message',
  d: 'delete_message',
};
const SENT_KEY = Object.fromEntries(MIXED_OPS.map((op) => [op, `sent:${op}`])) as Record<MixedOp, string>;
const ACKED_KEY = Object.fromEntries(MIXED_OPS.map((op) => [op, `acked:${op}`])) as Record<MixedOp, string>;
const opLatency: Partial<Record<MixedOp, Histogram>> = {};
const JSON_TYPE = Buffer.from('{"type":"');
/** Frames the mixed receive path decodes (the rest it only counts by type). */
const DECODED_TYPES = new Set(['ack', 'error', 'joined', 'authenticated', 'message']);

/** A frame on a mixed connection: deliveries and `s` acks on the fast path, replies decoded, other events counted by type. */
function mixedReceive(c: Conn, buf: Buffer, isBinary: boolean): void {
  const kind = reader.read(buf);
  if (kind === KIND_MESSAGE) return mixedDelivery(c, buf);
  if (kind === KIND_ACK) return opReply(c, 's', reader.sentUs, null);
  if (!isBinary && startsWith(buf, JSON_TYPE, 0)) {
    // Reaction, typing, presence, edit, delete events fan out to whole rooms: tell them by their
    // type (the envelope's first key, as the server writes it) without decoding them.
    const end = buf.indexOf(0x22, JSON_TYPE.length);
    if (end > 0) {
      const type = buf.toString('latin1', JSON_TYPE.length, end);
      if (!DECODED_TYPES.has(type)) {
        if (running) bump(`events:${type}`);
        return;
      }
    }
  }
  const d = (c.wc as WireConn).decode(buf, isBinary);
  if (d.kind === 'none') return;
  if (d.kind === 'invalid') return count(d.key);
  const env = d.env;
  const r = env.reply_to;
  if (env.type === 'ack' || env.type === 'error') {
    if (typeof r === 'string' && r.length > 1 && OP_OF_CHAR[r[0] as string] !== undefined && /^[a-z]\d+$/.test(r)) {
      return opReply(c, r[0] as string, Number(r.slice(1)), env);
    }
    if (resolveWaiter(c, r, env)) return;
    if (env.type === 'error') count(`server:${String(env.data?.code ?? 'unknown')}`);
    return;
  }
  if (env.type === 'authenticated') {
    resolveWaiter(c, 'a1', env);
    return;
  }
  if (env.type === 'joined') {
    resolveWaiter(c, `j${String(env.data?.room_id)}`, env);
    return;
  }
  if (env.type !== 'message' && running) bump(`events:${env.type}`);
}

/** A bench message delivered to `c`: timed when it is another member's; kept as a target for reactions and read markers. */
function mixedDelivery(c: Conn, buf: Buffer): void {
  // A churning connection is away part of the time: it neither counts nor is counted (cohort.ts).
  if (c.plan.churns) return;
  // The sender's own copy is not a delivery to another member.
  if (reader.sender === c.plan.index) return;
  onDelivery(reader.sentUs);
  const targets = c.targets;
  if (targets === undefined || reader.seq % DELETE_EVERY === 0) return;
  const fr = reader as FrameReader;
  if (!fr.readIds(buf)) return;
  const rooms = c.plan.rooms;
  for (let i = 0; i < rooms.length; i++) {
    if (rooms[i] === fr.conversationId) {
      targets[i] = fr.messageId;
      return;
    }
  }
}

/** The reply to a mixed operation (`env` null: a send's ack on the fast path). */
function opReply(c: Conn, ch: string, sentUs: number, env: Envelope | null): void {
  const op = OP_OF_CHAR[ch] as MixedOp;
  const now = nowUs();
  tickAcks++;
  lastActivityUs = now;
  if (c.inflight > 0) c.inflight--;
  const inWindow = sentUs >= mFromUs && sentUs < mToUs;
  // `acks` counts the operations answered (an ack or an error): the drain waits for all of them.
  if (inWindow) acks++;
  if (env === null || env.type === 'ack') {
    if (inWindow) {
      bump(ACKED_KEY[op]);
      ackLatency.record(now - sentUs);
      (opLatency[op] ??= new Histogram()).record(now - sentUs);
    }
    if (ch === 'k' || ch === 'x') {
      const id = Number(env?.data?.id);
      if (Number.isSafeInteger(id) && id > 0) {
        const list = ch === 'k' ? editable : deletable;
        list.push({ c, id });
        if (list.length > (ch === 'k' ? EDITABLE_KEPT : DELETABLE_KEPT)) list.shift();
      }
    }
    return;
  }
  count(`server:${op}:${String(env.data?.code ?? 'unknown')}`);
}

/** Whether `c` has what `op` needs (a message to react to or mark read, an own message to edit or delete). */
function canDo(c: Conn, op: MixedOp): boolean {
  switch (op) {
    case 'add_reaction':
    case 'mark_read':
      return (c.targets ?? []).some((t) => t > 0);
    default:
      return true;
  }
}

const pickIndex = (n: number) => Math.floor(Math.random() * n);

/** Send one operation of the mix from `c`. */
function sendMixed(c: Conn, op: MixedOp, padding: string): void {
  const t = nowUs();
  const inWindow = t >= mFromUs && t < mToUs;
  const rooms = c.plan.rooms;
  let frame: string | Buffer;
  let room = 0;
  switch (op) {
    case 'send_message': {
      const turn = ++mixedSends % DELETE_EVERY;
      // To be deleted: the next multiple of DELETE_EVERY; any other: the next that is not one.
      if (turn === 0) c.seq += DELETE_EVERY - (c.seq % DELETE_EVERY);
      else if (++c.seq % DELETE_EVERY === 0) c.seq++;
      const seq = c.seq;
      const ch = turn === 0 ? 'x' : turn === KEEP_AT ? 'k' : 's';
      room = rooms[pickIndex(rooms.length)] as number;
      const content = benchContent(c.plan.index, seq, t, padding);
      frame = wire.message('room', room, content, `${ch}${t}`, plan.clientIds ? randomUUID() : undefined);
      break;
    }
    case 'typing':
      frame = wire.op('typing', { room_id: rooms[pickIndex(rooms.length)], state: c.typingStart === false ? 'stop' : 'start' }, `t${t}`);
      c.typingStart = c.typingStart === false;
      break;
    case 'add_reaction':
    case 'mark_read': {
      const targets = c.targets as number[];
      const known: number[] = [];
      for (let i = 0; i < targets.length; i++) if ((targets[i] as number) > 0) known.push(i);
      const i = known[pickIndex(known.length)] as number;
      frame =
        op === 'add_reaction'
          ? wire.op('add_reaction', { message_id: targets[i], emoji: EMOJI[pickIndex(EMOJI.length)] }, `r${t}`)
          : wire.op('mark_read', { conversation_id: rooms[i], message_id: targets[i] }, `m${t}`);
      break;
    }
    case 'edit_message':
    case 'delete_message':
      throw new Error(`${op} is sent by sendOwned`);
  }
  if (!(c.ws as WsConnection).send(frame)) {
    count('client:send_on_closed');
    return;
  }
  c.inflight++;
  tickSent++;
  if (inWindow) {
    sent++;
    bump(SENT_KEY[op]);
    if (op === 'send_message') sentByRoom.set(room, (sentByRoom.get(room) ?? 0) + 1);
  }
}

/** An edit or a delete of a message the worker keeps for it, from its author's connection; false when there is none (or its connection is down). */
function sendOwned(op: 'edit_message' | 'delete_message'): boolean {
  const t = nowUs();
  let o: Owned | undefined;
  let frame: string | Buffer;
  if (op === 'edit_message') {
    o = editable[pickIndex(editable.length)];
    if (o === undefined) return false;
    frame = wire.op('edit_message', { message_id: o.id, content: `edited by ${o.c.plan.index} at ${t}` }, `e${t}`);
  } else {
    o = deletable.shift();
    if (o === undefined) return false;
    frame = wire.op('delete_message', { message_id: o.id }, `d${t}`);
  }
  const c = o.c;
  if (c.ws === null || !c.ws.send(frame)) {
    count('client:send_on_closed');
    return true;
  }
  c.inflight++;
  tickSent++;
  if (t >= mFromUs && t < mToUs) {
    sent++;
    bump(SENT_KEY[op]);
  }
  return true;
}

/**
 * The mixed workload: the open-loop schedule of load mode at this worker's share of the rate,
 * each operation drawn from the mix and sent by the next connection (round robin) that has what
 * it needs (edits and deletes: the author of a message the worker keeps for them); when none of
 * the next 16 has (the first seconds: no message seen yet), a message is sent instead and
 * `substituted:<op>` counts it. Churning connections close and reconnect.
 */
function runMixed(g: GoMessage, mTo: number, finish: (expected: number | null) => void): void {
  const mix = plan.mix ?? {};
  const ops = MIXED_OPS.filter((op) => (mix[op] ?? 0) > 0);
  const cumulative: number[] = [];
  let total = 0;
  for (const op of ops) cumulative.push((total += mix[op] as number));
  const pickOp = (): MixedOp => {
    const x = Math.random() * total;
    for (let i = 0; i < ops.length; i++) if (x < (cumulative[i] as number)) return ops[i] as MixedOp;
    return ops[ops.length - 1] as MixedOp;
  };
  const senders = conns.filter((c) => c.plan.sends && !c.plan.churns && c.ws !== null && c.plan.rooms.length > 0);
  for (const c of senders) c.targets = c.plan.rooms.map(() => 0);
  const rate = plan.ratePerSender * senders.length;
  const padding = 'x'.repeat(plan.payloadBytes);
  let rr = 0;
  const next = (op: MixedOp) => {
    const n = senders.length;
    const owned = op === 'edit_message' || op === 'delete_message';
    if (owned && sendOwned(op)) return;
    for (let k = 0; k < (owned ? 0 : Math.min(16, n)); k++) {
      const c = senders[(rr + k) % n] as Conn;
      if (canDo(c, op)) {
        rr = (rr + k + 1) % n;
        sendMixed(c, op, padding);
        return;
      }
    }
    if (nowUs() >= mFromUs && nowUs() < mToUs) bump(`substituted:${op}`);
    sendMixed(senders[rr] as Conn, 'send_message', padding);
    rr = (rr + 1) % n;
  };
  if (senders.length > 0) paced(rate, startAt, mTo, () => next(ops.length > 0 ? pickOp() : 'send_message'));
  const churning = conns.filter((c) => c.plan.churns && c.ws !== null);
  setTimeout(() => {
    for (const c of churning) churnLoop(c, mTo).catch(fatal);
  }, Math.max(0, startAt - nowMs()));

  const checkDone = () => {
    const now = nowMs();
    const quiet = now - lastActivityUs / 1000 >= g.quietMs && acks >= sent;
    if ((now >= mTo + g.quietMs && quiet) || now >= mTo + g.drainMs) {
      finish(null);
      return;
    }
    setTimeout(checkDone, 50);
  };
  setTimeout(checkDone, Math.max(0, mTo - nowMs()));
}

/**
 * A churning connection of the mixed workload: stays connected a while (`churnOnlineMs`), closes,
 * reconnects (authenticates, joins its rooms again), until the window ends. What the server
 * makes of it (presence, when built) reaches the others as events.
 */
async function churnLoop(c: Conn, mTo: number): Promise<void> {
  const [lo, hi] = plan.churnOnlineMs ?? [1000, 3000];
  while (!closing && nowMs() < mTo) {
    await sleep(lo + Math.random() * Math.max(0, hi - lo));
    if (closing || nowMs() >= mTo) return;
    const old = c.ws;
    if (old !== null) {
      c.leaving = true;
      old.close(1000, 'churn');
      const until = nowMs() + 3000;
      while (c.leaving && nowMs() < until) await sleep(10);
      if (c.leaving) {
        old.terminate();
        c.leaving = false;
        open--;
      }
    }
    c.ws = null;
    if (closing) return;
    c.waiters = new Map();
    const ws = await connectOn(
      c.plan,
      c.wc as WireConn,
      undefined,
      (buf, isBinary) => mixedReceive(c, buf, isBinary),
      (code) => {
        if (c.leaving) {
          open--;
          c.leaving = false;
        } else lost(code);
        for (const [key, w] of [...(c.waiters ?? [])]) {
          c.waiters?.delete(key);
          w({ type: 'closed', data: { code: `closed_${code}` } });
        }
      },
    );
    if (ws === null) {
      c.waiters = null;
      bump('churn_failed');
      await sleep(100);
      continue;
    }
    c.ws = ws;
    open++;
    if (closing) {
      // The run ended while it reconnected: closeAll has already passed this connection.
      c.waiters = null;
      ws.close(1000, 'bench done');
      return;
    }
    let ok = true;
    if (plan.auth === 'frame' && c.plan.token !== undefined) {
      const reply = waitReply(c, 'a1', plan.handshakeTimeoutMs);
      ws.send(wire.op('authenticate', { token: c.plan.token }, 'a1'));
      const env = await reply;
      if (env === null || (env.type !== 'authenticated' && env.type !== 'ack')) {
        ok = false;
        count(env === null ? 'churn:auth:timeout' : `churn:auth:${String(env.data?.code ?? env.type)}`);
      }
    }
    if (ok) {
      const envs = await Promise.all(
        c.plan.rooms.map((room) => {
          const r = waitReply(c, `j${room}`, plan.handshakeTimeoutMs);
          ws.send(wire.op('join_room', { room_id: room }, `j${room}`));
          return r;
        }),
      );
      for (const env of envs) {
        if (env === null || (env.type !== 'ack' && env.type !== 'joined')) {
          ok = false;
          count(env === null ? 'churn:join:timeout' : `churn:join:${String(env.data?.code ?? env.type)}`);
        }
      }
    }
    c.waiters = null;
    if (!ok) {
      bump('churn_failed');
      continue;
    }
    bump('churn_reconnects');
  }
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
