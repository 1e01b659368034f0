/**
 * The bench's Socket.IO target: the packet codec (socketio-frames.ts), the wire against the real
 * socket.io server of socketio-server.ts (handshake, namespace connect with auth, events and
 * acks, Engine.IO pings answered so a short pingTimeout does not drop us), malformed packets
 * counted rather than crashing a cohort, and short runs of the suites on `--target socketio`
 * with real figures (delivery, latency, server CPU and RSS from /proc). No mocks: socket.io
 * itself, real sockets over loopback.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { idlePlan, runLoad } from '../bench/cohort.js';
import { benchContent, KIND_ACK, KIND_MESSAGE, KIND_OTHER, type Envelope } from '../bench/frames.js';
import { readResults, type BenchResult } from '../bench/result.js';
import { AckIds, parsePacket, SioReader, SOCKETIO_PATH, SocketIoWire, type SioConn } from '../bench/socketio-frames.js';
import { startSocketIoServer } from '../bench/socketio-server.js';
import { BenchSession, runSuite, type SuiteContext, type SuiteParams } from '../bench/suites.js';
import { WsConnection, WsState } from '../bench/ws-client.js';
import { run } from '../src/cli/program.js';
import type { CliIO } from '../src/cli/io.js';
import { compiledBenchEntries } from './helpers/dist.js';

compiledBenchEntries();

t.test('parsePacket: every Engine.IO and Socket.IO packet the bench meets', async (t) => {
  t.same(parsePacket('0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}'), {
    type: 'open',
    sid: 'abc',
    pingInterval: 300,
    pingTimeout: 200,
    maxPayload: 1000000,
  });
  t.same(parsePacket('2'), { type: 'ping', data: '' });
  t.same(parsePacket('2probe'), { type: 'ping', data: 'probe' });
  t.same(parsePacket('3'), { type: 'pong', data: '' });
  t.same(parsePacket('1'), { type: 'close' });
  t.same(parsePacket('6'), { type: 'noop' });
  t.same(parsePacket('40{"sid":"s1"}'), { type: 'connect', sid: 's1' });
  t.same(parsePacket('40/,{"sid":"s1"}'), { type: 'connect', sid: 's1' }, 'the default namespace written out');
  t.same(parsePacket('41'), { type: 'disconnect' });
  t.same(parsePacket('42["message",{"a":1}]'), { type: 'event', id: null, name: 'message', args: [{ a: 1 }] });
  t.same(parsePacket('4217["ask",1,2]'), { type: 'event', id: 17, name: 'ask', args: [1, 2] });
  t.same(parsePacket('43170[{"ok":true}]'), { type: 'ack', id: 170, args: [{ ok: true }] });
  t.same(parsePacket('431[]'), { type: 'ack', id: 1, args: [] });
  t.same(parsePacket('44{"message":"Not authorized","data":{}}'), { type: 'connect_error', message: 'Not authorized' });
  t.same(parsePacket('44"old style"'), { type: 'connect_error', message: 'old style' });

  const reason = (text: string) => {
    const p = parsePacket(text);
    return p.type === 'invalid' ? p.reason : `parsed as ${p.type}`;
  };
  t.equal(reason(''), 'invalid_packet', 'empty');
  t.equal(reason('9'), 'invalid_packet', 'unknown Engine.IO type');
  t.equal(reason('5'), 'invalid_packet', 'upgrade is not for this transport');
  t.equal(reason('47[]'), 'invalid_packet', 'unknown Socket.IO type');
  t.equal(reason('4'), 'invalid_packet', 'a message without a Socket.IO packet');
  t.equal(reason('0{"sid":"x"}'), 'invalid_payload', 'open without ping timings');
  t.equal(reason('0{"sid":"x","pingInterval":-1,"pingTimeout":1}'), 'invalid_payload', 'negative interval');
  t.equal(reason('0not json'), 'invalid_payload');
  t.equal(reason('40'), 'invalid_payload', 'connect without a sid');
  t.equal(reason('41{"x":1}'), 'invalid_payload', 'disconnect with a payload');
  t.equal(reason('42["message"'), 'invalid_payload', 'truncated JSON');
  t.equal(reason('42{"type":"message"}'), 'invalid_payload', 'an event that is not an array');
  t.equal(reason('42[7]'), 'invalid_payload', 'an event without a name');
  t.equal(reason('43[{}]'), 'invalid_payload', 'an ack without an id');
  t.equal(reason('4399'), 'invalid_payload', 'an ack without arguments');
  t.equal(reason('44{}'), 'invalid_payload', 'connect_error without a message');
  t.equal(reason('42/admin,["x"]'), 'namespace');
  t.equal(reason('41/admin'), 'namespace', 'a namespace up to the end');
  t.equal(reason('451-["x",{"_placeholder":true,"num":0}]'), 'binary_unsupported');
  t.equal(reason('46'), 'binary_unsupported');
  t.equal(reason('4399999999999999999[]'), 'invalid_packet', 'an ack id beyond 2^53');
});

t.test('AckIds: bench sends carry their time, other ids a table index; the last digit tells them apart', async (t) => {
  const ids = new AckIds();
  t.equal(ids.idOf('s1700000000123'), 17000000001230);
  t.equal(ids.keyOf(17000000001230), 's1700000000123');
  const j5 = ids.idOf('j5');
  const d1 = ids.idOf('d1');
  t.equal(j5 % 10, 1);
  t.not(j5, d1);
  t.equal(ids.idOf('j5'), j5, 'the same id for the same key');
  t.equal(ids.keyOf(j5), 'j5');
  t.equal(ids.keyOf(d1), 'd1');
  t.equal(ids.keyOf(9991), null, 'never asked');
  t.equal(ids.keyOf(17), null, 'a tag we never use');
  t.equal(ids.keyOf(ids.idOf('s99999999999999999')), 's99999999999999999', 'beyond 2^53 ×10: kept exact through the table');
});

t.test('SioReader: the fast path takes bench messages and send acks, nothing else', async (t) => {
  const r = new SioReader();
  const content = benchContent(12, 345, 1_700_000_000_123, 'x'.repeat(80));
  const msg = `42["message",${JSON.stringify({ id: 1, room_id: 3, seq: 9, content, message_type: 'text' })}]`;
  t.equal(r.read(Buffer.from(msg)), KIND_MESSAGE);
  t.same([r.sender, r.seq, r.sentUs], [12, 345, 1_700_000_000_123]);
  t.equal(r.read(Buffer.from('4317000000009990[{"message_id":1,"seq":9}]')), KIND_ACK);
  t.equal(r.sentUs, 1_700_000_000_999);
  t.equal(r.read(Buffer.from('4317000000009990[{"error":{"code":"forbidden"}}]')), KIND_OTHER, 'an error ack: slow path');
  t.equal(r.read(Buffer.from('4311[{"room_id":3}]')), KIND_OTHER, 'a join ack: slow path');
  t.equal(r.read(Buffer.from('42["message",{"content":"hello"}]')), KIND_OTHER, 'not a bench message');
  t.equal(r.read(Buffer.from('42["message",{"content":"~b:1:2:~"}]')), KIND_OTHER, 'a truncated marker');
  t.equal(r.read(Buffer.from('43[{}]')), KIND_OTHER);
  t.equal(r.read(Buffer.from('2')), KIND_OTHER);
  t.equal(r.read(Buffer.from('')), KIND_OTHER);
});

/** A client of the wire: collects the envelopes its connection decodes (copied: buffers are views). */
async function sioClient(url: string, wire: SocketIoWire, token?: string) {
  const conn = wire.conn(token);
  const envs: Envelope[] = [];
  const invalid: string[] = [];
  const fast: number[] = [];
  let waiter: (() => void) | null = null;
  let closed: number | null = null;
  const ws = await WsConnection.connect({
    url,
    onOpen: (w) => conn.opened(w),
    onMessage: (buf, isBinary) => {
      const kind = wire.reader.read(buf);
      if (kind !== KIND_OTHER) fast.push(kind);
      else {
        const d = conn.decode(buf, isBinary);
        if (d.kind === 'envelope') envs.push(d.env);
        else if (d.kind === 'invalid') invalid.push(d.key);
      }
      waiter?.();
    },
    onClose: (code) => {
      closed = code;
      conn.closed(code);
      waiter?.();
    },
  });
  const until = async (cond: () => boolean, what: string, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, 50);
      });
    }
  };
  return { ws, conn: conn as SioConn, envs, invalid, fast, until, closed: () => closed };
}

