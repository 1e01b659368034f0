/**
 * Issue 16 end to end, on both backends: read markers (mark_read and POST /conversations/:id/read,
 * forward only, `read` to the reader's other sockets), unread counts in GET /rooms and GET /dm,
 * PATCH and DELETE /rooms/:id with their events and permissions, the other user's name in
 * GET /dm, and after=0 paging forward. Real node, real REST, real WebSocket clients.
 */
import t, { type Test } from 'tap';
import { call } from './helpers/http.js';
import { room, startLive, type Backend, type Live, type TestClient, type TestUser } from './helpers/live.js';

const PASSWORD = 'correct horse battery'; // what live.user() registers with

async function post(live: Live, token: string, path: string, content: string): Promise<number> {
  const r = await call(live.url, 'POST', `/api/v1${path}`, { token, body: { content } });
  if (r.status !== 201) throw new Error(`post: ${r.status} ${r.text}`);
  return r.body.id;
}

async function unreadIn(live: Live, token: string, id: number): Promise<number | undefined> {
  const r = await call(live.url, 'GET', '/api/v1/rooms', { token });
  return r.body.rooms.find((x: { id: number }) => x.id === id)?.unread_count;
}

/** A user whose token says `admin` (the role is set in the database, then the user logs in again). */
async function admin(live: Live): Promise<TestUser> {
  const u = await live.user('admin');
  await live.node.store.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [u.id]);
  const login = await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: u.username, password: PASSWORD } });
  if (login.body?.user?.role !== 'admin') throw new Error(`admin login: ${login.text}`);
  return { ...u, token: login.body.access_token };
}

/**
 * A barrier: the answer to a request of conversation `id` comes from its RoomActor on the ring
 * that also carries that actor's earlier posts to this socket's front, so whatever the actor sent
 * before has arrived when it does (an error answer too: a deleted room's id still has its shard).
 */
async function settled(c: TestClient, id: number): Promise<void> {
  await c.request('fetch_history', { conversation_id: id, limit: 1 });
}

const reads = (c: TestClient) => c.of('read').map((f) => f.data);

