/**
 * UserActor's sessions: one connection is held without a Map, more go to one, and the actor is
 * kept alive (not passivated) while any session is open. Its presence: one status across all of
 * the user's connections, told to every conversation of the user, at most once per window.
 */
import t from 'tap';
import type { ChatContext } from '../src/actors/context.js';
import { UserActor } from '../src/actors/user.js';

interface Told {
  kind: string;
  id: number | string;
  msg: any;
}

/** A context whose store knows the user's conversations; it records what the actor tells. */
function recording(rooms: number[] = [], windowMs = 60_000, peers: number[] = []) {
  const told: Told[] = [];
  const posts: any[] = [];
  const touched: number[] = [];
  const ctx = {
    services: {
      config: { presence: { windowMs } },
      store: {
        listPresenceTargets: async (ids: number[]) => new Map(ids.map((id) => [id, { rooms: [...rooms], peers: [...peers] }])),
        touchUser: async (id: number) => void touched.push(id),
      },
      log: { warn: () => {} },
    },
    tell: (kind: string, id: number | string, msg: unknown) => void told.push({ kind, id, msg }),
    broadcast: (post: unknown) => void posts.push(post),
  } as unknown as ChatContext;
  const presence = () => told.filter((x) => x.msg.t === 'presence');
  return { ctx, told, touched, presence, posts };
}

const ctx = recording().ctx;

t.test('sessions: open, open, close in any order; online and keepAlive follow', async (t) => {
  const u = new UserActor(7, ctx);
  t.equal(u.online, false);
  t.equal(u.keepAlive(), false);
  u.receive({ t: 'session_opened', sessionId: 's1', front: 0 });
  t.equal(u.online, true);
  u.receive({ t: 'session_opened', sessionId: 's2', front: 1 });
  u.receive({ t: 'session_opened', sessionId: 's3', front: 0 });
  u.receive({ t: 'session_closed', sessionId: 's1' });
  t.equal(u.online, true, 'two left');
  u.receive({ t: 'session_closed', sessionId: 's3' });
  u.receive({ t: 'session_closed', sessionId: 'unknown' });
  t.equal(u.keepAlive(), true, 'one left');
  u.receive({ t: 'session_closed', sessionId: 's2' });
  t.equal(u.online, false);
  t.equal(u.keepAlive(), false, 'a user in no conversation opens no presence window');
  // Back to one session after many: the single-session path is used again.
  u.receive({ t: 'session_opened', sessionId: 's4', front: 0 });
  t.equal(u.online, true);
  u.receive({ t: 'session_closed', sessionId: 's4' });
  t.equal(u.online, false);
});

t.test('a duplicate close or a close of the first of two keeps the other', async (t) => {
  const u = new UserActor(8, ctx);
  u.receive({ t: 'session_opened', sessionId: 'a', front: 0 });
  u.receive({ t: 'session_closed', sessionId: 'a' });
  u.receive({ t: 'session_closed', sessionId: 'a' });
  t.equal(u.online, false);
  u.receive({ t: 'session_opened', sessionId: 'b', front: 0 });
  u.receive({ t: 'session_opened', sessionId: 'c', front: 0 });
  u.receive({ t: 'session_closed', sessionId: 'b' });
  t.equal(u.online, true, 'c is still open');
});

t.test('presence: online with the first connection, offline only with the last, to every conversation', async (t) => {
  const r = recording([10, 20]);
  const u = new UserActor(9, r.ctx);
  await u.receive({ t: 'session_opened', sessionId: 'a', front: 0 });
  t.same(r.presence().map((x) => [x.kind, x.id, x.msg.status]), [['room', 10, 'online'], ['room', 20, 'online']], 'told at once, every conversation');
  t.match(r.presence()[0]!.msg, { userId: 9, lastActivity: /^\d{4}-\d\d-\d\dT/ });
  await u.receive({ t: 'session_opened', sessionId: 'b', front: 1 });
  await u.receive({ t: 'session_closed', sessionId: 'a' });
  t.equal(r.presence().length, 2, 'a second connection and its close change nothing');
  await u.receive({ t: 'session_closed', sessionId: 'b' });
  t.equal(r.presence().length, 2, 'the last close, within the window of the first change, waits for its end');
  t.equal(u.keepAlive(), true, 'kept while its presence window is open');
  t.same(r.touched, [9], 'last_activity stored when the user goes offline');
  await u.receive({ t: 'presence_tick' });
  t.same(r.presence().slice(2).map((x) => x.msg.status), ['offline', 'offline'], 'offline at the end of the window');
  await u.receive({ t: 'presence_tick' });
  await u.receive({ t: 'session_opened', sessionId: 'c', front: 0 });
  t.equal(r.presence().length, 6, 'with no window open, a change is told at once');
});