t.test('against socket.io: handshake, auth, rooms, message + ack, errors, DMs, pings answered', async (t) => {
  // Short heartbeats: a client that did not answer pings would be dropped within 400 ms.
  const server = await startSocketIoServer({ port: 0, pingIntervalMs: 200, pingTimeoutMs: 200 });
  t.teardown(() => server.close());
  const url = `ws://127.0.0.1:${server.port}${SOCKETIO_PATH}`;
  const wire = new SocketIoWire();

  const a = await sioClient(url, wire, 't5');
  const b = await sioClient(url, wire, 't6');
  t.equal(await a.conn.ready(5000), null, 'namespace connect acknowledged');
  t.equal(await b.conn.ready(5000), null);
  t.ok(a.conn.connected);
  t.match(a.conn.engineSid, /^[\w-]+$/, 'Engine.IO session id from the open packet');
  t.match(a.conn.socketSid, /^[\w-]+$/, 'Socket.IO session id from the connect ack');
  t.not(a.conn.engineSid, a.conn.socketSid);
  t.equal(a.conn.pingInterval, 200);
  t.equal(a.conn.pingTimeout, 200);

  a.ws.send(wire.op('join_room', { room_id: 7 }, 'j7'));
  b.ws.send(wire.op('join_room', { room_id: 7 }, 'j7'));
  await a.until(() => a.envs.length >= 1, 'a joined');
  await b.until(() => b.envs.length >= 1, 'b joined');
  t.same(a.envs[0], { type: 'ack', reply_to: 'j7', data: { room_id: 7, room: { id: 7, name: 'room-7' }, last_seq: 0 } });

  // A bench send: both members get the message (fast path), the sender its ack (fast path).
  const content = benchContent(0, 1, 123_456_789, 'x'.repeat(64));
  a.ws.send(wire.message('room', 7, content, 's123456789'));
  await a.until(() => a.fast.length >= 2, 'message and ack to the sender');
  await b.until(() => b.fast.length >= 1, 'message to the other member');
  t.same([...a.fast].sort(), [KIND_MESSAGE, KIND_ACK]);
  t.same(b.fast, [KIND_MESSAGE]);
  t.equal(wire.reader.sentUs, 123_456_789);

  // A message written by hand (not a bench marker): the slow path gives PROTOCOL.md's object.
  a.ws.send(wire.op('send_message', { room_id: 7, content: 'hello', client_id: 'c-1' }, 'm1'));
  await b.until(() => b.envs.length >= 2, 'a slow-path message');
  t.match(b.envs[1], {
    type: 'message',
    data: { room_id: 7, conversation_id: 7, seq: 2, author_id: 5, author: 'user5', content: 'hello', client_id: 'c-1', message_type: 'text' },
  });
  await a.until(() => a.envs.some((e) => e.reply_to === 'm1'), 'the ack of m1');
  t.match(
    a.envs.find((e) => e.reply_to === 'm1'),
    { type: 'ack', data: { message_id: Number, seq: 2 } },
  );

  // Errors: with an ack, an `error` reply to it; without, an `error` event.
  a.ws.send(wire.op('send_message', { room_id: 'nope', content: 'x' }, 'bad'));
  a.ws.send(wire.op('send_message', { room_id: 'nope', content: 'x' }));
  await a.until(() => a.envs.filter((e) => e.type === 'error').length >= 2, 'two errors');
  t.same(
    a.envs.filter((e) => e.type === 'error').map((e) => [e.reply_to, e.data?.code]),
    [
      ['bad', 'validation_failed'],
      [undefined, 'validation_failed'],
    ],
  );

  // DMs: the token names the user; both sides get each message through their user rooms.
  a.ws.send(wire.op('create_dm', { user_id: 6 }, 'd1'));
  b.ws.send(wire.op('create_dm', { user_id: 5 }, 'd1'));
  await a.until(() => a.envs.some((e) => e.reply_to === 'd1'), 'a create_dm');
  await b.until(() => b.envs.some((e) => e.reply_to === 'd1'), 'b create_dm');
  const conv = a.envs.find((e) => e.reply_to === 'd1')?.data?.conversation_id;
  t.type(conv, 'number');
  t.equal(b.envs.find((e) => e.reply_to === 'd1')?.data?.conversation_id, conv, 'the same pair, the same conversation');
  const fastA = a.fast.length;
  const fastB = b.fast.length;
  b.ws.send(wire.message('dm', conv as number, benchContent(1, 1, 42, ''), 's42'));
  await a.until(() => a.fast.length > fastA, 'the DM to a');
  await b.until(() => b.fast.length >= fastB + 2, 'the DM and its ack to b');
  const outsider = await sioClient(url, wire, 't9');
  await outsider.conn.ready(5000);
  outsider.ws.send(wire.op('send_dm', { conversation_id: conv, content: 'x' }, 'x1'));
  await outsider.until(() => outsider.envs.length >= 1, 'the outsider refused');
  t.match(outsider.envs[0], { type: 'error', reply_to: 'x1', data: { code: 'forbidden' } });

  // Heartbeats: several ping intervals later, the connections are still there (pongs were sent).
  const stats = () => server.stats();
  await new Promise((r) => setTimeout(r, 1200));
  t.equal(a.closed(), null, 'not dropped after pingTimeout');
  t.equal(b.closed(), null);
  t.equal(stats().connections, 3);
  t.same(a.invalid, [], 'nothing malformed from socket.io');

  // The control: a client that connects but never answers pings is dropped.
  const mute = await WsConnection.connect({ url, onMessage: () => undefined, onOpen: (w) => w.send('40') });
  const dropped = new Promise<void>((r) => {
    const poll = () => (mute.state === WsState.CLOSED ? r() : setTimeout(poll, 20));
    poll();
  });
  const t0 = Date.now();
  await dropped;
  t.ok(Date.now() - t0 < 2000, `a silent client is dropped (${Date.now() - t0} ms)`);

  a.ws.close(1000);
  b.ws.close(1000);
  outsider.ws.close(1000);
  await a.until(() => a.closed() !== null, 'a closed');
  t.equal(stats().acks >= 5, true, `acks counted (${stats().acks})`);
});

