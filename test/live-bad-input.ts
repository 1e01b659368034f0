/**
 * Hostile and careless clients against a real node: every bad frame gets PROTOCOL.md's error code,
 * the connection stays open where the protocol allows, and nothing is stored.
 */
import t from 'tap';
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccessTokens } from '../src/auth/jwt.js';
import { Packr, pack } from 'msgpackr';
import { call } from './helpers/http.js';
import { openClient, startLive, type Live } from './helpers/live.js';

/**
 * One node for the tests whose settings do not get in each other's way (each test makes its own
 * users and rooms): a node costs seconds to start. The Origin allowlist and the short idle timeout
 * would, so those two tests start their own.
 */
let sharedNode: Promise<Live | null> | undefined;
const shared = () =>
  (sharedNode ??= startLive(t, 'pglite', {
    limits: { maxFrameBytes: 64 * 1024, roomsPerUser: 3 },
    ws: { authTimeoutMs: 300 },
    // A window of 2 makes an older reply parent a store lookup, not a window hit.
    runtime: { recentWindow: 2 },
  }));

t.test('bad frames on an authenticated socket', async (t) => {
  const live = await shared();
  if (!live) return;
  const [alice, bob] = [await live.user('alice'), await live.user('bob')];
  const r = await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name: 'r' } });
  const roomId = r.body.id as number;
  const a = await live.client(alice.token);
  await a.ok('join_room', { room_id: roomId });

  const code = async (frame: unknown) => (await a.request((frame as any).type, (frame as any).data)).data.code;
  a.ws.send('{ not json');
  t.equal((await a.waitFor((f) => f.type === 'error')).data.code, 'invalid_frame', 'invalid JSON');
  t.equal(await code({ type: 'no_such_op', data: {} }), 'validation_failed', 'unknown type');
  t.equal(await code({ type: 'typing', data: { conversation_id: 999_999_999, state: 'start' } }), 'not_found', 'typing in no such conversation');
  t.equal(await code({ type: 'send_message', data: { room_id: roomId } }), 'validation_failed', 'missing content');
  t.equal(await code({ type: 'send_message', data: { room_id: roomId, content: 'x', extra: 1 } }), 'validation_failed', 'extra field');
  t.equal(await code({ type: 'send_message', data: { room_id: String(roomId), content: 'x' } }), 'validation_failed', 'wrong type');
  t.equal(await code({ type: 'send_message', data: { room_id: roomId, content: 'x'.repeat(10_001) } }), 'validation_failed', 'content too long');
  t.equal(await code({ type: 'send_message', data: { room_id: roomId, content: 'nul\u0000' } }), 'validation_failed', 'NUL in content');
  const bad = await a.request('send_message', { room_id: roomId, content: 'x', client_id: 'not-a-uuid' });
  t.equal(bad.data.code, 'validation_failed');
  t.match(bad.data.details, [{ path: 'data.client_id' }], 'details name the field');
  t.equal(await code({ type: 'send_message', data: { room_id: 999_999_999, content: 'x' } }), 'not_found', 'no such room');
  t.equal(await code({ type: 'join_room', data: { room_id: roomId, user_id: bob.id } }), 'forbidden', 'join for someone else');
  t.equal(await code({ type: 'create_dm', data: { user_id: alice.id } }), 'validation_failed', 'a DM to oneself');
  t.equal(a.closed, null, 'still open after all that');
  // A frame over the limit closes with 1009.
  a.ws.send(JSON.stringify({ type: 'send_message', data: { room_id: roomId, content: 'y'.repeat(70 * 1024) } }));
  const closed = await a.waitClose();
  t.equal(closed.code, 1009, 'frame too large: 1009');

  // Bob is not a member: forbidden, nothing stored.
  const b = await live.client(bob.token);
  t.equal((await b.request('send_message', { room_id: roomId, content: 'sneaky' })).data.code, 'forbidden', 'not joined');
  const hist = await call(live.url, 'GET', `/api/v1/rooms/${roomId}/messages`, { token: alice.token });
  t.same(hist.body.messages, [], 'nothing stored by any bad frame');
  b.close();
});

