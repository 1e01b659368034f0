/**
 * Who may change a message, as a matrix: author, member, room moderator, owner, global moderator,
 * admin and outsider, for edit, delete, react and pin. A refusal changes nothing and broadcasts
 * nothing; an allowed change is broadcast once with the next seq. PGlite only: the rules live in
 * the RoomActor, whatever the backend (test/live-changes.ts runs the changes on both).
 */
import t from 'tap';
import { call } from './helpers/http.js';
import { startLive, type Live, type TestUser } from './helpers/live.js';

const PASSWORD = 'correct horse battery';

async function withRole(live: Live, u: TestUser, role: 'moderator' | 'admin'): Promise<TestUser> {
  await live.node.store.pool.query(`UPDATE users SET role = $2 WHERE id = $1`, [u.id, role]);
  const login = await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: u.username, password: PASSWORD } });
  if (login.body?.user?.role !== role) throw new Error(`${role} login: ${login.text}`);
  return { ...u, token: login.body.access_token };
}

type Who = 'author' | 'member' | 'room moderator' | 'owner' | 'global moderator' | 'admin' | 'outsider';
type Op = 'edit' | 'delete' | 'react' | 'pin';

// What each may do to the author's message in a public room (PROTOCOL.md "Changes to messages").
const ALLOWED: Record<Op, Who[]> = {
  edit: ['author'],
  delete: ['author', 'room moderator', 'owner', 'global moderator', 'admin'],
  react: ['author', 'member', 'room moderator', 'owner', 'global moderator', 'admin'],
  pin: ['room moderator', 'owner', 'admin'],
};

t.test('pglite: the permissions of edit, delete, react and pin', async (t) => {
  const live = await startLive(t, 'pglite', { limits: { perMinute: { send_message: 100_000, join_room: 1000 } } });
  if (!live) return;
  const users = {} as Record<Who, TestUser>;
  for (const who of ['author', 'member', 'room moderator', 'owner', 'outsider'] as Who[]) users[who] = await live.user(who.replace(' ', ''));
  users['global moderator'] = await withRole(live, await live.user('gmod'), 'moderator');
  users.admin = await withRole(live, await live.user('admin'), 'admin');
  // Members (the global moderator and the admin too: reacting takes membership), one of them the
  // room's moderator, written before anything asks the room, so its actor loads them; the
  // outsider is not one.
  const room = await call(live.url, 'POST', '/api/v1/rooms', { token: users.owner.token, body: { name: 'matrix' } });
  const id2 = room.body.id as number;
  await live.node.store.pool.query(
    `INSERT INTO conversation_members (conversation_id, user_id, role)
     SELECT $1, u, CASE WHEN u = $2 THEN 'moderator'::member_role ELSE 'member'::member_role END FROM unnest($3::bigint[]) u`,
    [id2, users['room moderator'].id, (['author', 'member', 'room moderator', 'global moderator', 'admin'] as Who[]).map((w) => users[w].id)],
  );
  const watcher = await live.client(users.member.token);
  await watcher.ok('join_room', { room_id: id2 });
  const author = await live.client(users.author.token);

  for (const op of ['edit', 'delete', 'react', 'pin'] as Op[]) {
    for (const who of Object.keys(users) as Who[]) {
      const m = await author.ok('send_message', { room_id: id2, content: `${op} by ${who}` });
      await watcher.waitFor((f) => f.type === 'message' && f.data.id === m.id);
      const before = watcher.frames.length;
      const c = await live.client(users[who].token);
      const frame =
        op === 'edit'
          ? { type: 'edit_message', data: { message_id: m.id, content: 'changed' } }
          : op === 'delete'
            ? { type: 'delete_message', data: { message_id: m.id } }
            : op === 'react'
              ? { type: 'add_reaction', data: { message_id: m.id, emoji: '👍' } }
              : { type: 'pin_message', data: { room_id: id2, message_id: m.id } };
      const r = await c.request(frame.type, frame.data);
      const allowed = ALLOWED[op].includes(who);
      if (allowed) {
        t.match(r, { type: 'ack', data: { changed: true, seq: m.seq + 1 } }, `${op} by ${who}: allowed`);
        await watcher.waitFor((f) => f.data?.seq === m.seq + 1 && f.type !== 'message');
      } else {
        t.match(r, { type: 'error', data: { code: 'forbidden' } }, `${op} by ${who}: forbidden`);
        // A marker after it: nothing of the refused change reached the room before this.
        const marker = await author.ok('send_message', { room_id: id2, content: 'marker' });
        await watcher.waitFor((f) => f.type === 'message' && f.data.id === marker.id);
        // Presence is not the change's: the previous step's socket closing may tell it meanwhile.
        t.same(watcher.frames.slice(before).map((f) => f.type).filter((type) => type !== 'presence'), ['message'], `${op} by ${who}: nothing broadcast`);
      }
      c.close();
    }
  }
  // Unknown, deleted, or another conversation's message: not_found, from any path.
  const other = await call(live.url, 'POST', '/api/v1/rooms', { token: users.owner.token, body: { name: 'elsewhere' } });
  const elsewhere = await call(live.url, 'POST', `/api/v1/rooms/${other.body.id}/messages`, { token: users.owner.token, body: { content: 'x' } });
  const o = await live.client(users.owner.token);
  t.match(await o.request('pin_message', { room_id: id2, message_id: elsewhere.body.id }), { type: 'error', data: { code: 'not_found' } }, "pinning another room's message");
  t.match(await o.request('add_reaction', { message_id: 999_999_999, emoji: '👍' }), { type: 'error', data: { code: 'not_found' } }, 'an unknown message');
  for (const x of [watcher, author, o]) x.close();
});