/** A server speaking just enough Engine.IO to reach the state `script` needs, then misbehaving. */
async function rogueServer(script: (ws: WsSocket) => void) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', script);
  const port = (wss.address() as AddressInfo).port;
  return { wss, url: `ws://127.0.0.1:${port}${SOCKETIO_PATH}` };
}

const OPEN = '0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}';

t.test('malformed packets from the server are counted per key; the cohort does not crash', async (t) => {
  const garbage = [
    '43999[', // truncated JSON
    '42/admin,["x",{}]', // another namespace
    '451-["x",{"_placeholder":true,"num":0}]', // a binary event
    '43999991[{}]', // an ack id this thread never gave out
    '9', // no such Engine.IO type
    '40{"sid":"again"}', // a second connect
  ];
  const { wss, url } = await rogueServer((ws) => {
    ws.send(OPEN);
    ws.once('message', (m) => {
      if (m.toString() !== '40{"token":"t1"}' && m.toString() !== '40{"token":"t2"}') ws.close(4000, `unexpected ${m.toString()}`);
      ws.send('40{"sid":"s1"}');
      for (const g of garbage) ws.send(g);
      ws.send(Buffer.from([1, 2, 3]), { binary: true });
    });
  });
  t.teardown(() => wss.close());
  const out = await runLoad({ ...idlePlan({ url, conns: 4, durationMs: 300, warmupMs: 0 }), wire: 'socketio', tokens: ['t1', 't2'] }, { workers: 1 });
  t.equal(out.connections.connected, 4, 'every connection made its namespace connect');
  t.same(out.errors, {
    'sio:invalid_payload': 4,
    'sio:namespace': 4,
    'sio:binary_unsupported': 8,
    'sio:unknown_ack': 4,
    'sio:invalid_packet': 4,
    'sio:unexpected_connect': 4,
  });
  t.equal(out.dropped, 0);
});

