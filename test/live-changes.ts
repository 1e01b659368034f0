/**
 * Edits, deletes, reactions and pins end to end, on both backends: real node, real WebSocket
 * clients and REST. Each change takes the conversation's next seq, reaches every member once,
 * shows in history, and `resume` replays it in order with the messages.
 */
import t, { type Test } from 'tap';
import { call } from './helpers/http.js';
import { room, startLive, type Backend, type Live, type TestClient } from './helpers/live.js';

const seqd = (c: TestClient, id: number) => c.frames.filter((f) => f.data?.conversation_id === id && typeof f.data?.seq === 'number' && f.type !== 'ack');

for (const backend of ['pglite', 'postgres'] as Backend[]) {
  t.test(`${backend}: edits, deletes, reactions and pins`, async (t: Test) => {
    const live = await startLive(t, backend);
    if (!live) return;
    const [owner, author, member, outsider] = [await live.user('owner'), await live.user('author'), await live.user('member'), await live.user('out')];
    const id = await room(live, owner.token);
    const o = await live.client(owner.token);
    const a = await live.client(author.token, { protocol: 'veza.msgpack' });
    const m = await live.client(member.token);
    const x = await live.client(outsider.token);
    for (const c of [o, a, m]) await c.ok('join_room', { room_id: id });
    const first = await a.ok('send_message', { room_id: id, content: 'helo' });
    const second = await m.ok('send_message', { room_id: id, content: 'by member' });

    // Edit: the author only.
    const edited = await a.ok('edit_message', { message_id: first.id, content: 'hello' });
    t.match(edited, { conversation_id: id, message_id: first.id, changed: true, seq: 3 });
    for (const c of [o, a, m]) {
      const ev = await c.waitFor((f) => f.type === 'message_edited');
      t.match(ev.data, { conversation_id: id, room_id: id, seq: 3, message_id: first.id, content: 'hello', is_edited: true, edit_count: 1, edited_at: String });
    }
    t.equal((await m.request('edit_message', { message_id: first.id, content: 'mine now' })).data.code, 'forbidden', "a member cannot edit another's message");
    t.equal((await x.request('edit_message', { message_id: first.id, content: 'x' })).data.code, 'forbidden', 'an outsider cannot either');
    t.equal((await a.request('edit_message', { message_id: 999_999_999, content: 'x' })).data.code, 'not_found', 'an unknown message');
    const rest = await call(live.url, 'PATCH', `/api/v1/messages/${first.id}`, { token: author.token, body: { content: 'hello!' } });
    t.equal(rest.status, 200, 'PATCH /messages/:id');
    t.match(rest.body, { changed: true, seq: 4 });

    // Reactions: one per user, emoji and message; a second add changes nothing.
    t.match(await m.ok('add_reaction', { message_id: first.id, emoji: '👍🏽' }), { changed: true, seq: 5 });
    t.match(await m.ok('add_reaction', { message_id: first.id, emoji: '👍🏽' }), { changed: false, seq: null }, 'again: nothing changes');
    t.match(await o.ok('add_reaction', { message_id: first.id, emoji: '👍🏽' }), { changed: true, seq: 6 });
    t.match(await o.ok('add_reaction', { message_id: first.id, emoji: '👨‍👩‍👧‍👦' }), { changed: true, seq: 7 });
    for (const bad of ['a', ':+1:', '👍👍', '', 'x'.repeat(40)]) {
      t.equal((await m.request('add_reaction', { message_id: first.id, emoji: bad })).data.code, 'validation_failed', `not an emoji: ${JSON.stringify(bad)}`);
    }
    t.equal((await x.request('add_reaction', { message_id: first.id, emoji: '👍' })).data.code, 'forbidden', 'an outsider cannot react');
    const del = await call(live.url, 'DELETE', `/api/v1/messages/${first.id}/reactions/${encodeURIComponent('👨‍👩‍👧‍👦')}`, { token: owner.token });
    t.match(del.body, { changed: true, seq: 8 }, 'DELETE /messages/:id/reactions/:emoji');
    const hist = await m.ok('fetch_history', { conversation_id: id });
    const h1 = hist.messages.find((x: any) => x.id === first.id);
    t.match(h1, { content: 'hello!', is_edited: true, edit_count: 2, is_deleted: false });
    t.same(h1.reactions, [{ emoji: '👍🏽', count: 2, reacted: true }], 'per emoji, and whether the reader reacted');
    const asAuthor = (await call(live.url, 'GET', `/api/v1/rooms/${id}/messages`, { token: author.token })).body.messages.find((x: any) => x.id === first.id);
    t.same(asAuthor.reactions, [{ emoji: '👍🏽', count: 2, reacted: false }]);

    // Pins: the room's owner; not a plain member.
    t.equal((await m.request('pin_message', { room_id: id, message_id: second.id })).data.code, 'forbidden', 'a member cannot pin');
    t.match(await o.ok('pin_message', { room_id: id, message_id: second.id }), { changed: true, seq: 9 });
    const pins = await call(live.url, 'GET', `/api/v1/rooms/${id}/pins`, { token: member.token });
    t.same(pins.body.messages.map((x: any) => [x.id, x.is_pinned]), [[second.id, true]], 'GET /rooms/:id/pins');
    const unpin = await call(live.url, 'DELETE', `/api/v1/rooms/${id}/pins/${second.id}`, { token: owner.token });
    t.match(unpin.body, { changed: true, seq: 10 });

    // Deletes: the author, or the room's owner; not another member. The content goes everywhere.
    t.equal((await m.request('delete_message', { message_id: first.id })).data.code, 'forbidden', "a member cannot delete another's message");
    t.match(await o.ok('delete_message', { message_id: second.id }), { changed: true, seq: 11 }, "the owner deletes a member's message");
    t.match(await a.ok('delete_message', { message_id: first.id }), { changed: true, seq: 12 }, 'the author deletes their own');
    t.equal((await a.request('edit_message', { message_id: first.id, content: 'back' })).data.code, 'not_found', 'a deleted message cannot be edited');
    for (const c of [o, a, m]) await c.waitFor((f) => f.type === 'message_deleted' && f.data.seq === 12);
    const after = await m.ok('fetch_history', { conversation_id: id });
    t.match(after.messages.find((x: any) => x.id === first.id), { content: '', is_deleted: true, reactions: [] }, 'a tombstone in history');
    t.equal(after.messages.length, 2, 'the tombstones keep their place');

    // Every member got every change once, in seq order, and nothing reached the outsider.
    for (const c of [o, a, m]) {
      const seqs = seqd(c, id).map((f) => f.data.seq);
      t.same(seqs, Array.from({ length: 12 }, (_, i) => i + 1), 'seq 1..12, each once, in order');
    }
    t.equal(seqd(x, id).length, 0, 'the outsider saw nothing');

    // A fresh socket resumes from 0: every event, in order, with no deleted content anywhere.
    const r = await live.client(member.token);
    const ack = await r.ok('resume', { positions: { [id]: 0 } });
    t.match(ack.conversations, [{ conversation_id: id, recovered: true, from_seq: 1, to_seq: 12 }]);
    const replay = seqd(r, id);
    t.same(replay.map((f) => [f.type, f.data.seq]), [
      ['message', 1], ['message', 2], ['message_edited', 3], ['message_edited', 4], ['reaction_added', 5], ['reaction_added', 6],
      ['reaction_added', 7], ['reaction_removed', 8], ['message_pinned', 9], ['message_unpinned', 10], ['message_deleted', 11], ['message_deleted', 12],
    ]);
    t.notOk(JSON.stringify(replay).includes('hello'), 'the deleted message content is in no replayed event');
    for (const c of [o, a, m, x, r]) c.close();
  });

  t.test(`${backend}: a client away while 1,000 mixed changes happen resumes the missed range exactly, in order`, async (t: Test) => {
    // A window of 50: most of the range comes from the store, the end from the window.
    const live = await startLive(t, backend, { runtime: { recentWindow: 50 }, limits: { perMinute: { send_message: 100_000, edit_message: 100_000 } } });
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const id = await room(live, alice.token);
    const a = await live.client(alice.token);
    await a.ok('join_room', { room_id: id });
    const b1 = await live.client(bob.token);
    await b1.ok('join_room', { room_id: id });
    await a.ok('send_message', { room_id: id, content: 'before' });
    const position = 1;
    b1.close();
    const ids: number[] = [];
    const emojis = ['👍', '🎉', '❤️'];
    let changes = 0;
    for (let i = 0; changes < 1000; i++) {
      const k = i % 10;
      if (k < 6 || ids.length < 3) {
        ids.push((await a.ok('send_message', { room_id: id, content: `m${i}` })).id);
      } else if (k === 6) {
        await a.ok('edit_message', { message_id: ids[ids.length - 1]!, content: `e${i}` });
      } else if (k === 7) {
        await a.ok('delete_message', { message_id: ids.shift()! });
      } else {
        const r = await a.ok(k === 8 ? 'add_reaction' : 'remove_reaction', { message_id: ids[ids.length - 1]!, emoji: emojis[i % 3] });
        if (!r.changed) continue;
      }
      changes++;
    }
    const last = 1 + changes;
    const b2 = await live.client(bob.token);
    const ack = await b2.ok('resume', { positions: { [id]: position } });
    t.match(ack.conversations, [{ recovered: true, from_seq: 2, to_seq: last }]);
    const got = seqd(b2, id).map((f) => f.data.seq);
    t.same(got, Array.from({ length: last - 1 }, (_, i) => i + 2), `seq 2..${last}, each once, in order`);
    a.close();
    b2.close();
  });
}
