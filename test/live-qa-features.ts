/**
 * Black-box findings on the chat features (issue 16), each checked end to end as a client that has
 * only the contract sees it: real node, real WebSocket clients and REST, both backends.
 */
import t, { type Test } from 'tap';
import { call } from './helpers/http.js';
import { room, startLive, type Backend } from './helpers/live.js';

for (const backend of ['pglite', 'postgres'] as Backend[]) {
  t.test(`${backend}: threads as a client reads them`, async (t: Test) => {
    // A window of 5 messages: a parent with a few replies is soon read from the store.
    const live = await startLive(t, backend, { runtime: { recentWindow: 5 }, limits: { perMinute: { send_message: 100_000 } } });
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const id = await room(live, alice.token);
    const clients = [await live.client(alice.token), await live.client(alice.token), await live.client(bob.token), await live.client(bob.token)];
    for (const c of clients) await c.ok('join_room', { room_id: id });
    const parent = await clients[0]!.ok('send_message', { room_id: id, content: 'Who is coming on Friday?' });
    const thread = (query: string) => call(live.url, 'GET', `/api/v1/messages/${parent.id}/thread${query}`, { token: bob.token });

    // `after=0` pages a thread forward from its first reply, as it does every other message list.
    for (let i = 0; i < 3; i++) await clients[2]!.ok('send_message', { room_id: id, content: `reply ${i}`, parent_id: parent.id });
    const first = await thread('?after=0&limit=2');
    t.equal(first.status, 200, 'after=0 is accepted');
    t.same(first.body.messages?.map((m: any) => m.content), ['reply 0', 'reply 1'], 'from the first reply');
    t.equal(first.body.has_more, true);
    const next = await thread(`?after=${first.body.next_cursor}&limit=2`);
    t.same(next.body.messages?.map((m: any) => m.content), ['reply 2'], 'then the rest');

    // The parent is read after the page, so it counts at least every reply the page holds, also
    // when it has left the window and comes from the store, while replies keep arriving.
    for (let i = 0; i < 10; i++) await clients[0]!.ok('send_message', { room_id: id, content: `filler ${i}` });
    let done = false;
    let reads = 0;
    const short: string[] = [];
    const readers = Array.from({ length: 3 }, async () => {
      while (!done) {
        const r = await thread('?limit=100');
        reads++;
        if (r.body.messages.length > r.body.parent.thread_count) short.push(`${r.body.messages.length} replies, thread_count ${r.body.parent.thread_count}`);
      }
    });
    await Promise.all(clients.map(async (c) => {
      for (let i = 0; i < 12; i++) await c.ok('send_message', { room_id: id, content: 'me too', parent_id: parent.id });
    }));
    done = true;
    await Promise.all(readers);
    t.same(short, [], `the parent counts every reply of its page (${reads} reads)`);
    t.equal((await thread('?limit=100')).body.parent.thread_count, 51, 'and, once quiet, exactly');
    for (const c of clients) c.close();
  });
}