t.test('replies: a parent from another room or none at all is not_found, and fails no other send', async (t) => {
  // The window of 2 makes the older parent below a store lookup, not a window hit.
  const live = await shared();
  if (!live) return;
  const [alice, bob] = [await live.user('alice'), await live.user('bob')];
  const room = async (name: string) => (await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name } })).body.id as number;
  const [r1, r2] = [await room('r1'), await room('r2')];
  const a = await live.client(alice.token);
  const b = await live.client(bob.token);
  await a.ok('join_room', { room_id: r1 });
  await a.ok('join_room', { room_id: r2 });
  await b.ok('join_room', { room_id: r1 });
  const first = await a.ok('send_message', { room_id: r1, content: 'parent' });
  const elsewhere = await a.ok('send_message', { room_id: r2, content: 'in r2' });
  for (let i = 0; i < 3; i++) await a.ok('send_message', { room_id: r1, content: `push ${i}` });

  // Bob's good sends ride in the same batches as Alice's bad replies: only the bad ones fail.
  const sends = [];
  for (let i = 0; i < 20; i++) {
    sends.push(b.request('send_message', { room_id: r1, content: `good ${i}` }));
    if (i % 5 === 0) {
      sends.push(a.request('send_message', { room_id: r1, content: 'bad reply', parent_id: elsewhere.id }));
      sends.push(a.request('send_message', { room_id: r1, content: 'bad reply', parent_id: 999_999_999 }));
    }
  }
  const replies = await Promise.all(sends);
  const bad = replies.filter((r) => r.type === 'error');
  t.equal(bad.length, 8, 'every reply to a foreign or missing parent is refused');
  t.ok(bad.every((r) => r.data.code === 'not_found'), 'with not_found');
  t.match(bad[0]!.data.details, [{ path: 'parent_message_id' }], 'naming the field');
  t.equal(replies.filter((r) => r.type === 'ack').length, 20, "every one of Bob's sends is acked");

  // A good reply to a parent outside the window (a store lookup) is stored and counted.
  await a.ok('send_message', { room_id: r1, content: 'a reply', parent_id: first.id });
  const event = await b.waitFor((f) => f.type === 'message' && f.data.content === 'a reply');
  t.equal(event.data.parent_message_id, first.id, 'the reply names its parent');
  const hist = await call(live.url, 'GET', `/api/v1/rooms/${r1}/messages?limit=100`, { token: alice.token });
  const contents = (hist.body.messages as { content: string }[]).map((m) => m.content);
  t.equal(contents.filter((c) => c === 'bad reply').length, 0, 'no bad reply stored');
  t.equal(contents.filter((c) => c.startsWith('good ')).length, 20);
  const parent = (hist.body.messages as { id: number; thread_count: number }[]).find((m) => m.id === first.id);
  t.equal(parent?.thread_count, 1, "the parent's thread count went up");
  a.close();
  b.close();
});

