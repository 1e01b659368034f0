/**
 * Black-box findings on the chat features (issue 16), each checked end to end as a client that has
 * only the contract sees it: real node, real WebSocket clients and REST, both backends.
 */
import t, { type Test } from 'tap';
import { call } from './helpers/http.js';
import { room, startLive, type Backend } from './helpers/live.js';

for (const backend of ['pglite', 'postgres'] as Backend[]) {
  t.test(`${backend}: threads and reactions as a client reads them`, async (t: Test) => {
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
      for (let i = 0; i < 8; i++) await c.ok('send_message', { room_id: id, content: 'me too', parent_id: parent.id });
    }));
    done = true;
    await Promise.all(readers);
    t.same(short, [], `the parent counts every reply of its page (${reads} reads)`);
    t.equal((await thread('?limit=100')).body.parent.thread_count, 35, 'and, once quiet, exactly');

    // Reactions are listed in one order on every read path: the window (a recent message, GET) and
    // the store (fetch_history with a cursor reads it). Alice's 🅰️ goes, Bob's stays: 🅰️ now
    // dates from Bob's, after his 🅱️.
    const [a1, a2, b1] = [clients[0]!, clients[1]!, clients[2]!];
    const listed = async (messageId: number) => {
      const got = await call(live.url, 'GET', `/api/v1/messages/${messageId}`, { token: bob.token });
      const hist = await b1.ok('fetch_history', { conversation_id: id, after: messageId - 1, limit: 1 });
      return { window: got.body.reactions.map((r: any) => r.emoji), store: hist.messages[0].reactions.map((r: any) => r.emoji) };
    };
    const m = await a1.ok('send_message', { room_id: id, content: 'react' });
    await a1.ok('add_reaction', { message_id: m.id, emoji: '🅰️' });
    await b1.ok('add_reaction', { message_id: m.id, emoji: '🅱️' });
    await b1.ok('add_reaction', { message_id: m.id, emoji: '🅰️' });
    await a1.ok('remove_reaction', { message_id: m.id, emoji: '🅰️' });
    t.same(await listed(m.id), { window: ['🅱️', '🅰️'], store: ['🅱️', '🅰️'] }, 'by the earliest reaction still there');
    // Reactions made at once share a group commit: they keep the order of their seqs in the store.
    const others = [await live.user('c'), await live.user('d'), await live.user('e')];
    for (const u of others) t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: u.token })).status, 200);
    const more = await Promise.all(others.map((u) => live.client(u.token)));
    const emojis = ['🦊', '🐝', '🐙', '🦁', '🐢', '🐸'];
    for (let round = 0; round < 2; round++) {
      const target = await a1.ok('send_message', { room_id: id, content: `round ${round}` });
      const acks = await Promise.all([a1, a2, b1, ...more].map((c, i) => c.ok('add_reaction', { message_id: target.id, emoji: emojis[i] })));
      const bySeq = acks.map((ack, i) => [ack.seq, emojis[i]] as const).sort((x, y) => x[0] - y[0]).map((x) => x[1]);
      t.same(await listed(target.id), { window: bySeq, store: bySeq }, `round ${round}: in the order they were made`);
    }

    // A tombstone takes no replies, also from replies that race its delete: a reply is stored
    // before the delete (a lower seq, counted) or refused, never sequenced after it. So for an
    // edit or a reaction racing it: done before it, or `not_found` (not an ack that says nothing
    // changed, as if the edit had been a no-op).
    const late: string[] = [];
    for (let round = 0; round < 6; round++) {
      const p = await a1.ok('send_message', { room_id: id, content: `parent ${round}` });
      const [r1, del, r2, r3, edit, react] = await Promise.all([
        b1.request('send_message', { room_id: id, content: 'reply', parent_id: p.id }),
        a1.ok('delete_message', { message_id: p.id }),
        call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: bob.token, body: { content: 'reply', parent_message_id: p.id } }),
        more[0]!.request('send_message', { room_id: id, content: 'reply', parent_id: p.id }),
        a2.request('edit_message', { message_id: p.id, content: 'edited' }),
        more[1]!.request('add_reaction', { message_id: p.id, emoji: '👍' }),
      ]);
      for (const [what, r] of [['edit', edit], ['reaction', react]] as const) {
        const fine = r.type === 'ack' ? r.data.changed === true && r.data.seq < del.seq : r.data.code === 'not_found';
        if (!fine) late.push(`round ${round}: ${what} answered ${JSON.stringify(r.data)}, the delete at ${del.seq}`);
      }
      const stored = [r1.type === 'ack' ? r1.data.seq : null, r2.status === 201 ? r2.body.seq : null, r3.type === 'ack' ? r3.data.seq : null];
      for (const seq of stored) if (seq !== null && seq > del.seq) late.push(`round ${round}: reply at seq ${seq}, its parent deleted at ${del.seq}`);
      const refused = [r1.type === 'error' ? r1.data.code : null, r2.status === 201 ? null : r2.body.error.code, r3.type === 'error' ? r3.data.code : null];
      for (const code of refused) if (code !== null && code !== 'not_found') late.push(`round ${round}: refused with ${code}`);
      const count = (await call(live.url, 'GET', `/api/v1/messages/${p.id}`, { token: bob.token })).body.thread_count;
      if (count !== stored.filter((x) => x !== null).length) late.push(`round ${round}: thread_count ${count}`);
    }
    t.same(late, [], 'no reply, edit or reaction lands after the delete, nor is acked as a no-op');

    // A socket gets a conversation's events in seq order, also when a send that waited for a
    // check (a reply to a parent outside the window, a mention) shares a commit with the plain
    // message sent right after it. Fired without waiting, as a client that types fast does.
    const old = (await a1.ok('send_message', { room_id: id, content: 'an old parent' })).id;
    for (let i = 0; i < 6; i++) await a1.ok('send_message', { room_id: id, content: `push it out ${i}` });
    const watcher = await live.client(bob.token);
    await watcher.ok('join_room', { room_id: id });
    const burst: Promise<any>[] = [];
    for (let i = 0; i < 30; i++) {
      const checked = i % 2 === 0 ? { content: `@${bob.username} ${i}` } : { content: `re ${i}`, parent_id: old };
      burst.push(a2.ok('send_message', { room_id: id, ...checked }), a2.ok('send_message', { room_id: id, content: `plain ${i}` }));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const last = Math.max(...(await Promise.all(burst)).map((ack) => ack.seq));
    await watcher.waitFor((f) => f.type === 'message' && f.data.seq === last);
    const seen = watcher.of('message').map((f) => f.data.seq);
    t.same(seen, [...seen].sort((x, y) => x - y), `${seen.length} messages, in seq order`);
    t.equal(seen.length, 60);
    watcher.close();
    for (const c of [...clients, ...more]) c.close();
  });
}