t.test('a failed Socket.IO handshake fails the connection clearly', async (t) => {
  const cases: Array<[string, (ws: WsSocket) => void, string]> = [
    ['a malformed open packet', (ws) => ws.send('0{"sid":'), 'sio:invalid_payload'],
    ['a connect_error', (ws) => {
      ws.send(OPEN);
      ws.once('message', () => ws.send('44{"message":"Not authorized"}'));
    }, 'sio:connect_error'],
    ['a close before the connect', (ws) => {
      ws.send(OPEN);
      ws.once('message', () => ws.close(1011));
    }, 'sio:closed_before_connect:1011'],
  ];
  for (const [what, script, key] of cases) {
    const { wss, url } = await rogueServer(script);
    const out = await runLoad({ ...idlePlan({ url, conns: 3, durationMs: 100, warmupMs: 0 }), wire: 'socketio' }, { workers: 1 });
    t.equal(out.connections.connected, 0, `${what}: not connected`);
    t.equal(out.connections.failed, 3, `${what}: failed`);
    t.equal(out.errors[key], 3, `${what}: ${JSON.stringify(out.errors)}`);
    wss.close();
  }
  // A server that never sends the open packet: the set-up deadline ends the wait.
  const { wss, url } = await rogueServer(() => undefined);
  t.teardown(() => wss.close());
  const out = await runLoad({ ...idlePlan({ url, conns: 2, durationMs: 100, warmupMs: 0 }), wire: 'socketio', setupTimeoutMs: 300 }, { workers: 1 });
  t.same(out.errors, { 'sio:connect_timeout': 2 });

  await t.rejects(
    runLoad({ ...idlePlan({ url, conns: 1, durationMs: 100 }), wire: 'socketio', protocol: 'veza.msgpack' }),
    /socketio wire takes neither a protocol nor an auth mode/,
  );
});