t.test("a room's operations refuse a direct conversation's id, and the reverse", async (t) => {
  const live = await shared();
  if (!live) return;
  const [alice, bob] = [await live.user('alice'), await live.user('bob')];
  const roomId = (await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name: 'kinds' } })).body.id as number;
  const dmId = (await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: bob.id } })).body.conversation_id as number;
  const a = await live.client(alice.token);
  await a.ok('join_room', { room_id: roomId });

  // Alice belongs to both: only the kind of conversation is wrong.
  const ws = async (type: string, data: object) => (await a.request(type, data)).data.code;
  t.equal(await ws('send_message', { room_id: dmId, content: 'into the DM?' }), 'not_found', 'send_message to a DM');
  t.equal(await ws('send_dm', { conversation_id: roomId, content: 'into the room?' }), 'not_found', 'send_dm to a room');
  const rest = async (method: string, path: string) =>
    (await call(live.url, method, `/api/v1${path}`, { token: alice.token, ...(method === 'POST' ? { body: { content: 'wrong path' } } : {}) })).status;
  t.equal(await rest('POST', `/rooms/${dmId}/messages`), 404, "POST to a DM through a room's path");
  t.equal(await rest('POST', `/dm/${roomId}/messages`), 404, "POST to a room through a DM's path");
  t.equal(await rest('GET', `/rooms/${dmId}/messages`), 404, "a DM's history through a room's path");
  t.equal(await rest('GET', `/dm/${roomId}/messages`), 404, "a room's history through a DM's path");
  t.equal(await rest('GET', `/rooms/${dmId}/members`), 404, "a DM's members through a room's path");
  t.equal(await rest('GET', `/rooms/${dmId}`), 404, 'a DM is not a room, for its members');
  const carol = await live.user('carol');
  t.equal((await call(live.url, 'GET', `/api/v1/rooms/${dmId}`, { token: carol.token })).status, 404, '...and for anyone else alike');

  // Nothing was stored; each works through its own path.
  const stored = async (path: string) => (await call(live.url, 'GET', `/api/v1${path}`, { token: alice.token })).body.messages as { content: string }[];
  t.same(await stored(`/rooms/${roomId}/messages`), [], 'the room holds nothing');
  t.same(await stored(`/dm/${dmId}/messages`), [], 'the DM holds nothing');
  await a.ok('send_message', { room_id: roomId, content: 'room' });
  await a.ok('send_dm', { conversation_id: dmId, content: 'dm' });
  t.equal(await rest('POST', `/rooms/${roomId}/messages`), 201);
  t.equal(await rest('POST', `/dm/${dmId}/messages`), 201);
  t.same((await stored(`/rooms/${roomId}/messages`)).map((m) => m.content), ['room', 'wrong path']);
  t.same((await stored(`/dm/${dmId}/messages`)).map((m) => m.content), ['dm', 'wrong path']);
  // fetch_history names a conversation of either kind.
  t.equal((await a.request('fetch_history', { conversation_id: dmId })).type, 'ack', 'fetch_history of a DM');
  a.close();
});

t.test("the owner of a private room cannot leave it (no one could join it again); of a public one, can", async (t) => {
  const live = await shared();
  if (!live) return;
  const owner = await live.user('owner');
  const priv = (await call(live.url, 'POST', '/api/v1/rooms', { token: owner.token, body: { name: 'secret', is_public: false } })).body.id as number;
  const left = await call(live.url, 'POST', `/api/v1/rooms/${priv}/leave`, { token: owner.token });
  t.equal(left.status, 403);
  t.match(left.body.error, { code: 'forbidden', message: /owner/ });
  t.equal((await call(live.url, 'GET', `/api/v1/rooms/${priv}`, { token: owner.token })).status, 200, 'still hers');
  const c = await live.client(owner.token);
  await c.ok('join_room', { room_id: priv });
  t.equal((await c.request('leave_room', { room_id: priv })).data.code, 'forbidden', 'over WebSocket too');
  // ...and the refused socket still gets the room's messages.
  await call(live.url, 'POST', `/api/v1/rooms/${priv}/messages`, { token: owner.token, body: { content: 'still here' } });
  await c.waitFor((f) => f.type === 'message' && f.data.content === 'still here', 5000);
  const pub = (await call(live.url, 'POST', '/api/v1/rooms', { token: owner.token, body: { name: 'open' } })).body.id as number;
  t.equal((await call(live.url, 'POST', `/api/v1/rooms/${pub}/leave`, { token: owner.token })).status, 200, 'a public room can be left (and joined again)');
  c.close();
});

