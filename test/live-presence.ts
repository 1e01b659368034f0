/**
 * Presence, typing and the members listing end to end, on both backends: a real node with short
 * presence and typing times, real REST and WebSocket clients.
 */
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { call } from './helpers/http.js';
import { startLive, type Backend, type Frame, type Live, type TestClient } from './helpers/live.js';

const WINDOW_MS = 400;
const MAX_PER_WINDOW = 5;
const EXPIRE_MS = 1000;
const THROTTLE_MS = 600;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function room(live: Live, token: string, name: string, isPublic = true): Promise<number> {
  const r = await call(live.url, 'POST', '/api/v1/rooms', { token, body: { name, is_public: isPublic } });
  if (r.status !== 201) throw new Error(`create room: ${r.status} ${r.text}`);
  return r.body.id;
}

async function join(live: Live, token: string, id: number): Promise<void> {
  const r = await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token });
  if (r.status !== 200) throw new Error(`join: ${r.status} ${r.text}`);
}

const presenceOf = (c: TestClient, userId: number) => c.of('presence').filter((f) => f.data.user_id === userId).map((f) => f.data.status);
const typingOf = (c: TestClient, conversationId: number) => c.of('typing').filter((f) => f.data.conversation_id === conversationId);
const status = (userId: number, s: string) => (f: Frame) => f.type === 'presence' && f.data.user_id === userId && f.data.status === s;