/* ---------- the suites on --target socketio ---------- */

const logs: string[] = [];
const session = new BenchSession({ log: (l) => logs.push(l), progress: () => {}, progressDone: () => {} });
t.teardown(() => session.close());
const ctx: SuiteContext = { session, settings: { protocol: 'veza.json', auth: 'header', workers: 1 } };
const short: Partial<SuiteParams> = { durationS: 1.5, warmupS: 0.3 };
const one = async (suite: Parameters<typeof runSuite>[0], params: Partial<SuiteParams>): Promise<BenchResult> =>
  (await runSuite(suite, 'socketio', { ...short, ...params }, ctx))[0] as BenchResult;

function loadFigures(t: Test, r: BenchResult, conns: number): void {
  const f = r.figures;
  t.equal(r.target, 'socketio');
  t.match(r.config.server, /^socket\.io 4\.\d+\.\d+ on node:http/);
  t.match(r.config.protocol, /^socket\.io/);
  t.same(r.errors, {}, `no errors ${JSON.stringify(r.notes ?? [])}`);
  t.equal(f.connections.connected, conns, 'every connection made its namespace connect');
  t.equal(f.connections.joined, conns, 'every connection joined');
  t.ok(f.sent > 0, `messages sent (${f.sent})`);
  t.ok(f.delivered > 0, `deliveries (${f.delivered})`);
  t.ok(f.delivery_ratio !== null && f.delivery_ratio > 0.99, `delivery ratio ${f.delivery_ratio}`);
  t.ok(f.latency_ms.p50 > 0 && f.latency_ms.p50 <= f.latency_ms.p99, `latency ${JSON.stringify(f.latency_ms)}`);
  t.ok(f.ack_latency_ms.p50 > 0, 'acks timed');
  t.ok(f.server.cpu_s !== null && f.server.cpu_s > 0, `server CPU from /proc (${f.server.cpu_s} s)`);
  t.ok(f.server.rss_mb !== null && f.server.rss_mb > 10, `server RSS from /proc (${f.server.rss_mb} MiB)`);
  t.ok(f.server.cpu_us_per_delivery !== null && f.server.cpu_us_per_delivery > 0);
}

