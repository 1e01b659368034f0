/**
 * Threads and mentions end to end, on each backend: a real node, real WebSocket clients and REST.
 * The node keeps a small recent window (20 messages), so a thread's parent is met both in the
 * RoomActor's window and only in the store, and history is answered from both.
 */
import t, { type Test } from 'tap';
import { call } from './helpers/http.js';
import { startLive, type Backend, type Live, type TestClient, type TestUser } from './helpers/live.js';

const WINDOW = 20;

async function room(live: Live, token: string, name: string, isPublic = true): Promise<number> {
  const r = await call(live.url, 'POST', '/api/v1/rooms', { token, body: { name, is_public: isPublic } });
  if (r.status !== 201) throw new Error(`create room: ${r.status} ${r.text}`);
  return r.body.id;
}

async function join(live: Live, roomId: number, ...users: TestUser[]): Promise<void> {
  for (const u of users) {
    const r = await call(live.url, 'POST', `/api/v1/rooms/${roomId}/join`, { token: u.token });
    if (r.status !== 200) throw new Error(`join: ${r.status} ${r.text}`);
  }
}

const get = (live: Live, user: TestUser, path: string) => call(live.url, 'GET', `/api/v1${path}`, { token: user.token });

/** Every reply of a thread, paging backward with `limit`, oldest first. */
async function wholeThread(live: Live, user: TestUser, parentId: number, limit: number): Promise<number[]> {
  const pages: number[][] = [];
  let before: number | null = null;
  for (;;) {
    const r = await get(live, user, `/messages/${parentId}/thread?limit=${limit}${before === null ? '' : `&before=${before}`}`);
    if (r.status !== 200) throw new Error(`thread: ${r.status} ${r.text}`);
    pages.unshift(r.body.messages.map((m: { id: number }) => m.id));
    if (!r.body.has_more) return pages.flat();
    before = r.body.next_cursor;
  }
}

