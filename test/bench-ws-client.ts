import t from 'tap';
import net from 'node:net';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { pack, unpack } from 'msgpackr';
import {
  connect,
  connectMany,
  maskInPlace,
  WsClientError,
  WsConnection,
  WsState,
} from '../bench/ws-client.js';
import { startBaseline } from '../bench/uws-baseline.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A client whose messages are copied (the callback's Buffer is only valid during the call). */
function collector() {
  const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters: Array<() => void> = [];
  let closed: { code: number; reason: string; wasClean: boolean } | undefined;
  const closeWaiters: Array<() => void> = [];
  return {
    messages,
    onMessage: (data: Buffer, isBinary: boolean) => {
      messages.push({ data: Buffer.from(data), isBinary });
      for (const w of waiters.splice(0)) w();
    },
    onClose: (code: number, reason: string, wasClean: boolean) => {
      closed = { code, reason, wasClean };
      for (const w of closeWaiters.splice(0)) w();
    },
    async next(n = 1): Promise<void> {
      while (messages.length < n) await new Promise<void>((r) => waiters.push(r));
    },
    async closed(): Promise<{ code: number; reason: string; wasClean: boolean }> {
      while (!closed) await new Promise<void>((r) => closeWaiters.push(r));
      return closed;
    },
  };
}

async function wsServer(opts: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...opts });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  return { wss, port, url: `ws://127.0.0.1:${port}/ws` };
}

/** A raw server: answers the upgrade correctly, then runs `script` on the socket. */
async function rawServer(script: (sock: net.Socket, req: string) => void, acceptOverride?: string) {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true); // so dribbled pieces arrive as separate reads
    let head = '';
    sock.on('data', function onData(d) {
      head += d.toString('latin1');
      const at = head.indexOf('\r\n\r\n');
      if (at < 0) return;
      sock.off('data', onData);
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const accept = acceptOverride ?? createHash('sha1').update(key + GUID).digest('base64');
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      script(sock, head);
    });
    sock.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { server, url: `ws://127.0.0.1:${port}/ws` };
}

/** An unmasked server frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const f = Buffer.alloc(hdr + len);
  f[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) f[1] = len;
  else if (len < 65536) {
    f[1] = 126;
    f.writeUInt16BE(len, 2);
  } else {
    f[1] = 127;
    f.writeUInt32BE(0, 2);
    f.writeUInt32BE(len, 6);
  }
  payload.copy(f, hdr);
  return f;
}

/** Write `buf` in pieces of `size` bytes, each in its own TCP write, spaced out. */
async function dribble(sock: net.Socket, buf: Buffer, size: number) {
  for (let i = 0; i < buf.length; i += size) {
    sock.write(buf.subarray(i, i + size));
    await new Promise((r) => setTimeout(r, 1));
  }
}

t.test('maskInPlace matches a byte-wise XOR at every alignment and length', async (t) => {
  const key = randomBytes(4);
  const backing = randomBytes(400);
  for (let start = 0; start < 8; start++) {
    for (const len of [0, 1, 3, 4, 5, 31, 32, 33, 63, 100, 257]) {
      const buf = Buffer.from(backing).subarray(start, start + len);
      const expect = Buffer.from(buf).map((b, i) => b ^ (key[i & 3] as number));
      maskInPlace(buf, 0, len, key);
      t.same([...buf], [...expect], `start ${start} len ${len}`);
    }
  }
});