t.test('fanout on socketio: one room, every member gets every message', async (t) => {
  const r = await one('fanout', { conns: 50, senders: 5, rate: 200 });
  loadFigures(t, r, 50);
  t.equal(r.figures.expected, r.figures.sent * 50, 'every member, sender included, expects each message');
});

t.test('rooms, dm, churn and connections on socketio', async (t) => {
  const rooms = await one('rooms', { conns: 40, rooms: 20, rate: 200 });
  loadFigures(t, rooms, 40);
  t.equal(rooms.figures.expected, rooms.figures.sent * 2, 'rooms of 2');
  const dm = await one('dm', { conns: 10, rate: 50 });
  loadFigures(t, dm, 10);
  t.equal(dm.figures.expected, dm.figures.sent * 2, 'both sides of each pair');
  const churn = await one('churn', { conns: 2, durationS: 1 });
  t.same(churn.errors, {});
  t.ok((churn.figures.churn_per_s ?? 0) > 10, `churn ${churn.figures.churn_per_s}/s (connect, namespace connect, close)`);
  const idle = await one('connections', { conns: 50, durationS: 0.5 });
  t.same(idle.errors, {});
  t.equal(idle.figures.connections.connected, 50);
  t.type(idle.figures.rss_kb_per_connection, 'number');
});

t.test('suites the socketio target does not have are refused by name', async (t) => {
  await t.rejects(runSuite('resume', 'socketio', {}, ctx), /the socketio target has no resume/);
  await t.rejects(
    runSuite('fanout', 'socketio', {}, { ...ctx, settings: { ...ctx.settings, protocol: 'veza.msgpack' } }),
    /socketio target speaks Socket\.IO's JSON parser/,
  );
});

function captured(): CliIO & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (s) => void (out += s), err: (s) => void (err += s), env: {}, stdout: () => out, stderr: () => err };
}

t.test('CLI: the same suite on socketio and uws-baseline, then compare', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'veza-bench-sio-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const shape = ['--conns', '20', '--senders', '2', '--rate', '50', '--duration', '1', '--warmup', '0.3', '--workers', '1'];
  const files: string[] = [];
  for (const target of ['socketio', 'uws-baseline']) {
    const out = join(dir, `${target}.json`);
    const io = captured();
    t.equal(await run(['bench', 'fanout', '--target', target, ...shape, '--out', out], io), 0, io.stderr());
    t.match(io.stdout(), new RegExp(`fanout\\s+${target}`));
    t.match(io.stderr(), new RegExp(`fanout/${target}\\s+\\d+s`), 'a progress line per second');
    files.push(out);
  }
  const [sio] = readResults(files[0] as string);
  t.equal(sio?.target, 'socketio');
  t.equal(sio?.figures.delivery_ratio, 1);
  t.match(readFileSync(files[0] as string, 'utf8'), /"target": "socketio"/);
  const cmp = captured();
  await run(['bench', 'compare', files[1] as string, files[0] as string, '--max-regression', '100'], cmp);
  t.match(cmp.stdout(), /server\.cpu_us_per_delivery/);
  t.match(cmp.stdout(), /warning: different targets: uws-baseline vs socketio/);

  const refused = captured();
  t.equal(await run(['bench', 'resume', '--target', 'socketio'], refused), 1);
  t.match(refused.stderr(), /bench resume: the socketio target has no resume/);
  const msgpack = captured();
  t.equal(await run(['bench', 'fanout', '--target', 'socketio', '--protocol', 'msgpack'], msgpack), 1);
  t.match(msgpack.stderr(), /--target socketio speaks Socket\.IO's JSON parser/);
  const url = captured();
  t.equal(await run(['bench', 'fanout', '--target', 'socketio', '--url', 'http://127.0.0.1:1'], url), 1);
  t.match(url.stderr(), /--url is a running veza server/);
});