function suite(t: Test, backend: Backend): void {
  let node: Promise<Live | null> | undefined;
  const shared = () => (node ??= startLive(t, backend));

  t.test('mark_read: forward only, read to the reader\'s other sockets, unread counts in GET /rooms', async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const id = await room(live, alice.token);
    t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: bob.token })).status, 200);
    const a1 = await live.client(alice.token);
    const a2 = await live.client(alice.token, { protocol: 'veza.msgpack' });
    const b1 = await live.client(bob.token);
    t.equal(await unreadIn(live, alice.token, id), 0, 'an empty room: nothing unread');
    const m1 = await post(live, bob.token, `/rooms/${id}/messages`, 'one');
    const m2 = await post(live, bob.token, `/rooms/${id}/messages`, 'two');
    const m3 = await post(live, bob.token, `/rooms/${id}/messages`, 'three');
    const m4 = await post(live, alice.token, `/rooms/${id}/messages`, 'four');
    t.equal(await unreadIn(live, alice.token, id), 3, "no marker: every message but the reader's own");
    t.equal(await unreadIn(live, bob.token, id), 1);

    t.same(await a1.ok('mark_read', { conversation_id: id, message_id: m2 }), { conversation_id: id, message_id: m2, updated: true, unread_count: 1 });
    t.same((await a2.waitFor((f) => f.type === 'read')).data, { conversation_id: id, user_id: alice.id, message_id: m2 }, 'the other socket is told');
    t.equal(await unreadIn(live, alice.token, id), 1, 'm3 is unread (m4 is her own)');

    // Backwards: acked with the marker in force, nothing changes, nothing is sent.
    t.same(await a1.ok('mark_read', { conversation_id: id, message_id: m1 }), { conversation_id: id, message_id: m2, updated: false, unread_count: 1 });
    t.same(await a1.ok('mark_read', { conversation_id: id, message_id: m2 }), { conversation_id: id, message_id: m2, updated: false, unread_count: 1 }, 'the same marker again');

    // A message of another conversation, or none at all: not_found, nothing stored or sent.
    const other = await room(live, alice.token, 'elsewhere');
    const elsewhere = await post(live, alice.token, `/rooms/${other}/messages`, 'not here');
    const wrong = await a1.request('mark_read', { conversation_id: id, message_id: elsewhere });
    t.equal(wrong.type, 'error');
    t.equal(wrong.data.code, 'not_found');
    t.same(wrong.data.details, [{ path: 'message_id', message: `message ${elsewhere} not found in conversation ${id}` }]);
    t.equal((await a1.request('mark_read', { conversation_id: id, message_id: m4 + 1_000_000 })).data.code, 'not_found', 'no such message');
    const rest404 = await call(live.url, 'POST', `/api/v1/conversations/${id}/read`, { token: alice.token, body: { message_id: elsewhere } });
    t.equal(rest404.status, 404);
    t.equal(await unreadIn(live, alice.token, id), 1, 'the marker did not move');

    // Forward over REST: every socket of the reader is told (no socket asked).
    const viaRest = await call(live.url, 'POST', `/api/v1/conversations/${id}/read`, { token: alice.token, body: { message_id: m4 } });
    t.equal(viaRest.status, 200);
    t.same(viaRest.body, { conversation_id: id, message_id: m4, updated: true, unread_count: 0 });
    await a1.waitFor((f) => f.type === 'read' && f.data.message_id === m4);
    await a2.waitFor((f) => f.type === 'read' && f.data.message_id === m4);
    await Promise.all([settled(a1, id), settled(a2, id), settled(b1, id)]);
    // Events of one conversation come in order: had a refused or backward marker been sent, it would be here.
    t.same(reads(a2).map((r) => r.message_id), [m2, m4], 'only the markers that moved, in order');
    t.same(reads(a1).map((r) => r.message_id), [m4], 'the asking socket has its ack, not the event');
    t.same(reads(b1), [], 'another user hears nothing of it');
    t.equal(await unreadIn(live, alice.token, id), 0);
    t.equal((await call(live.url, 'POST', `/api/v1/conversations/${id}/read`, { token: alice.token, body: { message_id: m3 } })).body.updated, false, 'REST never goes backwards either');

    await post(live, bob.token, `/rooms/${id}/messages`, 'five');
    t.equal(await unreadIn(live, alice.token, id), 1, 'a new message from someone else');
    t.equal(await unreadIn(live, alice.token, other), 0, 'the other room: her own message only');

    const bad = await call(live.url, 'POST', `/api/v1/conversations/${id}/read`, { token: alice.token, body: {} });
    t.equal(bad.status, 400);
    const priv = await room(live, alice.token, 'secret', false);
    const secret = await post(live, alice.token, `/rooms/${priv}/messages`, 'hush');
    t.equal((await b1.request('mark_read', { conversation_id: priv, message_id: secret })).data.code, 'forbidden', 'a room one cannot read');
    for (const c of [a1, a2, b1]) c.close();
  });

  t.test('GET /dm: the other user and unread counts', async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, carol] = [await live.user('alice'), await live.user('carol')];
    const dm = await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: carol.id } });
    const id = dm.body.conversation_id;
    const c1 = await post(live, carol.token, `/dm/${id}/messages`, 'hi');
    await post(live, carol.token, `/dm/${id}/messages`, 'there');
    await post(live, alice.token, `/dm/${id}/messages`, 'hello');
    const mine = await call(live.url, 'GET', '/api/v1/dm', { token: alice.token });
    t.equal(mine.status, 200);
    t.match(mine.body.conversations[0], { conversation_id: id, user_ids: [alice.id, carol.id], other_user: { id: carol.id, username: carol.username }, unread_count: 2 });
    const theirs = await call(live.url, 'GET', '/api/v1/dm', { token: carol.token });
    t.match(theirs.body.conversations[0], { conversation_id: id, other_user: { id: alice.id, username: alice.username }, unread_count: 1 });
    const a = await live.client(alice.token);
    t.same(await a.ok('mark_read', { conversation_id: id, message_id: c1 }), { conversation_id: id, message_id: c1, updated: true, unread_count: 1 }, 'in a DM too');
    t.equal((await call(live.url, 'GET', '/api/v1/dm', { token: alice.token })).body.conversations[0].unread_count, 1);
    a.close();
  });

  t.test('after=0 pages forward from the start', async (t) => {
    const live = await shared();
    if (!live) return;
    const alice = await live.user('alice');
    const id = await room(live, alice.token);
    for (let i = 1; i <= 5; i++) await post(live, alice.token, `/rooms/${id}/messages`, `m${i}`);
    const seqs = (r: { body: { messages: { seq: number }[] } }) => r.body.messages.map((m) => m.seq);
    let page = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages?after=0&limit=2`, { token: alice.token });
    t.equal(page.status, 200);
    t.same(seqs(page), [1, 2]);
    t.equal(page.body.has_more, true);
    page = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages?after=${page.body.next_cursor}&limit=2`, { token: alice.token });
    t.same(seqs(page), [3, 4]);
    page = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages?after=${page.body.next_cursor}&limit=2`, { token: alice.token });
    t.same(seqs(page), [5]);
    t.equal(page.body.has_more, false);
    t.equal(page.body.next_cursor, null);
    const a = await live.client(alice.token);
    const h = await a.ok('fetch_history', { conversation_id: id, after: 0, limit: 3 });
    t.same(h.messages.map((m: { seq: number }) => m.seq), [1, 2, 3]);
    t.equal(h.has_more, true);
    t.equal((await a.request('fetch_history', { conversation_id: id, before: 0 })).data.code, 'validation_failed', 'before=0 stays refused');
    a.close();
  });

  t.test('PATCH /rooms/:id: owner, room moderator, admin; members told', async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, mod, bob, dave] = [await live.user('alice'), await live.user('mod'), await live.user('bob'), await live.user('dave')];
    const root = await admin(live);
    const id = await room(live, alice.token, 'before');
    // Made moderator in the database before anything asks the room, so its actor loads the role.
    await live.node.store.pool.query(`INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'moderator')`, [id, mod.id]);
    const b = await live.client(bob.token);
    await b.ok('join_room', { room_id: id });
    const patch = (token: string, body: unknown, rid = id) => call(live.url, 'PATCH', `/api/v1/rooms/${rid}`, { token, body });

    const byMember = await patch(bob.token, { name: 'mine now' });
    t.equal(byMember.status, 403);
    t.equal(byMember.body.error.code, 'forbidden');
    t.equal((await patch(dave.token, { name: 'x' })).status, 403, 'an outsider');
    t.equal((await patch(alice.token, { name: 'x' }, id + 1_000_000)).status, 404, 'no such room');
    const dm = await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: bob.id } });
    t.equal((await patch(alice.token, { name: 'x' }, dm.body.conversation_id)).status, 404, "a DM's id");
    t.equal((await patch(alice.token, {})).body.error.code, 'validation_failed', 'nothing to update');
    t.equal((await patch(alice.token, { description: null })).body.error.code, 'validation_failed', 'null is absent: still nothing');
    t.equal((await patch(alice.token, { name: ' ' })).status, 400, 'a blank name');
    t.equal((await patch(alice.token, { max_members: 1 })).status, 400, 'max_members as POST /rooms');
    t.equal((await patch(alice.token, { owner_id: bob.id })).status, 400, 'an unknown field');

    const byOwner = await patch(alice.token, { name: 'after', description: 'new' });
    t.equal(byOwner.status, 200);
    t.match(byOwner.body, { id, name: 'after', description: 'new', type: 'public_room', is_public: true, owner_id: alice.id });
    const ev = await b.waitFor((f) => f.type === 'room_updated');
    t.same(ev.data, { room: byOwner.body }, 'the room as it is now, to the members');
    const byMod = await patch(mod.token, { description: 'by the moderator' });
    t.equal(byMod.status, 200);
    t.equal(byMod.body.name, 'after', 'what is not given stays');
    const byAdmin = await patch(root.token, { is_public: false, max_members: 50 });
    t.equal(byAdmin.status, 200);
    t.match(byAdmin.body, { type: 'private_room', is_public: false, max_members: 50, description: 'by the moderator' });
    await b.waitFor((f) => f.type === 'room_updated' && f.data.room.is_public === false);
    t.same(b.of('room_updated').map((f) => f.data.room.description), ['new', 'by the moderator', 'by the moderator'], 'one event per change');
    const got = await call(live.url, 'GET', `/api/v1/rooms/${id}`, { token: bob.token });
    t.same(got.body, byAdmin.body, 'GET /rooms/:id reads the change');
    t.equal((await call(live.url, 'GET', `/api/v1/rooms/${id}`, { token: dave.token })).status, 403, 'now private to an outsider');
    b.close();
  });

  t.test('DELETE /rooms/:id: owner or admin; members told and unsubscribed; then not_found', async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, mod, bob, dave] = [await live.user('alice'), await live.user('mod'), await live.user('bob'), await live.user('dave')];
    const root = await admin(live);
    const id = await room(live, alice.token, 'doomed');
    await live.node.store.pool.query(`INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'moderator')`, [id, mod.id]);
    const b1 = await live.client(bob.token);
    const b2 = await live.client(bob.token, { protocol: 'veza.msgpack' });
    const a1 = await live.client(alice.token);
    const d1 = await live.client(dave.token);
    await b1.ok('join_room', { room_id: id });
    await a1.ok('join_room', { room_id: id });
    const m = await a1.ok('send_message', { room_id: id, content: 'last words' });
    await b1.waitFor((f) => f.type === 'message' && f.data.id === m.id);
    await b1.ok('mark_read', { conversation_id: id, message_id: m.id });
    const del = (token: string, rid = id) => call(live.url, 'DELETE', `/api/v1/rooms/${rid}`, { token });

    for (const [who, u] of [['a member', bob], ['a room moderator', mod], ['an outsider', dave]] as const) {
      const r = await del(u.token);
      t.equal(r.status, 403, who);
      t.equal(r.body.error.code, 'forbidden', who);
    }
    t.equal((await del(alice.token, id + 1_000_000)).status, 404, 'no such room');

    const gone = await del(alice.token);
    t.equal(gone.status, 204, 'the owner deletes it');
    for (const c of [b1, b2, a1]) t.same((await c.waitFor((f) => f.type === 'room_deleted')).data, { room_id: id }, 'members told, joined on that socket or not');
    await settled(d1, id);
    t.same(d1.of('room_deleted'), [], 'not an outsider');

    const after = await b1.request('send_message', { room_id: id, content: 'too late' });
    t.equal(after.data.code, 'not_found', 'a message sent afterwards: not_found');
    t.equal((await b1.request('fetch_history', { conversation_id: id })).data.code, 'not_found', 'the history is gone');
    t.equal((await b1.request('join_room', { room_id: id })).data.code, 'not_found');
    t.equal((await b1.request('mark_read', { conversation_id: id, message_id: m.id })).data.code, 'not_found');
    t.equal((await call(live.url, 'GET', `/api/v1/rooms/${id}`, { token: alice.token })).status, 404);
    t.equal((await call(live.url, 'GET', `/api/v1/rooms/${id}/messages`, { token: root.token })).status, 404, 'not even for an admin');
    t.equal(await unreadIn(live, alice.token, id), undefined, 'no longer listed');
    const rows = await live.node.store.pool.query('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [id]);
    t.equal(rows.rows[0].n, 0, 'no message row left');
    t.equal((await del(alice.token)).status, 404, 'deleting again');
    await Promise.all([settled(b1, id), settled(b2, id)]);
    t.same([...b1.of('room_deleted'), ...b2.of('room_deleted')].length, 2, 'told once per socket');

    // An admin may delete a room of someone else's; the room's owner on another socket hears it.
    const other = await room(live, alice.token, 'also doomed');
    await a1.ok('join_room', { room_id: other });
    t.equal((await del(root.token, other)).status, 204, 'an admin deletes it');
    t.same((await a1.waitFor((f) => f.type === 'room_deleted' && f.data.room_id === other)).data, { room_id: other });
    for (const c of [a1, b1, b2, d1]) c.close();
  });

  t.test('DELETE /rooms/:id with sends in flight: each is stored then deleted, or refused; no row outlives the room', async (t) => {
    // A node of its own whose group commit waits 400 ms: the sends are still uncommitted when the
    // DELETE reaches the room, which must wait for them (else their rows would land after it).
    const live = await startLive(t, backend, { runtime: { commitWindowMs: 400 } });
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const id = await room(live, alice.token, 'busy');
    const a = await live.client(alice.token);
    const b = await live.client(bob.token);
    await a.ok('join_room', { room_id: id });
    await b.ok('join_room', { room_id: id });
    const sends = Array.from({ length: 20 }, (_, i) => a.request('send_message', { room_id: id, content: `m${i}` }));
    await new Promise((r) => setTimeout(r, 50)); // the sends reach the room first
    const gone = await call(live.url, 'DELETE', `/api/v1/rooms/${id}`, { token: alice.token });
    t.equal(gone.status, 204);
    const replies = await Promise.all(sends);
    t.ok(replies.some((r) => r.type === 'ack'), 'some sends were accepted before the DELETE');
    const acked = replies.filter((r) => r.type === 'ack');
    t.ok(replies.every((r) => r.type === 'ack' || r.data.code === 'not_found'), `acked (${acked.length} of 20), or not_found once the room is gone`);
    await b.waitFor((f) => f.type === 'room_deleted');
    const events = b.frames.filter((f) => f.type === 'message' || f.type === 'room_deleted').map((f) => f.type);
    t.equal(events[events.length - 1], 'room_deleted', 'every acked message was delivered before the room went');
    t.equal(b.of('message').length, acked.length, 'each acked message once');
    const rows = await live.node.store.pool.query('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [id]);
    t.equal(rows.rows[0].n, 0, 'no message row left behind');
    a.close();
    b.close();
  });
}

for (const backend of ['pglite', 'postgres'] as const) {
  t.test(backend, async (t) => suite(t, backend));
}