t.test('joining past the rooms-per-user cap is refused, and nothing is joined', async (t) => {
  const live = await shared(); // at most 3 rooms per user
  if (!live) return;
  const [alice, bob] = [await live.user('alice'), await live.user('bob')];
  const ids: number[] = [];
  for (const name of ['r1', 'r2', 'r3']) ids.push((await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name } })).body.id as number);
  const b = await live.client(bob.token);
  await b.ok('join_room', { room_id: ids[0] });
  await b.ok('join_room', { room_id: ids[1] });
  await b.ok('join_room', { room_id: ids[1] }); // joining again is not a new room
  const dm = await live.client(alice.token);
  await dm.ok('create_dm', { user_id: bob.id }); // DMs do not count
  await b.ok('join_room', { room_id: ids[2] });
  const carol = await live.user('carol'); // alice is at the cap herself (owners are members)
  const extra = (await call(live.url, 'POST', '/api/v1/rooms', { token: carol.token, body: { name: 'r4' } })).body.id as number;
  const refused = await b.request('join_room', { room_id: extra });
  t.equal(refused.data.code, 'forbidden', 'past the cap: forbidden');
  t.match(refused.data.message, /at most 3 rooms/);
  t.equal((await b.request('send_message', { room_id: extra, content: 'x' })).data.code, 'forbidden', 'not a member after the refusal');
  const room = await call(live.url, 'GET', `/api/v1/rooms/${extra}`, { token: carol.token });
  t.equal(room.status, 200, 'the room is there');
  t.equal(b.closed, null, 'the connection stays open');
  b.close();
  dm.close();
});

t.test('msgpack sub-protocol: bad binary frames', async (t) => {
  const live = await shared();
  if (!live) return;
  const u = await live.user('m');
  const c = await live.client(u.token, { protocol: 'veza.msgpack' });
  await c.waitFor((f) => f.type === 'authenticated');
  c.ws.send(Buffer.from([0xc1, 0xff, 0x00]));
  t.equal((await c.waitFor((f) => f.type === 'error')).data.code, 'invalid_frame', 'invalid MessagePack');
  c.ws.send(pack({ type: 'ping', id: 'p1' }));
  t.equal((await c.waitFor((f) => f.reply_to === 'p1')).type, 'ack', 'still serving after a bad frame');
  c.ws.send(pack({ type: 'ping' }));
  t.equal((await c.waitFor((f) => f.type === 'pong')).type, 'pong', 'a ping without an id gets a pong');
  c.ws.send('{"type":"ping"}');
  t.equal((await c.waitFor((f) => f.type === 'error' && f !== c.frames[1])).data.code, 'invalid_frame', 'a text frame on veza.msgpack');
  c.close();
});

t.test('msgpack sub-protocol: a value in data that is not JSON data answers its request, as veza.json does', async (t) => {
  const live = await shared();
  if (!live) return;
  const u = await live.user('mr');
  const r = await call(live.url, 'POST', '/api/v1/rooms', { token: u.token, body: { name: 'mr' } });
  const roomId = r.body.id as number;
  const m = await live.client(u.token, { protocol: 'veza.msgpack' });
  const j = await live.client(u.token);
  await m.ok('join_room', { room_id: roomId });
  await j.ok('join_room', { room_id: roomId });
  let nest: unknown = 1;
  for (let i = 0; i < 40; i++) nest = { a: nest };
  const big = new Packr({ useRecords: false, largeBigIntToFloat: false });
  // [id, MessagePack frame, the same request in JSON where JSON can say it]
  const cases: [string, Buffer, string | null][] = [
    ['k1', pack({ type: 'send_message', id: 'k1', data: { room_id: roomId, content: 'x', metadata: { b: Buffer.from('ab') } } }), null],
    ['k2', pack({ type: 'send_message', id: 'k2', data: { room_id: roomId, content: 'x', metadata: { t: new Date(0) } } }), null],
    ['k3', pack({ type: 'send_message', id: 'k3', data: { room_id: roomId, content: 'x', metadata: nest } }),
      JSON.stringify({ type: 'send_message', id: 'k3', data: { room_id: roomId, content: 'x', metadata: nest } })],
    ['k4', big.pack({ type: 'send_message', id: 'k4', data: { room_id: 2n ** 63n, content: 'x' } }),
      '{"type":"send_message","id":"k4","data":{"room_id":9223372036854775808,"content":"x"}}'],
  ];
  for (const [id, frame, asJson] of cases) {
    m.ws.send(frame);
    const reply = await m.waitFor((f) => f.reply_to === id);
    t.equal(reply.type, 'error', `${id}: an error answers the request`);
    t.equal(reply.data.code, 'validation_failed', `${id}: ${reply.data.message}`);
    if (asJson !== null) {
      j.ws.send(asJson);
      t.equal((await j.waitFor((f) => f.reply_to === id)).data.code, reply.data.code, `${id}: the code veza.json gives`);
    }
  }
  const sent = await m.ok('send_message', { room_id: roomId, content: 'fine' });
  t.ok(sent, 'a valid frame after them still works');
  for (const [id] of cases) t.equal(m.frames.filter((f) => f.reply_to === id).length, 1, `${id}: exactly one reply`);
  t.same(m.of('error').map((f) => f.reply_to), ['k1', 'k2', 'k3', 'k4'], 'no error without its reply_to');
  t.equal(m.closed, null, 'the socket stays open');
  const hist = await call(live.url, 'GET', `/api/v1/rooms/${roomId}/messages`, { token: u.token });
  t.same(hist.body.messages.map((x: { content: string }) => x.content), ['fine'], 'nothing stored by the refused frames');
  m.close();
  j.close();
});