function suite(t: Test, backend: Backend): void {
  let node: Promise<Live | null> | undefined;
  const shared = () =>
    (node ??= startLive(t, backend, { runtime: { recentWindow: WINDOW }, limits: { perMinute: { send_message: 10_000 } } }));

  t.test(`${backend}: replies in a room and a DM, over WebSocket and REST; GET /messages/:id`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob, carol] = [await live.user('alice'), await live.user('bob'), await live.user('carol')];
    const id = await room(live, alice.token, 'threads', false);
    await join(live, id, alice);
    const a = await live.client(alice.token);
    await a.ok('join_room', { room_id: id });
    const parent = await a.ok('send_message', { room_id: id, content: 'the parent' });
    const ws = await a.ok('send_message', { room_id: id, content: 'a reply', parent_id: parent.id });
    const event = await a.waitFor((f) => f.type === 'message' && f.data.id === ws.id);
    t.match(event.data, { parent_message_id: parent.id, thread_count: 0 }, 'the reply\'s event names its parent');
    const rest = await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: alice.token, body: { content: 'over REST', parent_message_id: parent.id } });
    t.equal(rest.status, 201);
    t.equal(rest.body.parent_message_id, parent.id);

    const one = await get(live, alice, `/messages/${parent.id}`);
    t.equal(one.status, 200);
    t.match(one.body, { id: parent.id, conversation_id: id, room_id: id, content: 'the parent', thread_count: 2 }, 'GET /messages/:id: the exact count');
    t.same(Object.keys(one.body), Object.keys(event.data), 'the message object, as events carry it');
    t.equal((await get(live, carol, `/messages/${parent.id}`)).status, 404, 'a private room\'s message is not found for a non-member');
    t.equal((await get(live, carol, `/messages/${parent.id}/thread`)).body.error.code, 'not_found', 'nor its thread');
    t.equal((await get(live, alice, '/messages/999999999')).status, 404, 'an unknown message');
    t.equal((await get(live, alice, '/messages/0')).status, 400, 'a bad id');

    // A DM: the same, for its two users only.
    const dm = (await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: bob.id } })).body.conversation_id;
    const b = await live.client(bob.token);
    const dmParent = await b.ok('send_dm', { conversation_id: dm, content: 'dm parent' });
    const dmReply = await a.ok('send_dm', { conversation_id: dm, content: 'dm reply', parent_id: dmParent.id });
    const seen = await b.waitFor((f) => f.type === 'message' && f.data.id === dmReply.id);
    t.equal(seen.data.parent_message_id, dmParent.id, 'the peer sees the reply with its parent');
    const dmRest = await call(live.url, 'POST', `/api/v1/dm/${dm}/messages`, { token: bob.token, body: { content: 'dm rest reply', parent_message_id: dmParent.id } });
    t.equal(dmRest.status, 201);
    t.equal((await get(live, bob, `/messages/${dmParent.id}`)).body.thread_count, 2);
    const dmThread = await get(live, alice, `/messages/${dmParent.id}/thread`);
    t.same(dmThread.body.messages.map((m: { id: number }) => m.id), [dmReply.id, dmRest.body.id]);
    t.notOk('room_id' in dmThread.body.parent, 'a DM message has no room_id');
    t.equal((await get(live, carol, `/messages/${dmParent.id}`)).status, 404, 'a DM\'s message is not found for a third user');
    a.close();
    b.close();
  });

  t.test(`${backend}: a parent of another conversation, or none, is refused; nothing stored or broadcast`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const r1 = await room(live, alice.token, 'one');
    const r2 = await room(live, alice.token, 'two');
    await join(live, r2, bob);
    const dm = (await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: bob.id } })).body.conversation_id;
    const a = await live.client(alice.token);
    const b = await live.client(bob.token);
    await b.ok('join_room', { room_id: r2 });
    const elsewhere = await a.ok('send_message', { room_id: r1, content: 'in room one' });
    const dmMessage = await a.ok('send_dm', { conversation_id: dm, content: 'in the dm' });
    const first = await a.ok('send_message', { room_id: r2, content: 'first of two' });

    const refusals = [
      await a.request('send_message', { room_id: r2, content: 'bad 1', parent_id: elsewhere.id }),
      await a.request('send_message', { room_id: r2, content: 'bad 2', parent_id: dmMessage.id }),
      await a.request('send_message', { room_id: r2, content: 'bad 3', parent_id: 999_999_999 }),
      await a.request('send_dm', { conversation_id: dm, content: 'bad 4', parent_id: first.id }),
    ];
    for (const r of refusals) {
      t.equal(r.type, 'error');
      t.equal(r.data.code, 'not_found', 'not_found, as the contract says');
      t.same(r.data.details, [{ path: 'parent_message_id', message: 'parent message not found in this conversation' }]);
    }
    const rest = await call(live.url, 'POST', `/api/v1/rooms/${r2}/messages`, { token: alice.token, body: { content: 'bad 5', parent_message_id: elsewhere.id } });
    t.equal(rest.status, 404);
    t.equal(rest.body.error.code, 'not_found');

    // The next message takes the next seq: nothing was stored; the subscriber saw no refused one.
    const next = await a.ok('send_message', { room_id: r2, content: 'second of two' });
    t.equal(next.seq, first.seq + 1, 'no seq was taken by a refused reply');

    // A deleted message takes no replies; it reads as its tombstone.
    const gone = await a.ok('send_message', { room_id: r1, content: 'to be deleted' });
    t.equal((await call(live.url, 'DELETE', `/api/v1/messages/${gone.id}`, { token: alice.token })).status, 200);
    const late = await a.request('send_message', { room_id: r1, content: 'too late', parent_id: gone.id });
    t.equal(late.data.code, 'not_found', 'a deleted parent is refused');
    t.match((await get(live, alice, `/messages/${gone.id}`)).body, { id: gone.id, is_deleted: true, content: '', thread_count: 0 }, 'GET: the tombstone');
    await b.waitFor((f) => f.type === 'message' && f.data.id === next.id);
    t.same(b.of('message').filter((f) => f.data.conversation_id === r2).map((f) => f.data.content), ['first of two', 'second of two']);
    const hist = await get(live, alice, `/rooms/${r2}/messages`);
    t.same(hist.body.messages.map((m: { content: string }) => m.content), ['first of two', 'second of two'], 'nothing stored');
    t.equal((await get(live, alice, `/messages/${elsewhere.id}`)).body.thread_count, 0, 'no parent was counted');
    t.equal((await get(live, alice, `/messages/${dmMessage.id}`)).body.thread_count, 0);
    a.close();
    b.close();
  });

  t.test(`${backend}: concurrent replies give an exact thread_count everywhere`, async (t) => {
    const live = await shared();
    if (!live) return;
    const users = [await live.user('owner')];
    for (let i = 0; i < 4; i++) users.push(await live.user(`r${i}`));
    const id = await room(live, users[0]!.token, 'busy');
    await join(live, id, ...users.slice(1));
    const clients: TestClient[] = [];
    for (const u of users) {
      const c = await live.client(u.token);
      await c.ok('join_room', { room_id: id });
      clients.push(c);
    }
    const watcher = clients[0]!;

    // A parent that stays in the window: its window copy must follow the store.
    const near = await watcher.ok('send_message', { room_id: id, content: 'near parent' });
    const nearReplies = await Promise.all(
      Array.from({ length: 15 }, (_, i) => clients[i % clients.length]!.ok('send_message', { room_id: id, content: `near ${i}`, parent_id: near.id })),
    );
    t.equal(nearReplies.length, 15);
    const fromWindow = await watcher.ok('fetch_history', { conversation_id: id, limit: 16 });
    t.equal(fromWindow.messages[0].id, near.id, 'the page starts at the parent');
    t.equal(fromWindow.messages[0].thread_count, 15, 'history from the window: the exact count');
    t.equal((await get(live, users[1]!, `/messages/${near.id}`)).body.thread_count, 15, 'GET /messages/:id from the window');
    const restWindow = await get(live, users[2]!, `/rooms/${id}/messages?limit=16`);
    t.equal(restWindow.body.messages[0].thread_count, 15, 'REST list from the window');

    // 50 replies from five clients at once, over WebSocket and REST: they share batches, and the
    // parent leaves the 20-message window while they commit.
    const parent = await watcher.ok('send_message', { room_id: id, content: 'busy parent' });
    const sends: Promise<number>[] = [];
    for (let i = 0; i < 50; i++) {
      const k = i % clients.length;
      if (i % 10 === 9) {
        sends.push(
          call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: users[k]!.token, body: { content: `rest ${i}`, parent_message_id: parent.id } }).then((r) => {
            if (r.status !== 201) throw new Error(`${r.status} ${r.text}`);
            return r.body.id as number;
          }),
        );
      } else {
        sends.push(clients[k]!.ok('send_message', { room_id: id, content: `ws ${i}`, parent_id: parent.id }).then((ack) => ack.id as number));
      }
    }
    const replyIds = (await Promise.all(sends)).sort((x, y) => x - y);
    t.equal(new Set(replyIds).size, 50, '50 replies stored');

    const one = await get(live, users[3]!, `/messages/${parent.id}`);
    t.equal(one.body.thread_count, 50, 'GET /messages/:id: 50');
    const fromStore = await watcher.ok('fetch_history', { conversation_id: id, after: near.id + 0, limit: 100 });
    const p = fromStore.messages.find((m: { id: number }) => m.id === parent.id);
    t.equal(p.thread_count, 50, 'history from the store (an after cursor): 50');
    t.equal(fromStore.messages.find((m: { id: number }) => m.id === near.id), undefined, 'after is exclusive');
    const restStore = await get(live, users[4]!, `/rooms/${id}/messages?after=${near.id}&limit=100`);
    t.equal(restStore.body.messages.find((m: { id: number }) => m.id === parent.id).thread_count, 50, 'REST list from the store: 50');
    const older = await watcher.ok('fetch_history', { conversation_id: id, before: replyIds[0], limit: 1 });
    t.same([older.messages[0].id, older.messages[0].thread_count], [parent.id, 50], 'history before the window: 50');
    t.equal((await get(live, users[0]!, `/messages/${near.id}`)).body.thread_count, 15, 'the first parent, now out of the window: still 15');

    // Every client saw the 50 reply events, each naming the parent.
    for (const c of clients) {
      await c.waitFor((f) => f.type === 'message' && f.data.id === replyIds[49]);
      t.equal(c.of('message').filter((f) => f.data.parent_message_id === parent.id).length, 50, 'fifty reply events, each naming the parent');
    }

    // One more reply to the parent, now out of the window: checked in the store, counted there.
    await clients[1]!.ok('send_message', { room_id: id, content: 'late reply', parent_id: parent.id });
    t.equal((await get(live, users[0]!, `/messages/${parent.id}`)).body.thread_count, 51);

    // The thread, by cursor: every reply once, oldest first, whatever the page size.
    const all = await wholeThread(live, users[2]!, parent.id, 20);
    t.equal(all.length, 51);
    t.same(all.slice(0, 50), replyIds, 'the 50, oldest first, then the late one');
    t.same(await wholeThread(live, users[2]!, parent.id, 7), all, 'smaller pages, the same thread');
    const page = await get(live, users[2]!, `/messages/${parent.id}/thread?limit=20`);
    t.same(Object.keys(page.body), ['parent', 'messages', 'has_more', 'next_cursor']);
    t.same([page.body.parent.id, page.body.parent.thread_count, page.body.has_more, page.body.next_cursor], [parent.id, 51, true, all[31]]);
    const forward = await get(live, users[2]!, `/messages/${parent.id}/thread?after=${all[9]}&limit=5`);
    t.same([forward.body.messages.map((m: { id: number }) => m.id), forward.body.has_more, forward.body.next_cursor], [all.slice(10, 15), true, all[14]], 'forward with after');
    const both = await get(live, users[2]!, `/messages/${parent.id}/thread?after=1&before=2`);
    t.equal(both.status, 400, 'not both cursors');
    const none = await get(live, users[2]!, `/messages/${replyIds[0]}/thread`);
    t.same([none.body.messages, none.body.has_more, none.body.next_cursor], [[], false, null], 'a message without replies: an empty thread');
    for (const c of clients) c.close();
  });

  t.test(`${backend}: mentions resolve to users who can see the conversation`, async (t) => {
    const live = await shared();
    if (!live) return;
    const [alice, bob, carol, dave] = [await live.user('alice'), await live.user('bob'), await live.user('carol'), await live.user('dave')];
    const priv = await room(live, alice.token, 'private', false);
    await call(live.url, 'POST', `/api/v1/rooms/${priv}/join`, { token: bob.token }); // refused: private
    const pub = await room(live, alice.token, 'public');
    await join(live, pub, bob);
    const dm = (await call(live.url, 'POST', '/api/v1/dm', { token: alice.token, body: { user_id: bob.id } })).body.conversation_id;
    const a = await live.client(alice.token);
    await a.ok('join_room', { room_id: pub });
    const upper = (u: TestUser) => u.username.toUpperCase();
    const post = async (path: string, content: string, metadata?: Record<string, unknown>) => {
      const r = await call(live.url, 'POST', `/api/v1${path}`, { token: alice.token, body: { content, ...(metadata ? { metadata } : {}) } });
      if (r.status !== 201) throw new Error(`${r.status} ${r.text}`);
      return r.body.metadata as Record<string, unknown>;
    };

    // A public room: members, and anyone (anyone may read it); unknown names are ignored.
    t.same(
      await post(`/rooms/${pub}/messages`, `hi @${upper(bob)} and @${alice.username}, @${carol.username}. @nobody_${bob.username} mail ${dave.username}@example.com`),
      { mentions: [bob.id, alice.id, carol.id] },
      'case-insensitive, in order, trailing dot trimmed, an address is no mention',
    );
    // A private room: members only.
    t.same(await post(`/rooms/${priv}/messages`, `@${bob.username} @${alice.username}`), { mentions: [alice.id] }, 'a non-member of a private room is not mentioned');
    // A DM: its two users.
    t.same(await post(`/dm/${dm}/messages`, `@${carol.username} @${bob.username}`), { mentions: [bob.id] }, 'a DM: only its users');
    t.same(await post(`/dm/${dm}/messages`, `@${carol.username} only`), {}, 'nobody who can see it: no mentions key');

    // Forged mentions are the server's to write.
    t.same(await post(`/rooms/${pub}/messages`, 'no at sign', { mentions: [carol.id, 999], lang: 'en' }), { lang: 'en' }, 'a forged list without @ is removed');
    t.same(await post(`/rooms/${pub}/messages`, `cc @${bob.username}`, { mentions: [999], lang: 'en' }), { lang: 'en', mentions: [bob.id] }, 'and replaced with the resolved one');

    // At most 20 names are looked at: a 21st is ignored.
    const filler = Array.from({ length: 20 }, (_, i) => `@nobody${i}`).join(' ');
    t.same(await post(`/rooms/${pub}/messages`, `${filler} @${bob.username}`), {}, 'the 21st name is past the bound');

    // A message that waits for a lookup (an unknown name always asks the store) is not overtaken
    // by the author's next one: seqs follow the order of sending.
    const order = [];
    for (let i = 0; i < 5; i++) {
      order.push(a.request('send_message', { room_id: pub, content: `@nobody_${i}_${bob.username} first ${i}` }));
      order.push(a.request('send_message', { room_id: pub, content: `plain ${i}` }));
    }
    const seqs = (await Promise.all(order)).map((f) => f.data.seq as number);
    t.same(seqs, [...seqs].sort((x, y) => x - y), 'seqs in the order sent');

    // Over WebSocket: the event carries them, the stored message too.
    const ack = await a.ok('send_message', { room_id: pub, content: `@${bob.username} over ws`, metadata: { mentions: 'forged' } });
    const ev = await a.waitFor((f) => f.type === 'message' && f.data.id === ack.id);
    t.same(ev.data.metadata, { mentions: [bob.id] });
    t.same((await get(live, bob, `/messages/${ack.id}`)).body.metadata, { mentions: [bob.id] });
    a.close();
  });
}

suite(t, 'pglite');
suite(t, 'postgres');