t.test('presence: a flap within the window is told as nothing; away goes everywhere', async (t) => {
  const r = recording([10]);
  const u = new UserActor(11, r.ctx);
  await u.receive({ t: 'session_opened', sessionId: 'a', front: 0 });
  await u.receive({ t: 'session_closed', sessionId: 'a' });
  await u.receive({ t: 'session_opened', sessionId: 'b', front: 0 });
  await u.receive({ t: 'presence_tick' });
  t.same(r.presence().map((x) => x.msg.status), ['online'], 'offline and back within the window: nothing more');
  const reply = (await u.receive({ t: 'set_presence', status: 'away' })) as any;
  t.match(reply, { user_id: 11, status: 'away', last_activity: String });
  await u.receive({ t: 'presence_tick' });
  t.same(r.presence().map((x) => x.msg.status), ['online', 'away']);
  // A new room hears the current status at once; a DM created by the user is added too.
  u.receive({ t: 'conversation_added', conversationId: 30 });
  t.match(r.presence()[2], { id: 30, msg: { status: 'away' } });
  u.receive({ t: 'conversation_removed', conversationId: 10 });
  await u.receive({ t: 'session_closed', sessionId: 'b' });
  await u.receive({ t: 'presence_tick' });
  t.same(r.presence().slice(3).map((x) => [x.id, x.msg.status]), [[30, 'offline']], 'a left room hears no more');
  await t.rejects(u.receive({ t: 'set_presence', status: 'online' }) as Promise<unknown>, { code: 'forbidden' }, 'no connection, no set_presence');
});

t.test('presence: a store failure keeps the sessions and is tried again at the end of the window', async (t) => {
  const r = recording([10]);
  let fail = true;
  const store = (r.ctx.services as any).store;
  const list = store.listPresenceTargets;
  store.listPresenceTargets = async (ids: number[]) => {
    if (fail) throw new Error('store down');
    return list(ids);
  };
  const u = new UserActor(12, r.ctx);
  await u.receive({ t: 'session_opened', sessionId: 'a', front: 0 });
  t.equal(u.online, true, 'the session is kept');
  t.equal(r.presence().length, 0);
  fail = false;
  await u.receive({ t: 'presence_tick' });
  t.same(r.presence().map((x) => x.msg.status), ['online'], 'told once the store answers');
});

t.test('presence: DM peers get it straight from the user, one post naming them all', async (t) => {
  const r = recording([], 60_000, [21, 22]);
  const u = new UserActor(13, r.ctx);
  await u.receive({ t: 'session_opened', sessionId: 'a', front: 0 });
  t.equal(r.presence().length, 0, 'no DM RoomActor is told');
  t.equal(r.posts.length, 1);
  t.match(r.posts[0], { t: 'publish', users: [21, 22], event: { type: 'presence' } });
  t.same(JSON.parse(r.posts[0].event.data), { user_id: 13, status: 'online', last_activity: JSON.parse(r.posts[0].event.data).last_activity });
  u.receive({ t: 'peer_added', userId: 23 });
  t.match(r.posts[1], { users: [23] }, 'a new DM peer hears the current status at once');
  await u.receive({ t: 'session_closed', sessionId: 'a' });
  await u.receive({ t: 'presence_tick' });
  t.match(r.posts[2], { users: [21, 22, 23] });
  t.match(JSON.parse(r.posts[2].event.data), { status: 'offline' });
});
