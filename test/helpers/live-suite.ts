/**
 * The live chat path end to end, run against each backend (test/live-pglite.ts,
 * test/live-postgres.ts): real node, real REST, real WebSocket clients.
 */
import type { Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { call } from './http.js';
import { room, startLive, type Backend, type Live, type TestClient } from './live.js';

const messagesOf = (c: TestClient, roomId: number) => c.of('message').filter((f) => f.data.conversation_id === roomId);

export function liveSuite(t: Test, backend: Backend): void {
  // One node for the tests with default settings (each makes its own users and rooms): a node
  // costs seconds to start. It is the file's, stopped when the file's tests end.
  let node: Promise<Live | null> | undefined;
  const shared = () => (node ??= startLive(t, backend));

  t.test(`${backend}: two clients in a room see each other's messages in seq order`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const id = await room(live, alice.token);
    const a = await live.client(alice.token);
    const b = await live.client(bob.token, { protocol: 'veza.msgpack' });
    t.equal((await a.waitFor((f) => f.type === 'authenticated')).data.user.id, alice.id, 'authenticated at the upgrade');
    const joinedA = await a.ok('join_room', { room_id: id });
    t.equal(joinedA.room_id, id);
    t.equal(joinedA.room.name, 'general');
    t.equal(a.of('joined').length, 0, 'a request with an id gets one reply, the ack: no joined event beside it');
    const ackCount = a.of('ack').length;
    a.send({ type: 'join_room', data: { room_id: id } });
    t.match((await a.waitFor((f) => f.type === 'joined')).data, { room_id: id, last_seq: Number }, 'without an id, the joined event is the reply');
    a.send({ type: 'ping' });
    await a.waitFor((f) => f.type === 'pong');
    t.equal(a.of('ack').length, ackCount, 'and no ack');
    await b.ok('join_room', { room_id: id, user_id: bob.id });
    const sends = [];
    for (let i = 0; i < 10; i++) {
      sends.push(a.ok('send_message', { room_id: id, content: `a${i}` }));
      sends.push(b.ok('send_message', { room_id: id, content: `b${i}` }));
    }
    const acks = await Promise.all(sends);
    for (const ack of acks) t.ok(ack.id > 0 && typeof ack.uuid === 'string' && ack.seq > 0, 'ack carries id, uuid, seq');
    t.same(acks.map((x) => x.seq).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), 'seqs 1..20, no gap');
    await a.waitFor((f) => f.type === 'message' && f.data.seq === 20);
    await b.waitFor((f) => f.type === 'message' && f.data.seq === 20);
    for (const c of [a, b]) {
      const seqs = messagesOf(c, id).map((f) => f.data.seq);
      t.same(seqs, Array.from({ length: 20 }, (_, i) => i + 1), 'every message, in seq order, exactly once');
    }
    const m = messagesOf(b, id)[0]!.data;
    t.match(m, { conversation_id: id, room_id: id, author: String, content: String, message_type: 'text', is_edited: false, metadata: {} });
    t.same(Object.keys(m), ['id', 'uuid', 'conversation_id', 'room_id', 'seq', 'author_id', 'author', 'content', 'message_type', 'parent_message_id', 'thread_count', 'is_edited', 'edit_count', 'is_pinned', 'metadata', 'client_id', 'created_at', 'edited_at', 'is_deleted', 'reactions']);

    // History: the recent window and beyond, by cursor.
    const page = await a.ok('fetch_history', { conversation_id: id, limit: 5 });
    t.same(page.messages.map((x: any) => x.seq), [16, 17, 18, 19, 20]);
    t.same(Object.keys(page), ['conversation_id', 'messages', 'has_more', 'next_cursor'], 'the ack carries the page');
    t.equal(a.of('history').length, 0, 'and no history event beside it');
    t.equal(page.has_more, true);
    const older = await a.ok('fetch_history', { conversation_id: id, before: page.next_cursor, limit: 100 });
    t.same(older.messages.map((x: any) => x.seq), Array.from({ length: 15 }, (_, i) => i + 1));
    t.equal(older.has_more, false);
    const rest = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages?limit=3`, { token: bob.token });
    t.equal(rest.status, 200);
    t.same(rest.body.messages.map((x: any) => x.seq), [18, 19, 20]);
    t.equal(rest.body.has_more, true);
    const next = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages?before=${rest.body.next_cursor}&limit=100`, { token: bob.token });
    t.equal(next.body.messages.length, 17);

    // Leave: no more messages for b.
    t.same(await b.ok('leave_room', { room_id: id }), { room_id: id });
    t.equal(b.of('left').length, 0, 'the ack alone');
    await a.ok('send_message', { room_id: id, content: 'after leave' });
    await a.waitFor((f) => f.type === 'message' && f.data.seq === 21);
    t.equal(messagesOf(b, id).length, 20, 'a member who left hears nothing more');
    t.equal((await b.request('send_message', { room_id: id, content: 'x' })).data.code, 'forbidden', 'no sending after leaving');
    a.close();
    b.close();
  });

  t.test(`${backend}: members on two different front threads all get the room's messages`, async (t) => {
    const live = await shared();
    if (!live) return;
    const owner = await live.user('owner');
    const id = await room(live, owner.token);
    const clients: TestClient[] = [];
    const fronts = async () => Promise.all([0, 1].map(async (i) => ((await live.node.supervisor.control('front', i, { t: 'stats' })) as { open: number }).open));
    // The kernel spreads connections over the fronts; open until both hold some (bounded).
    for (let i = 0; i < 40; i++) {
      const u = await live.user('m');
      const c = await live.client(u.token);
      await c.ok('join_room', { room_id: id });
      clients.push(c);
      const open = await fronts();
      if (clients.length >= 4 && open[0]! > 0 && open[1]! > 0) break;
    }
    const open = await fronts();
    t.ok(open[0]! > 0 && open[1]! > 0, `both fronts hold members (${open.join(' / ')})`);
    for (let i = 0; i < 5; i++) await clients[0]!.ok('send_message', { room_id: id, content: `hello ${i}` });
    for (const c of clients) {
      await c.waitFor((f) => f.type === 'message' && f.data.seq === 5);
      t.same(messagesOf(c, id).map((f) => f.data.seq), [1, 2, 3, 4, 5]);
    }
    for (const c of clients) c.close();
  });

  t.test(`${backend}: REST-posted messages reach WebSocket members; client_id stores one message`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const id = await room(live, alice.token);
    const b = await live.client(bob.token);
    await b.ok('join_room', { room_id: id });
    const notMember = await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: alice.token, body: { content: 'x' } });
    t.equal(notMember.status, 201, 'the owner is a member');
    const posted = await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, {
      token: alice.token,
      body: { content: 'Hello from REST API!', parent_message_id: null, metadata: { source: 'mobile_app', version: '1.2.0' } },
    });
    t.equal(posted.status, 201);
    t.match(posted.body, { id: Number, uuid: String, content: 'Hello from REST API!', author_id: alice.id, created_at: String, seq: 2 });
    const got = await b.waitFor((f) => f.type === 'message' && f.data.id === posted.body.id);
    t.same(got.data.metadata, { source: 'mobile_app', version: '1.2.0' });

    const clientId = randomUUID();
    const first = await b.ok('send_message', { room_id: id, content: 'once', client_id: clientId });
    const again = await b.ok('send_message', { room_id: id, content: 'once', client_id: clientId });
    t.equal(again.id, first.id, 'a retry is acked with the first message');
    t.equal(again.seq, first.seq);
    const viaRest = await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: bob.token, body: { content: 'once', client_id: clientId } });
    t.equal(viaRest.status, 200, 'a REST retry answers 200 with the stored message');
    t.equal(viaRest.body.id, first.id);
    // Retries racing each other in one batch, and after the window has moved on.
    const u = randomUUID();
    const racing = await Promise.all([1, 2, 3].map(() => b.ok('send_message', { room_id: id, content: 'race', client_id: u })));
    t.equal(new Set(racing.map((r) => r.id)).size, 1, 'concurrent retries store one message');
    const hist = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages?limit=100`, { token: bob.token });
    t.equal(hist.body.messages.filter((m: any) => m.client_id === clientId).length, 1);
    t.equal(hist.body.messages.filter((m: any) => m.client_id === u).length, 1);
    t.same(hist.body.messages.map((m: any) => m.seq), [1, 2, 3, 4], 'no seq burnt by duplicates');
    b.close();
  });

  t.test(`${backend}: direct messages`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob, carol] = [await live.user('alice'), await live.user('bob'), await live.user('carol')];
    const a = await live.client(alice.token);
    const b = await live.client(bob.token);
    const dm = await a.ok('create_dm', { user_id: bob.id });
    const pairIds = [alice.id, bob.id].sort((x, y) => x - y);
    // last_seq and created: where a client that does not follow the DM yet starts following it.
    t.same(dm, { conversation_id: dm.conversation_id, user_ids: pairIds, last_seq: 0, created: true }, 'the ack: a new DM, nothing in it');
    const announced = await b.waitFor((f) => f.type === 'dm_created' && f.data.conversation_id === dm.conversation_id);
    t.same(announced.data, dm, 'dm_created tells the peer the same');
    const again = await b.ok('create_dm', { user1_id: bob.id, user2_id: alice.id });
    t.equal(again.conversation_id, dm.conversation_id, 'the same pair gets the same conversation');
    t.match(again, { last_seq: 0, created: false }, 'and says it existed');
    t.equal((await a.request('create_dm', { user_id: alice.id })).data.code, 'validation_failed', 'no DM with oneself');
    t.equal((await a.request('create_dm', { user_id: 999_999_999 })).data.code, 'not_found');
    await a.ok('send_dm', { conversation_id: dm.conversation_id, content: 'psst' });
    const got = await b.waitFor((f) => f.type === 'message' && f.data.conversation_id === dm.conversation_id);
    t.equal(got.data.content, 'psst');
    t.notOk('room_id' in got.data, 'DM messages carry no room_id');
    const c = await live.client(carol.token);
    t.equal((await c.request('send_dm', { conversation_id: dm.conversation_id, content: 'hi' })).data.code, 'forbidden', 'outsiders cannot write');
    t.equal((await c.request('fetch_history', { conversation_id: dm.conversation_id })).data.code, 'forbidden', 'nor read');
    const rest = await call(live.url, 'POST', `/api/v1/dm/${dm.conversation_id}/messages`, { token: bob.token, body: { content: 'rest reply' } });
    t.equal(rest.status, 201);
    await a.waitFor((f) => f.type === 'message' && f.data.id === rest.body.id);
    const list = await call(live.url, 'GET', `/api/v1/dm/${dm.conversation_id}/messages`, { token: alice.token });
    t.same(list.body.messages.map((m: any) => m.content), ['psst', 'rest reply']);
    // Two messages in: the DM's position, in the ack, the event to both users and POST /dm.
    const from = b.frames.length;
    const existing = { conversation_id: dm.conversation_id, user_ids: pairIds, last_seq: 2, created: false };
    t.same(await a.ok('create_dm', { user_id: bob.id }), existing, 'create_dm on a DM with two messages: last_seq 2');
    // (Not the echo of Bob's own create_dm above, last_seq 0, should it come this late.)
    t.same((await b.waitFor((f) => f.type === 'dm_created' && f.data.last_seq !== 0, 10_000, from)).data, existing, 'dm_created says the same');
    const rest2 = await call(live.url, 'POST', '/api/v1/dm', { token: bob.token, body: { user_id: alice.id } });
    t.equal(rest2.status, 200);
    t.same(rest2.body, existing, 'POST /dm answers as the ack');
    const created = await call(live.url, 'POST', '/api/v1/dm', { token: carol.token, body: { user_id: alice.id } });
    t.equal(created.status, 201);
    t.match(created.body, { last_seq: 0, created: true });
    t.equal((await call(live.url, 'POST', '/api/v1/dm', { token: carol.token, body: { user_id: alice.id } })).status, 200);
    t.equal((await call(live.url, 'POST', '/api/v1/dm', { token: carol.token, body: { user_id: carol.id } })).status, 400);
    // The seed's pair form, as create_dm takes it; one of the pair must be the caller.
    const pair = await call(live.url, 'POST', '/api/v1/dm', { token: carol.token, body: { user1_id: bob.id, user2_id: carol.id } });
    t.equal(pair.status, 201, 'user1_id/user2_id');
    t.same(pair.body.user_ids, [bob.id, carol.id].sort((x, y) => x - y));
    t.equal((await call(live.url, 'POST', '/api/v1/dm', { token: carol.token, body: { user1_id: alice.id, user2_id: bob.id } })).status, 403, 'a pair without the caller');
    // GET /dm lists Carol's two, newest first, with both users of each, a page at a time.
    const dms = await call(live.url, 'GET', '/api/v1/dm', { token: carol.token });
    t.same(
      dms.body.conversations.map((x: any) => [x.conversation_id, x.user_ids]),
      [
        [pair.body.conversation_id, pair.body.user_ids],
        [created.body.conversation_id, [alice.id, carol.id].sort((x, y) => x - y)],
      ],
    );
    t.match(dms.body, { has_more: false, next_cursor: null });
    const first = await call(live.url, 'GET', '/api/v1/dm?limit=1', { token: carol.token });
    t.match(first.body, { has_more: true, next_cursor: pair.body.conversation_id });
    const next = await call(live.url, 'GET', `/api/v1/dm?limit=1&before=${first.body.next_cursor}`, { token: carol.token });
    t.same(next.body.conversations.map((x: any) => x.conversation_id), [created.body.conversation_id]);
    t.equal(next.body.has_more, false);
    for (const x of [a, b, c]) x.close();
  });

  t.test(`${backend}: DM events reach every socket of both users, on both fronts and in both encodings, in order`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const fronts = async () => Promise.all([0, 1].map(async (i) => ((await live.node.supervisor.control('front', i, { t: 'stats' })) as { open: number }).open));
    // Several sockets per user, alternating encodings, until both fronts hold some (bounded).
    const sockets: { user: number; c: TestClient }[] = [];
    for (let i = 0; i < 40; i++) {
      const who = i % 2 === 0 ? alice : bob;
      const protocol = i % 4 < 2 ? 'veza.json' : 'veza.msgpack';
      sockets.push({ user: who.id, c: await live.client(who.token, { protocol }) });
      const open = await fronts();
      if (sockets.length >= 6 && open[0]! > 0 && open[1]! > 0) break;
    }
    const open = await fronts();
    t.ok(open[0]! > 0 && open[1]! > 0, `both fronts hold sockets (${open.join(' / ')})`);
    const sender = sockets[0]!.c;
    const dm = await sender.ok('create_dm', { user_id: bob.id });
    for (const { c } of sockets) await c.waitFor((f) => f.type === 'dm_created' && f.data.conversation_id === dm.conversation_id);
    t.pass(`dm_created reached all ${sockets.length} sockets`);
    const sends = Array.from({ length: 6 }, (_, i) => sender.ok('send_dm', { conversation_id: dm.conversation_id, content: `dm ${i}` }));
    const acks = await Promise.all(sends);
    t.same(acks.map((a) => a.seq).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6]);
    for (const { c } of sockets) {
      await c.waitFor((f) => f.type === 'message' && f.data.conversation_id === dm.conversation_id && f.data.seq === 6);
      t.same(messagesOf(c, dm.conversation_id).map((f) => f.data.seq), [1, 2, 3, 4, 5, 6], `a ${c.ws.protocol} socket got each DM once, in seq order`);
    }
    // A closed socket is skipped; the user's other sockets still get the next event.
    const gone = sockets.find((s) => s.user === bob.id)!;
    gone.c.close();
    const rest = sockets.filter((s) => s !== gone);
    await sender.ok('send_dm', { conversation_id: dm.conversation_id, content: 'after a close' });
    for (const { c } of rest) await c.waitFor((f) => f.type === 'message' && f.data.seq === 7);
    t.pass('the remaining sockets got the event sent after one closed');
    for (const { c } of rest) c.close();
  });

  t.test(`${backend}: GET /rooms pages by cursor: public rooms and one's own private ones, never others'`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const mine = await room(live, alice.token, 'mine', false);
    const theirs = await room(live, bob.token, 'theirs', false);
    // Others' public rooms, by several users (3 rooms a minute each by default).
    const makers = [bob, await live.user('carol'), await live.user('dave')];
    const publics = [];
    for (let i = 0; i < 5; i++) publics.push(await room(live, makers[(i + 1) % 3]!.token, `pub${i}`));
    await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: bob.id } });
    const seen: number[] = [];
    let pages = 0;
    for (let before: number | null = null; ; pages++) {
      const r = await call(live.url, 'GET', `/api/v1/rooms?limit=2${before === null ? '' : `&before=${before}`}`, { token: alice.token });
      t.equal(r.status, 200);
      seen.push(...r.body.rooms.map((x: any) => x.id));
      if (!r.body.has_more) {
        t.equal(r.body.next_cursor, null);
        break;
      }
      before = r.body.next_cursor;
    }
    t.ok(pages >= 3, `${pages + 1} pages of 2`);
    t.ok(seen.includes(mine) && publics.every((id) => seen.includes(id)), 'her private room and every public one');
    t.notOk(seen.includes(theirs), "not someone else's private room");
    t.equal(new Set(seen).size, seen.length, 'each once');
    t.same(seen, [...seen].sort((x, y) => y - x), 'newest first');
    t.equal((await call(live.url, 'GET', '/api/v1/rooms?limit=0', { token: alice.token })).status, 400);
    t.equal((await call(live.url, 'GET', '/api/v1/rooms?offset=2', { token: alice.token })).status, 400, 'unknown parameters are refused, not ignored');
  });

  t.test(`${backend}: logout closes every socket of the user, on both fronts, with 4401`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const fronts = async () => Promise.all([0, 1].map(async (i) => ((await live.node.supervisor.control('front', i, { t: 'stats' })) as { open: number }).open));
    const before = await fronts();
    // Alice's sockets until both fronts hold one more than before (bounded), and one of Bob's.
    const mine: TestClient[] = [];
    for (let i = 0; i < 40; i++) {
      mine.push(await live.client(alice.token, { protocol: i % 2 === 0 ? 'veza.json' : 'veza.msgpack' }));
      const open = await fronts();
      if (mine.length >= 2 && open[0]! > before[0]! && open[1]! > before[1]!) break;
    }
    const open = await fronts();
    t.ok(open[0]! > before[0]! && open[1]! > before[1]!, `Alice has sockets on both fronts (${open.join(' / ')})`);
    const other = await live.client(bob.token);

    const out = await call(live.url, 'POST', '/api/v1/auth/logout', { body: { refresh_token: alice.refreshToken } });
    t.equal(out.status, 204);
    for (const c of mine) t.match(await c.waitClose(), { code: 4401 }, `a ${c.ws.protocol} socket of Alice's is closed with 4401`);
    t.equal((await other.request('ping')).type, 'ack', "Bob's socket is untouched");
    // An unknown token logs nobody out.
    t.equal((await call(live.url, 'POST', '/api/v1/auth/logout', { body: { refresh_token: 'x'.repeat(43) } })).status, 204);
    t.equal((await other.request('ping')).type, 'ack', 'still');
    other.close();
  });

  t.test(`${backend}: resume after reconnect returns every missed event in order, then live ones`, async (t) => {
    // A window of 3 recent events: resuming from further back reads the database.
    const live = await startLive(t, backend, { runtime: { recentWindow: 3 } });
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const id = await room(live, alice.token);
    const a = await live.client(alice.token);
    await a.ok('join_room', { room_id: id });
    let b = await live.client(bob.token);
    await b.ok('join_room', { room_id: id });
    for (let i = 1; i <= 2; i++) await a.ok('send_message', { room_id: id, content: `m${i}` });
    await b.waitFor((f) => f.type === 'message' && f.data.seq === 2);
    b.close();
    await b.waitClose();
    for (let i = 3; i <= 8; i++) await a.ok('send_message', { room_id: id, content: `m${i}` });

    b = await live.client(bob.token);
    const ack = await b.ok('resume', { positions: { [id]: 2 } });
    t.match(ack.conversations, [{ conversation_id: id, recovered: true, from_seq: 3, to_seq: 8 }]);
    const resumed = b.of('resumed');
    t.equal(resumed.length, 1);
    t.match(resumed[0]!.data, { conversation_id: id, recovered: true, from_seq: 3, to_seq: 8 });
    const afterResumed = b.frames.slice(b.frames.indexOf(resumed[0]!) + 1).filter((f) => f.type === 'message');
    t.same(afterResumed.map((f) => f.data.seq), [3, 4, 5, 6, 7, 8], 'every missed event, in order, no gap, no duplicate (window and database)');
    await a.ok('send_message', { room_id: id, content: 'live' });
    await b.waitFor((f) => f.type === 'message' && f.data.seq === 9);
    t.same(messagesOf(b, id).map((f) => f.data.seq), [3, 4, 5, 6, 7, 8, 9], 'the resumed socket is subscribed again');

    const c = await live.client(bob.token);
    const current = await c.ok('resume', { positions: { [id]: 9 } });
    t.match(current.conversations, [{ recovered: true, from_seq: 10, to_seq: 9 }], 'nothing missed: recovered with no events');
    const carol = await live.user('carol');
    const outsider = await live.client(carol.token);
    const refused = await outsider.request('resume', { positions: { [id]: 0 } });
    t.equal(refused.type, 'ack', 'a public room can be read by anyone');
    t.match(refused.data.conversations, [{ conversation_id: id, recovered: true, live: false }], 'and the answer says no live events follow');
    t.equal(outsider.of('resumed')[0]?.data.live, false);
    t.equal(current.conversations[0].live, true, 'a member resumes live');
    t.equal(outsider.of('message').length, 9, 'its history comes back');
    await a.ok('send_message', { room_id: id, content: 'members only' });
    await c.waitFor((f) => f.type === 'message' && f.data.seq === 10);
    t.equal(outsider.of('message').length, 9, 'but a non-member is not subscribed by resume');
    for (const x of [a, b, c, outsider]) x.close();
  });

  t.test(`${backend}: resume while messages keep coming: per conversation, resumed then every event once, in order; a bad one fails alone`, async (t) => {
    // A window of 3: every resume below reads the database, the slow path.
    const live = await startLive(t, backend, { runtime: { recentWindow: 3 }, limits: { perMinute: { send_message: 100_000 } } });
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const rooms = [await room(live, alice.token, 'r1'), await room(live, alice.token, 'r2'), await room(live, alice.token, 'r3')];
    const a = await live.client(alice.token);
    const joined = await live.client(bob.token);
    for (const id of rooms) {
      await a.ok('join_room', { room_id: id });
      await joined.ok('join_room', { room_id: id });
    }
    const dm = (await a.ok('create_dm', { user_id: bob.id })).conversation_id as number;
    const all = [...rooms, dm];
    const send = (id: number, i: number) =>
      id === dm ? a.ok('send_dm', { conversation_id: dm, content: `d${i}` }) : a.ok('send_message', { room_id: id, content: `m${i}` });
    for (let i = 0; i < 10; i++) for (const id of all) await send(id, i);

    // Alice keeps sending to every conversation while Bob resumes them: on a fresh socket (rooms
    // to subscribe, and the DM, whose events reach every socket of his anyway) and on the socket
    // that joined them all (already subscribed).
    let sending = true;
    let rounds = 0;
    const sender = (async () => {
      for (let i = 10; sending; i++, rounds++) await Promise.all(all.map((id) => send(id, i)));
    })();
    const fresh = await live.client(bob.token);
    const joiner = await live.client(bob.token);
    const twice = await live.client(bob.token);
    await new Promise((r) => setTimeout(r, 50));
    const fromFresh = fresh.frames.length;
    const fromJoined = joined.frames.length;
    // ...and a third socket of his joins a room meanwhile: everything after its last_seq follows the ack.
    // ...and a fourth joins a room and, in the same breath, resumes it: that conversation of the
    // resume is refused (the join is in flight), and the join still misses nothing.
    // Its two frames leave in one write, so the server reads them in one go: sent apart, the join
    // could be answered before the resume arrived on a loaded machine (no conflict, then).
    const raw = (twice.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.cork();
    process.nextTick(() => raw.uncork());
    const [ackFresh, ackJoined, join, join2, clash] = await Promise.all([
      fresh.ok('resume', { positions: { [rooms[0]!]: 2, [rooms[1]!]: 0, [dm]: 5, 999999999: 0 } }),
      joined.ok('resume', { positions: { [rooms[2]!]: 1 } }),
      joiner.ok('join_room', { room_id: rooms[1]! }),
      twice.ok('join_room', { room_id: rooms[2]! }),
      twice.request('resume', { positions: { [rooms[2]!]: 0 } }),
    ]);
    t.match(clash.data.conversations, [{ conversation_id: rooms[2]!, error: 'conflict' }], 'a resume of a room the socket is joining is refused');
    // Live traffic goes on after every reply: a few more rounds, however slow the machine is
    // (a fixed 200 ms was sometimes less than one round with other test files running).
    const after = rounds + 3;
    await new Promise((r) => setTimeout(r, 200));
    while (rounds < after) await new Promise((r) => setTimeout(r, 10));
    sending = false;
    await sender;
    const last = new Map<number, number>();
    for (const id of all) last.set(id, (await a.ok('fetch_history', { conversation_id: id, limit: 1 })).messages[0].seq);
    // Every socket has everything up to the last seq of each conversation.
    for (const [c, id] of [[fresh, rooms[0]!], [fresh, rooms[1]!], [fresh, dm], [joined, rooms[2]!], [joiner, rooms[1]!], [twice, rooms[2]!]] as const) {
      await c.waitFor((f) => f.type === 'message' && f.data.conversation_id === id && f.data.seq === last.get(id));
    }

    const check = (c: TestClient, from: number, id: number, ack: any) => {
      const frames = c.frames.slice(from);
      const at = frames.findIndex((f) => f.type === 'resumed' && f.data.conversation_id === id);
      t.ok(at >= 0, `resumed ${id}`);
      const r = frames[at]!.data;
      t.match(ack.conversations.find((x: any) => x.conversation_id === id), { recovered: true, from_seq: r.from_seq, to_seq: r.to_seq });
      const isMessage = (f: { type: string; data?: any }) => f.type === 'message' && f.data.conversation_id === id;
      t.ok(frames.slice(0, at).filter(isMessage).every((f) => f.data.seq <= r.to_seq), `nothing of ${id} newer than its to_seq came before its resumed`);
      const seqs = frames.slice(at + 1).filter(isMessage).map((f) => f.data.seq);
      const want = Array.from({ length: last.get(id)! - r.from_seq + 1 }, (_, i) => r.from_seq + i);
      t.same(seqs, want, `conversation ${id}: ${r.from_seq}..${last.get(id)} after resumed (to_seq ${r.to_seq}), each once, in order`);
    };
    check(fresh, fromFresh, rooms[0]!, ackFresh);
    check(fresh, fromFresh, rooms[1]!, ackFresh);
    check(fresh, fromFresh, dm, ackFresh);
    check(joined, fromJoined, rooms[2]!, ackJoined);
    // Live traffic through and after the resume (a count of rounds by the clock, `> 20`, failed on
    // a loaded machine): every resumed conversation got messages past its reply's to_seq.
    const recovered = [...ackFresh.conversations, ...ackJoined.conversations].filter((c: any) => c.recovered);
    t.equal(recovered.length, 4, 'four conversations resumed');
    t.ok(
      recovered.every((c: any) => last.get(c.conversation_id)! > c.to_seq),
      `messages kept coming after the resume (last ${[...last.values()].join(', ')}; to_seq ${recovered.map((c: any) => c.to_seq).join(', ')})`,
    );
    const checkJoin = (c: TestClient, id: number, j: { last_seq: number }) => {
      const at = c.frames.findIndex((f) => f.type === 'ack' && f.data.room_id === id && f.data.last_seq === j.last_seq);
      const of = (f: { type: string; data?: any }) => f.type === 'message' && f.data.conversation_id === id;
      t.ok(at >= 0, 'the join is acked');
      t.equal(c.frames.slice(0, at).filter(of).length, 0, 'no message before the join\'s ack');
      const seqs = c.frames.slice(at + 1).filter(of).map((f) => f.data.seq);
      t.same(seqs, Array.from({ length: last.get(id)! - j.last_seq }, (_, i) => j.last_seq + 1 + i), `after the ack (last_seq ${j.last_seq}): every later message once, in order`);
    };
    checkJoin(joiner, rooms[1]!, join);
    checkJoin(twice, rooms[2]!, join2);

    // The conversation that does not exist failed alone, named in its error.
    t.match(ackFresh.conversations.find((x: any) => x.conversation_id === 999999999), { error: 'not_found' });
    const error = fresh.frames.slice(fromFresh).find((f) => f.type === 'error');
    t.match(error?.data, { code: 'not_found', details: [{ path: 'data.positions.999999999' }] });
    t.equal(error?.reply_to, undefined, 'not the reply: the ack is');

    // A position ahead of the server: not recovered, so the client reloads.
    const ahead = await fresh.ok('resume', { positions: { [rooms[0]!]: 1_000_000 } });
    t.match(ahead.conversations, [{ conversation_id: rooms[0]!, recovered: false }]);
    for (const x of [a, joined, fresh, joiner, twice]) x.close();
  });
}