function suite(t: Test, backend: Backend): void {
  let node: Promise<Live | null> | undefined;
  const shared = () =>
    (node ??= startLive(t, backend, {
      presence: { windowMs: WINDOW_MS, maxPerWindow: MAX_PER_WINDOW, typingExpireMs: EXPIRE_MS, typingThrottleMs: THROTTLE_MS },
      ws: { heartbeatMs: 1000, idleTimeoutMs: 2000 },
    }));

  t.test(`${backend}: presence across connections, to rooms and DMs in common, not to strangers`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob, carol, dave] = [await live.user('alice'), await live.user('bob'), await live.user('carol'), await live.user('dave')];
    const roomId = await room(live, alice.token, 'presence');
    const elsewhere = await room(live, carol.token, 'elsewhere');
    const dm = await call(live.url, 'POST', '/api/v1/dm', { token: dave.token, body: { user_id: alice.id } });
    t.equal(dm.status, 201);
    const b = await live.client(bob.token);
    await b.ok('join_room', { room_id: roomId });
    const c = await live.client(carol.token, { protocol: 'veza.msgpack' });
    await c.ok('join_room', { room_id: elsewhere });
    const d = await live.client(dave.token);

    const a1 = await live.client(alice.token);
    const online = await b.waitFor(status(alice.id, 'online'));
    t.match(online.data, { user_id: alice.id, status: 'online', last_activity: /^\d{4}-\d\d-\d\dT.*Z$/ }, 'online with the first connection, to a roommate');
    t.same(Object.keys(online.data), ['user_id', 'status', 'last_activity']);
    await d.waitFor(status(alice.id, 'online'));
    t.pass('and to the DM peer');

    const a2 = await live.client(alice.token, { protocol: 'veza.msgpack' });
    const away = await a2.ok('set_presence', { status: 'away' });
    t.match(away, { user_id: alice.id, status: 'away', last_activity: String }, 'set_presence answers the new status');
    await b.waitFor(status(alice.id, 'away'));
    await d.waitFor(status(alice.id, 'away'));
    a1.close();
    await a1.waitClose();
    await sleep(WINDOW_MS * 3);
    t.same(presenceOf(b, alice.id), ['online', 'away'], 'a second connection and the close of one change nothing');
    a2.close();
    await b.waitFor(status(alice.id, 'offline'));
    await d.waitFor(status(alice.id, 'offline'));
    t.pass('offline when the last connection closes');
    t.same(presenceOf(b, alice.id), ['online', 'away', 'offline'], 'each change once');
    await sleep(WINDOW_MS * 2);
    t.same(presenceOf(c, alice.id), [], 'a stranger (in another room) hears nothing');
    t.same(c.of('presence').map((f) => f.data.user_id).filter((id) => id !== carol.id), [], 'of anyone');

    // Bad input: answered, nothing broadcast.
    const before = b.of('presence').length;
    const bad = await b.request('set_presence', { status: 'offline' });
    t.equal(bad.data.code, 'validation_failed', 'offline is the server\'s to say');
    t.match(bad.data.details, [{ path: 'data.status' }]);
    await sleep(WINDOW_MS * 2);
    t.equal(b.of('presence').length, before);
    for (const x of [b, c, d]) x.close();
  });

  t.test(`${backend}: offline only when the last connection is lost or times out`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const roomId = await room(live, alice.token, 'lost');
    const b = await live.client(bob.token);
    await b.ok('join_room', { room_id: roomId });
    const lost = await live.client(alice.token);
    // A client that answers no pings: dropped after the idle timeout (uWS: 4..12 s at 2 s).
    const silent = new WebSocket(live.wsUrl, ['veza.json'], { headers: { authorization: `Bearer ${alice.token}` }, autoPong: false });
    const silentClosed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
    await b.waitFor(status(alice.id, 'online'));
    const started = Date.now();
    // The first connection vanishes without a close frame (its TCP socket is destroyed).
    (lost.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
    await lost.waitClose();
    await sleep(WINDOW_MS * 3);
    t.same(presenceOf(b, alice.id), ['online'], 'still online: one connection is left');
    t.equal(await silentClosed, 1006, 'the silent one is dropped by the idle timeout');
    await b.waitFor(status(alice.id, 'offline'));
    const after = Date.now() - started;
    t.ok(after >= 2000, `offline only after the last one timed out (${after} ms)`);
    b.close();
  });

  t.test(`${backend}: churn costs a bounded fan-out; a flap within the window is nothing`, async (t) => {
    const live = await shared();
    if (!live) return;
    const owner = await live.user('owner');
    const roomId = await room(live, owner.token, 'churn');
    const users = [];
    for (let i = 0; i < 12; i++) users.push(await live.user(`churn${i}`));
    for (const u of users) await join(live, u.token, roomId);
    const o = await live.client(owner.token);
    await o.ok('join_room', { room_id: roomId });
    await sleep(WINDOW_MS * 2);
    const from = o.frames.length;
    const arrivals: number[] = [];
    o.ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      if (f.type === 'presence' && f.data.user_id !== owner.id) arrivals.push(Date.now());
    });

    // A flap: connected and gone again within the window. The others hear nothing of it.
    const flap = await live.client(users[0]!.token);
    flap.close();
    await flap.waitClose();
    await sleep(WINDOW_MS * 3);
    t.same(presenceOf(o, users[0]!.id), [], 'a flap within the window produces nothing');

    // Churn: 12 users, each connecting and disconnecting 3 times, ending connected.
    const started = Date.now();
    const open: TestClient[] = [];
    for (let round = 0; round < 3; round++) {
      const clients = await Promise.all(users.map((u) => live.client(u.token)));
      if (round < 2) {
        for (const c of clients) c.close();
        await Promise.all(clients.map((c) => c.waitClose()));
      } else open.push(...clients);
    }
    // Everyone ends online: wait until the owner has heard it of each.
    for (const u of users) await o.waitFor(status(u.id, 'online'), 10_000, from);
    const elapsed = Date.now() - started;
    const events = o.frames.slice(from).filter((f) => f.type === 'presence' && f.data.user_id !== owner.id);
    const windows = Math.ceil(elapsed / WINDOW_MS) + 1;
    t.ok(events.length <= MAX_PER_WINDOW * windows, `${events.length} presence events in ${elapsed} ms: at most ${MAX_PER_WINDOW} per ${WINDOW_MS} ms window`);
    t.ok(events.length < users.length * 6, `fewer than one per change (${users.length * 6} changes)`);
    // Each window publishes at most MAX_PER_WINDOW; the next comes a window later (less jitter).
    const busiest = Math.max(...arrivals.map((at) => arrivals.filter((x) => x >= at && x < at + WINDOW_MS / 2).length));
    t.ok(busiest <= MAX_PER_WINDOW, `at most ${MAX_PER_WINDOW} arrive within half a window (busiest: ${busiest})`);
    for (const u of users) t.equal(presenceOf(o, u.id).at(-1), 'online', 'the last status wins');
    for (const c of [...open, o]) c.close();
  });

  t.test(`${backend}: typing reaches the others, not the typist; throttled; ends by itself`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob, carol, dave] = [await live.user('alice'), await live.user('bob'), await live.user('carol'), await live.user('dave')];
    const roomId = await room(live, alice.token, 'typing');
    await join(live, bob.token, roomId);
    // Three JSON sockets of the typist on two fronts: two of them share a front and a topic.
    const as = [
      await live.client(alice.token),
      await live.client(alice.token),
      await live.client(alice.token),
      await live.client(alice.token, { protocol: 'veza.msgpack' }),
    ];
    for (const a of as) await a.ok('join_room', { room_id: roomId });
    const b = await live.client(bob.token, { protocol: 'veza.msgpack' });
    await b.ok('join_room', { room_id: roomId });
    const c = await live.client(carol.token); // may read the public room, is not a member

    t.same(await as[0]!.ok('typing', { room_id: roomId, state: 'start' }), {}, 'typing is acked with nothing');
    const start = await b.waitFor((f) => f.type === 'typing');
    t.same(start.data, { conversation_id: roomId, room_id: roomId, user_id: alice.id, username: alice.username, state: 'start' });
    await as[1]!.ok('typing', { conversation_id: roomId, state: 'start' });
    await as[0]!.ok('typing', { room_id: roomId, state: 'start' });
    await sleep(200);
    t.equal(typingOf(b, roomId).length, 1, 'repeated starts within the throttle are absorbed');
    await as[0]!.ok('typing', { room_id: roomId, state: 'stop' });
    await b.waitFor((f) => f.type === 'typing' && f.data.state === 'stop');
    await as[0]!.ok('typing', { room_id: roomId, state: 'stop' });

    // A start with no stop ends by itself.
    const sent = Date.now();
    const mark = b.frames.length;
    await as[3]!.ok('typing', { room_id: roomId, state: 'start' });
    await b.waitFor((f) => f.type === 'typing' && f.data.state === 'stop', 5000, mark);
    const took = Date.now() - sent;
    t.ok(took >= EXPIRE_MS - 50 && took < EXPIRE_MS + 2000, `the server ends it after about ${EXPIRE_MS} ms (${took} ms)`);
    t.same(typingOf(b, roomId).map((f) => f.data.state), ['start', 'stop', 'start', 'stop'], 'start, stop, start, expiry; never twice');

    // Refusals: nothing broadcast.
    const count = typingOf(b, roomId).length;
    t.equal((await c.request('typing', { room_id: roomId, state: 'start' })).data.code, 'forbidden', 'a reader who is not a member');
    t.equal((await c.request('typing', { room_id: 999_999_999, state: 'start' })).data.code, 'not_found', 'an unknown conversation');
    const bad = await c.request('typing', { room_id: roomId, state: 'typing' });
    t.equal(bad.data.code, 'validation_failed', 'a malformed state');
    t.match(bad.data.details, [{ path: 'data.state' }]);
    t.equal((await c.request('typing', { state: 'start' })).data.code, 'validation_failed', 'no conversation');
    await sleep(300);
    t.equal(typingOf(b, roomId).length, count, 'nothing broadcast for any of them');
    for (const a of as) t.same(typingOf(a, roomId), [], "the typist's sockets never get their own typing");

    // A DM: to the peer, without room_id; not to the typist.
    const dm = await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: dave.id } });
    const dmId = dm.body.conversation_id as number;
    const d = await live.client(dave.token);
    await as[0]!.ok('typing', { conversation_id: dmId, state: 'start' });
    const dmTyping = await d.waitFor((f) => f.type === 'typing');
    t.same(dmTyping.data, { conversation_id: dmId, user_id: alice.id, username: alice.username, state: 'start' });
    t.equal((await b.request('typing', { conversation_id: dmId, state: 'start' })).data.code, 'forbidden', "someone else's DM");
    await sleep(EXPIRE_MS + 500);
    t.same(typingOf(d, dmId).map((f) => f.data.state), ['start', 'stop'], 'the DM typing ends by itself too');
    for (const a of as) t.same(typingOf(a, dmId), []);
    for (const x of [...as, b, c, d]) x.close();
  });

  t.test(`${backend}: GET /rooms/:id/members pages by user id with usernames, roles and presence`, async (t) => {
    const live = await shared();
    if (!live) return;
    const owner = await live.user('owner');
    const roomId = await room(live, owner.token, 'members', false);
    const pub = await room(live, owner.token, 'public');
    const others = [await live.user('m'), await live.user('m'), await live.user('m')];
    // A private room: the owner adds nobody, so the others join the public one to show paging.
    for (const u of others) await join(live, u.token, pub);
    const o = await live.client(owner.token);
    const m0 = await live.client(others[0]!.token);
    await m0.ok('set_presence', { status: 'away' });
    const get = (id: number, query = '', token = owner.token) => call(live.url, 'GET', `/api/v1/rooms/${id}/members${query}`, { token });
    // Presence reaches the room within a window.
    await sleep(WINDOW_MS * 3);
    const first = await get(pub, '?limit=2');
    t.equal(first.status, 200);
    const ids = [owner.id, ...others.map((u) => u.id)].sort((x, y) => y - x);
    t.same(first.body.members.map((m: any) => m.user_id), ids.slice(0, 2), 'newest user id first');
    t.equal(first.body.has_more, true);
    t.equal(first.body.next_cursor, ids[1]);
    const second = await get(pub, `?limit=2&before=${first.body.next_cursor}`);
    t.same(second.body.members.map((m: any) => m.user_id), ids.slice(2));
    t.equal(second.body.has_more, false);
    t.equal(second.body.next_cursor, null);
    const all = [...first.body.members, ...second.body.members];
    const byId = new Map(all.map((m: any) => [m.user_id, m]));
    t.match(byId.get(owner.id), { conversation_id: pub, user_id: owner.id, username: owner.username, role: 'owner', status: 'online', last_activity: String, banned: false, muted_until: null });
    t.same(Object.keys(byId.get(owner.id)), ['conversation_id', 'user_id', 'username', 'role', 'joined_at', 'muted_until', 'banned', 'status', 'last_activity']);
    t.match(byId.get(others[0]!.id), { username: others[0]!.username, role: 'member', status: 'away' });
    t.match(byId.get(others[1]!.id), { role: 'member', status: 'offline' });
    t.same((await get(pub, '', others[2]!.token)).body.members.length, 4, 'a member sees the whole list (default limit 100)');

    t.equal((await get(roomId, '', others[0]!.token)).status, 403, 'a private room, not a member');
    t.equal((await get(roomId, '?limit=0')).status, 400, 'limit 1..100');
    t.equal((await get(roomId, '?limit=101')).status, 400);
    t.equal((await get(roomId, '?after=1')).status, 400, 'unknown query parameter');
    t.equal((await get(999_999_999)).status, 404);
    o.close();
    m0.close();
  });
}

suite(t, 'pglite');
suite(t, 'postgres');

t.test('a room whose members listen is not passivated when idle: its messages still reach them', async (t) => {
  const live = await startLive(t, 'pglite', { runtime: { passivateAfterMs: 200 } });
  if (!live) return;
  const [alice, bob] = [await live.user('alice'), await live.user('bob')];
  const roomId = await room(live, alice.token, 'idle');
  const b = await live.client(bob.token);
  await b.ok('join_room', { room_id: roomId });
  // Several passivation sweeps go by with nothing said in the room.
  await sleep(2000);
  const r = await call(live.url, 'POST', `/api/v1/rooms/${roomId}/messages`, { token: alice.token, body: { content: 'still there?' } });
  t.equal(r.status, 201);
  const m = await b.waitFor((f) => f.type === 'message', 5000);
  t.equal(m.data.content, 'still there?', 'the subscriber gets it (the room kept its subscriber counts)');
  b.close();
});
