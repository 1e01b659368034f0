/**
 * A socket's subscription to a room lasts as long as the socket and its membership, whatever
 * happens to the room's actor or the order the client pipelines its frames in (both found by a
 * black-box test against PROTOCOL.md): a room idle past its passivation time kept delivering to
 * nobody, and a join pipelined behind a leave was acked to a socket that then heard nothing.
 */
import t, { type Test } from 'tap';
import { call } from './helpers/http.js';
import { startLive, type Backend } from './helpers/live.js';

for (const backend of ['pglite', 'postgres'] as Backend[]) {
  t.test(`${backend}: subscriptions outlive idleness and pipelined leave/join`, async (t: Test) => {
    const live = await startLive(t, backend, { runtime: { passivateAfterMs: 200 }, limits: { perMinute: { join_room: 1000 } } });
    if (!live) return;
    const [alice, bob] = [await live.user('alice'), await live.user('bob')];
    const r = await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name: 'quiet' } });
    const id = r.body.id as number;
    const post = async (content: string) => (await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: alice.token, body: { content } })).body.seq as number;

    const b = await live.client(bob.token);
    await b.ok('join_room', { room_id: id });
    const s1 = await post('one');
    await b.waitFor((f) => f.type === 'message' && f.data.seq === s1);
    // Idle for several passivation times: the room's actor must stay, its subscribers with it.
    await new Promise((res) => setTimeout(res, 1000));
    const s2 = await post('two');
    await b.waitFor((f) => f.type === 'message' && f.data.seq === s2, 5000);
    t.pass('a subscriber of a room idle past its passivation time still gets its messages');

    // leave and join pipelined, without waiting: the join cannot race the leave.
    for (let i = 0; i < 5; i++) {
      const replies = Promise.all([b.request('leave_room', { room_id: id }), b.request('join_room', { room_id: id })]);
      const [left, joined] = await replies;
      t.equal(left.type, 'ack', 'the leave is acked');
      if (joined.type === 'error') {
        t.equal(joined.data.code, 'conflict', 'a join racing the leave is refused, not half done');
        await b.ok('join_room', { room_id: id });
      }
      const s = await post(`again ${i}`);
      await b.waitFor((f) => f.type === 'message' && f.data.seq === s, 5000);
    }
    t.pass('after every pipelined leave and join, the member hears the room');
    b.close();
  });
}

t.test('pglite: a member who came online while the room slept is listed online', async (t: Test) => {
  const live = await startLive(t, 'pglite', { runtime: { passivateAfterMs: 200 } });
  if (!live) return;
  const [alice, bob] = [await live.user('alice'), await live.user('bob')];
  const r = await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name: 'asleep' } });
  const id = r.body.id as number;
  t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: bob.token })).status < 300, true);
  // Nobody listens and nobody is online: the room's actor passivates, and bob's presence, told
  // only to active rooms, does not wake it.
  await new Promise((res) => setTimeout(res, 800));
  const b = await live.client(bob.token);
  await new Promise((res) => setTimeout(res, 300));
  const members = await call(live.url, 'GET', `/api/v1/rooms/${id}/members`, { token: alice.token });
  t.equal(members.status, 200);
  t.match(members.body.members.find((m: { user_id: number }) => m.user_id === bob.id), { status: 'online' }, 'asked of his UserActor');
  t.match(members.body.members.find((m: { user_id: number }) => m.user_id === alice.id), { status: 'offline' });
  b.close();
});