t.test('against ws: handshake, sub-protocol, headers, masking, 7/16/64-bit lengths', async (t) => {
  let seenAuth: string | undefined;
  let seenUrl: string | undefined;
  const { wss, url } = await wsServer({
    handleProtocols: (protocols) => (protocols.has('veza.json') ? 'veza.json' : false),
  });
  t.teardown(() => wss.close());
  wss.on('connection', (ws, req) => {
    seenAuth = req.headers.authorization;
    seenUrl = req.url;
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  const c = collector();
  const conn = await connect({
    url: url + '?access_token=abc',
    protocols: ['veza.msgpack', 'veza.json'],
    headers: { Authorization: 'Bearer tok' },
    onMessage: c.onMessage,
    onClose: c.onClose,
  });
  t.equal(conn.state, WsState.OPEN);
  t.equal(conn.protocol, 'veza.json', 'the server chose veza.json');
  t.equal(seenAuth, 'Bearer tok', 'extra header arrived');
  t.equal(seenUrl, '/ws?access_token=abc', 'query string arrived');

  const payloads: Array<string | Buffer> = [
    'hello',
    '',
    'é'.repeat(40),
    randomBytes(125),
    randomBytes(126),
    'x'.repeat(1000),
    randomBytes(65535),
    randomBytes(65536),
    randomBytes(300_000),
  ];
  for (const p of payloads) conn.send(p);
  await c.next(payloads.length);
  payloads.forEach((p, i) => {
    const m = c.messages[i];
    t.ok(m, `echo ${i}`);
    if (!m) return;
    t.equal(m.isBinary, typeof p !== 'string', `echo ${i} kind`);
    t.ok(m.data.equals(typeof p === 'string' ? Buffer.from(p) : p), `echo ${i} (${m.data.length} bytes) decoded by the server and back`);
  });
  conn.close();
  const closed = await c.closed();
  t.equal(closed.code, 1000);
  t.ok(closed.wasClean);
});

t.test('against ws: fragmented messages, ping → automatic pong, client ping', async (t) => {
  const { wss, url } = await wsServer();
  t.teardown(() => wss.close());
  const serverPongs: string[] = [];
  const ready = new Promise<WsSocket>((resolve) => wss.on('connection', (ws) => resolve(ws)));
  const c = collector();
  const pongs: string[] = [];
  const conn = await connect({ url, onMessage: c.onMessage, onClose: c.onClose, onPong: (p) => pongs.push(p.toString()) });
  t.equal(conn.protocol, '', 'no sub-protocol offered, none chosen');
  const ws = await ready;
  ws.on('pong', (d) => serverPongs.push(d.toString()));
  ws.send('frag-', { fin: false });
  ws.ping('in-between');
  ws.send('ment-', { fin: false });
  ws.send('ed', { fin: true });
  ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
  ws.send(Buffer.alloc(70_000, 7), { binary: true, fin: true });
  await c.next(2);
  t.equal(c.messages[0]?.data.toString(), 'frag-ment-ed');
  t.equal(c.messages[0]?.isBinary, false);
  t.equal(c.messages[1]?.isBinary, true);
  t.equal(c.messages[1]?.data.length, 70_002);
  t.ok(c.messages[1]?.data.subarray(2).every((b) => b === 7));
  while (serverPongs.length < 1) await new Promise((r) => setTimeout(r, 5));
  t.same(serverPongs, ['in-between'], 'pong echoed the ping payload');
  conn.ping('p1');
  while (pongs.length < 1) await new Promise((r) => setTimeout(r, 5));
  t.same(pongs, ['p1']);
  conn.close();
  await c.closed();
});

t.test('against ws: close handshake with code and reason, both directions', async (t) => {
  const { wss, url } = await wsServer();
  t.teardown(() => wss.close());
  const serverClose = new Promise<[number, string]>((resolve) =>
    wss.once('connection', (ws) => ws.on('close', (code, reason) => resolve([code, reason.toString()]))),
  );
  const a = collector();
  const c1 = await connect({ url, onMessage: a.onMessage, onClose: a.onClose });
  c1.close(4000, 'bye now');
  t.same(await serverClose, [4000, 'bye now'], 'server decoded our close frame');
  const ca = await a.closed();
  t.equal(ca.code, 4000, 'server echoed the code');
  t.ok(ca.wasClean);
  t.equal(c1.state, WsState.CLOSED);

  wss.once('connection', (ws) => ws.close(4401, 'token expired'));
  const b = collector();
  await connect({ url, onMessage: b.onMessage, onClose: b.onClose });
  const cb = await b.closed();
  t.same(cb, { code: 4401, reason: 'token expired', wasClean: true }, 'server-initiated close');
});

t.test('raw server: continuation frames and interleaved control frames split at every byte', async (t) => {
  const ping = serverFrame(0x9, Buffer.from('pp'));
  const stream = Buffer.concat([
    serverFrame(0x1, Buffer.from('Hel'), false),
    ping,
    serverFrame(0x0, Buffer.from('lo, '), false),
    serverFrame(0x0, Buffer.from('world'), true),
    serverFrame(0x2, Buffer.alloc(300, 9)),
    serverFrame(0x1, Buffer.from('x'.repeat(70_000))),
    serverFrame(0x8, Buffer.from([0x0f, 0xa0, 0x6f, 0x6b])), // 4000 "ok"
  ]);
  const received: Buffer[] = [];
  const { server, url } = await rawServer((sock) => {
    sock.on('data', (d) => received.push(Buffer.from(d)));
    // Small pieces for the head of the stream, then bigger ones for the long frame.
    void dribble(sock, stream.subarray(0, 400), 1).then(() => dribble(sock, stream.subarray(400), 4093));
  });
  t.teardown(() => server.close());
  const c = collector();
  const pings: string[] = [];
  await connect({ url, onMessage: c.onMessage, onClose: c.onClose, onPing: (p) => pings.push(p.toString()) });
  const closed = await c.closed();
  t.equal(c.messages.length, 3);
  t.equal(c.messages[0]?.data.toString(), 'Hello, world');
  t.same(c.messages[1]?.data, Buffer.alloc(300, 9));
  t.equal(c.messages[2]?.data.length, 70_000);
  t.same(pings, ['pp']);
  t.equal(closed.code, 4000);
  t.equal(closed.reason, 'ok');
  // The client answered the ping with a masked pong and echoed the close.
  const bytes = Buffer.concat(received);
  t.equal(bytes[0], 0x8a, 'pong frame');
  t.equal((bytes[1] as number) & 0x80, 0x80, 'masked');
  const unmasked = Buffer.from(bytes.subarray(6, 8));
  maskInPlace(unmasked, 0, 2, bytes, 2);
  t.equal(unmasked.toString(), 'pp');
  t.equal(bytes[8], 0x88, 'close echoed');
});

t.test('onOpen: before the first message and before connect resolves, even when both share a read', async (t) => {
  const hello = serverFrame(0x1, Buffer.from('0{"sid":"x"}'));
  // 101 and the first frame in one write: one read on the client.
  const server = net.createServer((sock) => {
    sock.once('data', (d) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(d.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      sock.write(Buffer.concat([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`), hello]));
    });
    sock.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const order: string[] = [];
  let opened: WsConnection | null = null;
  const conn = await connect({
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    onOpen: (c) => {
      opened = c;
      order.push(`open:${c.state}`);
    },
    onMessage: (data) => order.push(`message:${data.toString()}`),
  });
  order.push('resolved');
  t.same(order, [`open:${WsState.OPEN}`, 'message:0{"sid":"x"}', 'resolved'], 'open, then the message of the same read, then the promise');
  t.equal(opened, conn, 'onOpen gets the connection itself');
  conn.terminate();
});

t.test('raw server: protocol errors fail the connection', async (t) => {
  const masked = Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x41]);
  const { server, url } = await rawServer((sock) => sock.write(masked));
  t.teardown(() => server.close());
  const errors: WsClientError[] = [];
  const c = collector();
  await connect({ url, onMessage: c.onMessage, onClose: c.onClose, onError: (e) => errors.push(e) });
  const closed = await c.closed();
  t.equal(errors[0]?.code, 'protocol_error');
  t.equal(closed.wasClean, false);

  const { server: s2, url: u2 } = await rawServer((sock) => sock.write(serverFrame(0x1, Buffer.alloc(2000))));
  t.teardown(() => s2.close());
  const e2: WsClientError[] = [];
  const c2 = collector();
  await connect({ url: u2, maxPayload: 1000, onMessage: c2.onMessage, onClose: c2.onClose, onError: (e) => e2.push(e) });
  await c2.closed();
  t.equal(e2[0]?.code, 'too_large');
  t.equal(c2.messages.length, 0);
});

t.test('handshake failures are typed errors', async (t) => {
  const { server, url } = await rawServer(() => undefined, 'd3JvbmcgYWNjZXB0');
  t.teardown(() => server.close());
  await t.rejects(connect({ url }), { code: 'handshake_invalid' }, 'wrong Sec-WebSocket-Accept');

  const h = http.createServer();
  h.on('upgrade', (_req, sock: net.Socket) => sock.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
  h.listen(0, '127.0.0.1');
  await once(h, 'listening');
  t.teardown(() => h.close());
  const port = (h.address() as AddressInfo).port;
  const err = await connect({ url: `ws://127.0.0.1:${port}/ws` }).catch((e: unknown) => e);
  t.ok(err instanceof WsClientError);
  t.equal((err as WsClientError).key, 'handshake_status:401');

  const { wss, url: wsUrl } = await wsServer({ handleProtocols: () => false });
  t.teardown(() => wss.close());
  await t.rejects(connect({ url: wsUrl, protocols: ['veza.json'] }), { code: 'protocol_mismatch' });

  // A port nobody listens on: take one and close it.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const dead = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const refused = await connect({ url: `ws://127.0.0.1:${dead}/ws` }).catch((e: unknown) => e);
  t.equal((refused as WsClientError).key, 'connect_failed:ECONNREFUSED');

  const silent = net.createServer((s) => s.on('error', () => undefined));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => silent.close());
  const sp = (silent.address() as AddressInfo).port;
  await t.rejects(connect({ url: `ws://127.0.0.1:${sp}/ws`, handshakeTimeoutMs: 200 }), { code: 'handshake_timeout' });

  await t.rejects(connect({ url: 'wss://127.0.0.1:1/' }), TypeError, 'wss is refused');
});

t.test('against the uWS baseline: join, send, message + ack, JSON and MessagePack', async (t) => {
  const server = await startBaseline({ port: 0 });
  t.teardown(() => server.close());
  const url = `ws://127.0.0.1:${server.port}/ws`;

  const j = collector();
  const cj = await connect({ url, protocols: ['veza.json'], onMessage: j.onMessage, onClose: j.onClose });
  t.equal(cj.protocol, 'veza.json');
  const m = collector();
  const cm = await connect({ url, protocols: ['veza.msgpack'], onMessage: m.onMessage, onClose: m.onClose });
  t.equal(cm.protocol, 'veza.msgpack');

  cj.send(JSON.stringify({ type: 'join_room', id: 'j1', data: { room_id: 5 } }));
  cm.send(pack({ type: 'join_room', id: 'j1', data: { room_id: 5 } }));
  await j.next(1);
  await m.next(1);
  t.match(JSON.parse(j.messages[0]?.data.toString() ?? ''), { type: 'joined', reply_to: 'j1', data: { room_id: 5 } });
  t.match(unpack(m.messages[0]?.data ?? Buffer.alloc(0)), { type: 'joined', reply_to: 'j1' });

  const big = 'y'.repeat(70_000); // the event is > 64 KiB: a 64-bit length from uWS
  cj.send(JSON.stringify({ type: 'send_message', id: 's1', data: { room_id: 5, content: 'hi' } }));
  cj.send(JSON.stringify({ type: 'send_message', data: { room_id: 5, content: big } }));
  await j.next(4);
  await m.next(3);
  const jm = j.messages.slice(1).map((x) => JSON.parse(x.data.toString()) as { type: string; data: { seq?: number; content?: string } });
  const events = jm.filter((x) => x.type === 'message');
  t.equal(events.length, 2, 'sender gets the room event');
  t.same(events.map((e) => e.data.seq), [1, 2]);
  t.equal(events[1]?.data.content, big);
  t.equal(jm.filter((x) => x.type === 'ack').length, 1, 'only the frame with an id is acked');
  const mm = m.messages.slice(1).map((x) => unpack(x.data) as { type: string; data: { content: string; seq: number } });
  t.equal(m.messages[1]?.isBinary, true);
  t.same(mm.map((x) => [x.type, x.data.seq]), [['message', 1], ['message', 2]]);
  t.equal(mm[1]?.data.content.length, 70_000);
  t.equal(server.stats().published, 2);
  cj.close();
  cm.close(1000);
  t.equal((await j.closed()).code, 1000);
  await m.closed();
});

t.test('connectMany: bounded concurrency, per-connection errors', async (t) => {
  const server = await startBaseline({ port: 0 });
  t.teardown(() => server.close());
  const url = `ws://127.0.0.1:${server.port}/ws`;
  let maxSeen = 0;
  const res = await connectMany(300, (i) => ({ url: i === 7 ? url.replace('/ws', '/nope') : url }), {
    concurrency: 16,
    onProgress: () => {
      maxSeen = Math.max(maxSeen, server.stats().connections);
    },
  });
  const ok = res.filter((r): r is WsConnection => r instanceof WsConnection);
  t.equal(ok.length, 299);
  t.equal((res[7] as WsClientError).key, 'handshake_status:404');
  t.equal(server.stats().connections, 299);
  const closed = ok.map((c) => new Promise<void>((r) => {
    const poll = () => (c.state === WsState.CLOSED ? r() : setTimeout(poll, 5));
    poll();
  }));
  for (const c of ok) c.close();
  await Promise.all(closed);
});