t.test('authentication: at the upgrade, by first frame, timeouts and refusals', async (t) => {
  const live = await shared(); // 300 ms to authenticate
  if (!live) return;
  const u = await live.user('a');
  await t.rejects(openClient(live.wsUrl, 'not.a.token'), { message: /401/ }, 'bad token at the upgrade: 401, no upgrade');
  const q = await openClient(`${live.wsUrl}?access_token=${u.token}`, null);
  t.equal((await q.waitFor((f) => f.type === 'authenticated')).data.user.username, u.username, '?access_token= works');
  t.ok(q.of('authenticated')[0]!.data.session_id, 'a session id');
  q.close();

  const first = await live.client(null);
  const auth = await first.request('authenticate', { token: u.token });
  t.equal(auth.type, 'ack', 'authenticate as the first frame, with an id: its one reply is the ack');
  t.equal(auth.data.heartbeat_ms, 30_000);
  t.equal(auth.data.user.id, u.id);
  t.equal(first.of('authenticated').length, 0, 'no authenticated event beside the ack');
  t.equal((await first.request('ping')).type, 'ack');
  first.close();

  const early = await live.client(null);
  early.send({ type: 'join_room', data: { room_id: 1 } });
  t.equal((await early.waitClose()).code, 4401, 'any other frame first: 4401');

  const badFirst = await live.client(null);
  badFirst.send({ type: 'authenticate', data: { token: 'garbage' } });
  t.equal((await badFirst.waitClose()).code, 4401, 'a bad token in the first frame: 4401');
  t.equal(badFirst.of('error')[0]?.data.code, 'unauthenticated', 'after its error');

  const badWithId = await live.client(null);
  const refused = await badWithId.request('authenticate', { token: 'garbage' });
  t.match(refused, { type: 'error', reply_to: String, data: { code: 'unauthenticated' } }, 'a bad token gets its reply before the close');
  t.equal((await badWithId.waitClose()).code, 4401);

  const byEvent = await live.client(null);
  byEvent.send({ type: 'authenticate', data: { token: u.token } });
  t.equal((await byEvent.waitFor((f) => f.type === 'authenticated')).data.user.id, u.id, 'without an id: the authenticated event');
  byEvent.close();

  const silent = await live.client(null);
  t.equal((await silent.waitClose()).code, 4408, 'no authenticate in time: 4408');

  const r = await fetch(`${live.url}/ws`, { headers: { upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat.v9' } }).catch((e: unknown) => e);
  t.ok(r instanceof Error || (r as Response).status === 400, 'an unknown sub-protocol is refused');
});

t.test('an Origin allowlist refuses other origins, and lets in clients that send none', async (t) => {
  const live = await startLive(t, 'pglite', { server: { originAllowlist: ['https://chat.example'] } });
  if (!live) return;
  const u = await live.user('o');
  await t.rejects(openClient(live.wsUrl, u.token, { headers: { origin: 'https://evil.example' } }), { message: /403/ });
  await t.rejects(openClient(live.wsUrl, u.token, { headers: { origin: 'https://chat.example.evil.example' } }), { message: /403/ });
  const ok = await openClient(live.wsUrl, u.token, { headers: { origin: 'https://chat.example' } });
  await ok.waitFor((f) => f.type === 'authenticated');
  ok.close();
  // A native app or a server sends no Origin (the ws package sends none unless told to).
  const native = await openClient(live.wsUrl, u.token);
  await native.waitFor((f) => f.type === 'authenticated');
  native.close();
});

t.test('heartbeat: the server pings every heartbeatMs; a client that answers stays, a silent one is closed after idleTimeoutMs', async (t) => {
  const live = await startLive(t, 'pglite', { ws: { heartbeatMs: 1000, idleTimeoutMs: 4000 } });
  if (!live) return;
  const u = await live.user('h');
  const watch = (autoPong: boolean) => {
    const ws = new WebSocket(live.wsUrl, ['veza.json'], { headers: { authorization: `Bearer ${u.token}` }, autoPong });
    const started = Date.now();
    const pings: number[] = [];
    ws.on('ping', () => pings.push(Date.now() - started));
    const closed = new Promise<{ at: number; code: number }>((resolve) => ws.once('close', (code) => resolve({ at: Date.now() - started, code })));
    return { ws, pings, closed };
  };
  const silent = watch(false);
  const alive = watch(true);
  const gone = await silent.closed;
  // No frame from the client for idleTimeoutMs: uWS closes (its 4-second ticks may add up to one).
  t.ok(gone.at >= 4000 && gone.at < 12_000, `the silent client is closed after the idle timeout (${gone.at} ms)`);
  t.ok(silent.pings.length >= 2, `it was pinged meanwhile (${silent.pings.join(', ')} ms)`);
  // The one that answers (ws answers pings with pongs) outlives it, pinged about once a heartbeat.
  await new Promise((r) => setTimeout(r, Math.max(0, 9000 - gone.at)));
  t.equal(alive.ws.readyState, WebSocket.OPEN, 'the client that answers pings is still open after twice the idle timeout');
  const gaps = alive.pings.slice(1).map((p, i) => p - alive.pings[i]!);
  t.ok(alive.pings.length >= 6, `pinged ${alive.pings.length} times in 9 s (${alive.pings.join(', ')} ms)`);
  t.ok(gaps.every((g) => g >= 500 && g <= 2500), `about every heartbeatMs (gaps ${gaps.join(', ')} ms)`);
  alive.ws.close();
});

t.test('the configuration refuses a heartbeat no shorter than the idle timeout', async (t) => {
  const { loadConfig } = await import('../src/config/index.js');
  t.throws(() => loadConfig({ env: {}, flags: { ws: { heartbeatMs: 60_000, idleTimeoutMs: 60_000 } } }), /heartbeatMs/);
  t.equal(loadConfig({ env: {}, flags: {} }).ws.heartbeatMs, 30_000);
});

t.test('an access token that expires closes the socket with 4401 unless renewed', async (t) => {
  const live = await shared();
  if (!live) return;
  const u = await live.user('exp');
  const secret = readFileSync(join(live.config.dataDir, 'jwt-secret'), 'utf8').trim();
  const tokens = new AccessTokens(secret, { ttlS: 900 });
  const short = async () => (await tokens.sign({ id: u.id, username: u.username, role: 'user' }, { ttlS: 2 })).token;
  const lapsing = await live.client(await short());
  const renewed = await live.client(await short());
  await renewed.waitFor((f) => f.type === 'authenticated');
  t.equal((await renewed.request('authenticate', { token: u.token })).type, 'ack', 'a fresh token extends the connection');
  const closed = await lapsing.waitClose(6000);
  t.equal(closed.code, 4401, 'expired and not renewed: 4401');
  t.equal(renewed.closed, null, 'the renewed socket stays open');
  t.equal((await renewed.request('ping')).type, 'ack');
  const other = await live.user('other');
  t.equal((await renewed.request('authenticate', { token: other.token })).data.code, 'forbidden', 'a connection stays with its user');
  renewed.close();
});
