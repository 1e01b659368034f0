/**
 * Moderation end to end (issue 17), on PGlite and PostgreSQL, one node each:
 * - who may kick, ban, mute, change a member's role and delete another's message, as a matrix of
 *   author, member, room moderator, owner, global moderator, admin and outsider, over WebSocket
 *   and REST (each actor's requests go over one transport on PGlite and the other on PostgreSQL);
 * - a kicked or banned user's sockets are told and hear nothing more of the room; a banned user
 *   cannot rejoin or read it, until the ban is lifted or ends; a muted member cannot send or
 *   react until the mute ends or is lifted;
 * - a global ban closes the user's sockets with 4403 and refuses login and refresh;
 * - every action is in audit_log, with its actor and source address.
 */
import t, { type Test } from 'tap';
import { run } from '../src/cli/program.js';
import { call } from './helpers/http.js';
import { startLive, type Backend, type Live, type TestClient, type TestUser } from './helpers/live.js';

const PASSWORD = 'correct horse battery';

type Who = 'author' | 'member' | 'room moderator' | 'owner' | 'global moderator' | 'admin' | 'outsider';
const WHO: Who[] = ['author', 'member', 'room moderator', 'owner', 'global moderator', 'admin', 'outsider'];
type Op = 'kick' | 'ban' | 'mute' | 'role' | 'delete';
const MODERATORS: Who[] = ['room moderator', 'owner', 'global moderator', 'admin'];

// What each may do to a plain member (and, for delete, to the author's message) in a public room.
const ALLOWED: Record<Op, Who[]> = {
  kick: MODERATORS,
  ban: MODERATORS,
  mute: MODERATORS,
  role: ['owner', 'admin'],
  delete: ['author', ...MODERATORS],
};

async function relogin(live: Live, u: TestUser): Promise<TestUser> {
  const login = await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: u.username, password: PASSWORD } });
  if (login.status !== 200) throw new Error(`login: ${login.text}`);
  return { ...u, token: login.body.access_token, refreshToken: login.body.refresh_token };
}

async function withRole(live: Live, u: TestUser, role: 'moderator' | 'admin'): Promise<TestUser> {
  await live.node.store.pool.query(`UPDATE users SET role = $2 WHERE id = $1`, [u.id, role]);
  return relogin(live, u);
}

/** A reply from the room's actor on this socket: every earlier post of the room to its front came first. */
async function settled(c: TestClient, id: number): Promise<void> {
  await c.request('fetch_history', { conversation_id: id, limit: 1 });
}

/** `ok` with the reply's data, or the error code: one shape for both transports. */
type Outcome = { ok: true; data: any } | { ok: false; code: string };

async function viaWs(c: TestClient, type: string, data: object): Promise<Outcome> {
  const r = await c.request(type, data);
  return r.type === 'ack' ? { ok: true, data: r.data } : { ok: false, code: r.data.code };
}

async function viaRest(live: Live, token: string, method: string, path: string, body?: object): Promise<Outcome> {
  const r = await call(live.url, method, `/api/v1${path}`, { token, ...(body ? { body } : {}) });
  return r.status === 200 ? { ok: true, data: r.body } : { ok: false, code: r.body?.error?.code ?? String(r.status) };
}

async function auditCount(live: Live, action: string, where: string, values: unknown[]): Promise<number> {
  const r = await live.node.store.pool.query(`SELECT count(*)::int AS n FROM audit_log WHERE action = $1 AND ${where}`, [action, ...values]);
  return r.rows[0].n;
}

async function suite(t: Test, backend: Backend): Promise<void> {
  const live = await startLive(t, backend, { limits: { perMinute: { send_message: 100_000, join_room: 100_000, create_room: 1000 } } });
  if (!live) return;
  const users = {} as Record<Who, TestUser>;
  for (const who of ['author', 'member', 'room moderator', 'owner', 'outsider'] as Who[]) users[who] = await live.user(who.replace(' ', ''));
  users['global moderator'] = await withRole(live, await live.user('gmod'), 'moderator');
  users.admin = await withRole(live, await live.user('admin'), 'admin');
  const id = (await call(live.url, 'POST', '/api/v1/rooms', { token: users.owner.token, body: { name: 'moderated' } })).body.id as number;
  // Members, one of them the room's moderator, written before anything asks the room (its actor
  // loads them); the global moderator, the admin and the outsider are not members.
  await live.node.store.pool.query(
    `INSERT INTO conversation_members (conversation_id, user_id, role)
     SELECT $1, u, CASE WHEN u = $2 THEN 'moderator'::member_role ELSE 'member'::member_role END FROM unnest($3::bigint[]) u`,
    [id, users['room moderator'].id, (['author', 'member', 'room moderator'] as Who[]).map((w) => users[w].id)],
  );
  const watcher = await live.client(users.member.token);
  await watcher.ok('join_room', { room_id: id });
  const author = await live.client(users.author.token);
  const sockets = {} as Record<Who, TestClient>;
  for (const who of WHO) sockets[who] = await live.client(users[who].token);
  const post = (u: TestUser, content: string) => call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: u.token, body: { content } });

  t.test('the permissions of kick, ban, mute, role and delete, over WebSocket and REST', async (t) => {
    for (const op of ['kick', 'ban', 'mute', 'role', 'delete'] as Op[]) {
      for (const [i, who] of WHO.entries()) {
        // Each actor over one transport, the other one on the other backend.
        const ws = (i % 2 === 0) === (backend === 'pglite');
        const what = `${op} by ${who} over ${ws ? 'WebSocket' : 'REST'}`;
        const allowed = ALLOWED[op].includes(who);
        if (op === 'delete') {
          const m = await author.ok('send_message', { room_id: id, content: `delete by ${who}` });
          const r = ws ? await viaWs(sockets[who], 'delete_message', { message_id: m.id }) : await viaRest(live, users[who].token, 'DELETE', `/messages/${m.id}`);
          if (allowed) t.match(r, { ok: true, data: { changed: true } }, `${what}: allowed`);
          else t.same(r, { ok: false, code: 'forbidden' }, `${what}: forbidden`);
          continue;
        }
        // A fresh plain member for each attempt, listening on a socket of its own.
        const v = await live.user('victim');
        const vs = await live.client(v.token);
        await vs.ok('join_room', { room_id: id });
        await watcher.waitFor((f) => f.type === 'member_joined' && f.data.user_id === v.id);
        const data = { room_id: id, user_id: v.id };
        let r: Outcome;
        switch (op) {
          case 'kick':
            r = ws ? await viaWs(sockets[who], 'kick_member', data) : await viaRest(live, users[who].token, 'POST', `/rooms/${id}/kick`, { user_id: v.id, reason: 'test' });
            break;
          case 'ban':
            r = ws ? await viaWs(sockets[who], 'ban_member', { ...data, duration_s: 3600 }) : await viaRest(live, users[who].token, 'POST', `/rooms/${id}/bans`, { user_id: v.id, duration_s: 3600 });
            break;
          case 'mute':
            r = ws ? await viaWs(sockets[who], 'mute_member', { ...data, duration_s: 3600 }) : await viaRest(live, users[who].token, 'POST', `/rooms/${id}/mutes`, { user_id: v.id, duration_s: 3600 });
            break;
          case 'role':
            r = ws
              ? await viaWs(sockets[who], 'set_member_role', { ...data, role: 'moderator' })
              : await viaRest(live, users[who].token, 'PUT', `/rooms/${id}/members/${v.id}/role`, { role: 'moderator' });
            break;
        }
        if (!allowed) {
          t.same(r, { ok: false, code: 'forbidden' }, `${what}: forbidden`);
          t.equal((await post(v, 'still here')).status, 201, `${what}: the member still posts`);
          vs.close();
          continue;
        }
        t.ok(r.ok, `${what}: allowed`);
        const send = await vs.request('send_message', { room_id: id, content: 'after' });
        switch (op) {
          case 'kick':
          case 'ban':
            t.same((await vs.waitFor((f) => f.type === 'member_left' && f.data.user_id === v.id)).data, { room_id: id, user_id: v.id, reason: op === 'kick' ? 'kicked' : 'banned' }, `${what}: the user's socket is told`);
            t.match(r, { data: { member: false, banned: op === 'ban' } }, `${what}: the standing`);
            t.equal(send.data.code, 'forbidden', `${what}: no longer sends`);
            break;
          case 'mute':
            t.match(r, { data: { member: true, muted_until: String } }, `${what}: the standing`);
            t.equal(send.data.code, 'forbidden', `${what}: a muted member does not send`);
            t.match((await watcher.waitFor((f) => f.type === 'member_updated' && f.data.user_id === v.id && f.data.muted_until !== null)).data, { room_id: id, role: 'member' }, `${what}: the room is told`);
            break;
          case 'role':
            t.equal(send.type, 'ack', `${what}: still sends`);
            t.match((await watcher.waitFor((f) => f.type === 'member_updated' && f.data.user_id === v.id && f.data.role === 'moderator')).data, { room_id: id, muted_until: null }, `${what}: the room is told`);
            break;
        }
        vs.close();
      }
    }
    // Nobody acts on themselves, nor on the owner; a room moderator not on another.
    t.same(await viaWs(sockets['room moderator'], 'kick_member', { room_id: id, user_id: users['room moderator'].id }), { ok: false, code: 'forbidden' }, 'not oneself');
    t.same(await viaWs(sockets.admin, 'ban_member', { room_id: id, user_id: users.owner.id }), { ok: false, code: 'forbidden' }, 'not the owner, even by an admin');
    t.same(await viaWs(sockets['global moderator'], 'mute_member', { room_id: id, user_id: users['room moderator'].id, duration_s: 60 }), { ok: false, code: 'forbidden' }, 'not one of the same rank');
    t.same(await viaWs(sockets.owner, 'kick_member', { room_id: id, user_id: users.outsider.id }), { ok: false, code: 'not_found' }, 'kicking a non-member');
    t.same(await viaWs(sockets.owner, 'kick_member', { room_id: id, user_id: 999_999_999 }), { ok: false, code: 'not_found' }, 'an unknown user');
    t.same(await viaWs(sockets.owner, 'kick_member', { room_id: 999_999_999, user_id: users.member.id }), { ok: false, code: 'not_found' }, 'an unknown room');

    // The trail: one entry per allowed action, with its actor and source address.
    for (const [op, action] of [['kick', 'room.kick'], ['ban', 'room.ban'], ['mute', 'room.mute'], ['role', 'room.role']] as const) {
      const actors = ALLOWED[op].map((w) => users[w].id);
      t.equal(await auditCount(live, action, `details->>'room_id' = $2 AND actor_id = ANY($3::bigint[]) AND ip IS NOT NULL`, [String(id), actors]), actors.length, `${action}: each allowed one audited`);
      t.equal(await auditCount(live, action, `details->>'room_id' = $2`, [String(id)]), actors.length, `${action}: and no refused one`);
    }
    const deleters = MODERATORS.map((w) => users[w].id);
    t.equal(await auditCount(live, 'message.delete', `actor_id = ANY($2::bigint[]) AND ip IS NOT NULL`, [deleters]), deleters.length, "moderators' deletions audited");
    t.equal(await auditCount(live, 'message.delete', `actor_id = $2`, [users.author.id]), 0, "an author's own deletion is not");
  });

  t.test('kick and ban: the sockets are told and hear nothing more; a ban holds until lifted or over', async (t) => {
    const k = await live.user('kicked');
    const [k1, k2] = [await live.client(k.token), await live.client(k.token)];
    await k1.ok('join_room', { room_id: id });
    t.equal((await viaRest(live, users.owner.token, 'POST', `/rooms/${id}/kick`, { user_id: k.id })).ok, true, 'kicked');
    for (const c of [k1, k2, watcher]) {
      t.same((await c.waitFor((f) => f.type === 'member_left' && f.data.user_id === k.id)).data, { room_id: id, user_id: k.id, reason: 'kicked' }, 'told, joined on that socket or not');
    }
    const m1 = (await post(users.owner, 'after the kick')).body;
    await watcher.waitFor((f) => f.type === 'message' && f.data.id === m1.id);
    await settled(k1, id);
    t.same(k1.of('message').filter((f) => f.data.id === m1.id), [], 'the kicked socket hears nothing more');
    t.equal((await k1.request('join_room', { room_id: id })).type, 'ack', 'a kicked user may join a public room again');

    const b = await live.user('banned');
    const b1 = await live.client(b.token);
    await b1.ok('join_room', { room_id: id });
    const banned = await viaWs(sockets['room moderator'], 'ban_member', { room_id: id, user_id: b.id, reason: 'spam' });
    t.match(banned, { ok: true, data: { banned: true, banned_until: null, member: false } }, 'banned for good');
    t.match((await b1.waitFor((f) => f.type === 'member_left' && f.data.user_id === b.id)).data, { reason: 'banned' });
    const m2 = (await post(users.owner, 'after the ban')).body;
    await watcher.waitFor((f) => f.type === 'message' && f.data.id === m2.id);
    t.equal((await b1.request('fetch_history', { conversation_id: id })).data.code, 'forbidden', 'a banned user does not read the room');
    t.same(b1.of('message').filter((f) => f.data.id === m2.id), [], 'the banned socket hears nothing more');
    t.equal((await b1.request('join_room', { room_id: id })).data.code, 'forbidden', 'cannot rejoin (WebSocket)');
    t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: b.token })).status, 403, 'cannot rejoin (REST)');
    t.equal((await call(live.url, 'GET', `/api/v1/rooms/${id}/messages`, { token: b.token })).status, 403, 'cannot read (REST)');
    const resumed = await b1.request('resume', { positions: { [id]: 0 } });
    t.match(resumed.data.conversations, [{ conversation_id: id, error: 'forbidden' }], 'cannot resume');

    const list = await viaRest(live, users.owner.token, 'GET', `/rooms/${id}/bans`);
    t.match(list, { ok: true, data: { has_more: false, next_cursor: null } });
    const entry = list.ok ? list.data.bans.find((x: any) => x.user_id === b.id) : undefined;
    t.match(entry, { room_id: id, user_id: b.id, username: b.username, banned_until: null, reason: 'spam', banned_by: users['room moderator'].id, banned_at: String }, 'listed');
    t.same(await viaRest(live, users.member.token, 'GET', `/rooms/${id}/bans`), { ok: false, code: 'forbidden' }, 'members do not list bans');
    t.match(await viaRest(live, users.owner.token, 'DELETE', `/rooms/${id}/bans/${b.id}`), { ok: true, data: { changed: true, banned: false } }, 'lifted');
    t.match(await viaRest(live, users.owner.token, 'DELETE', `/rooms/${id}/bans/${b.id}`), { ok: true, data: { changed: false } }, 'lifting again changes nothing');
    t.equal((await b1.request('join_room', { room_id: id })).type, 'ack', 'joins again once lifted');
    t.equal(await auditCount(live, 'room.unban', `target_id = $2 AND actor_id = $3 AND ip IS NOT NULL`, [String(b.id), users.owner.id]), 1, 'the lift audited once');

    // A timed ban ends by itself, and banning someone who is not a member keeps them out too.
    const x = await live.user('timed');
    const timed = await viaRest(live, users.owner.token, 'POST', `/rooms/${id}/bans`, { user_id: x.id, duration_s: 1 });
    t.match(timed, { ok: true, data: { banned: true, member: false } }, 'a non-member banned for a second');
    t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: x.token })).status, 403, 'kept out of a public room');
    const end = Date.parse((timed as { data: any }).data.banned_until);
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now()) + 50));
    t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: x.token })).status, 200, 'joins once the ban is over');
    for (const c of [k1, k2, b1]) c.close();
  });

  t.test('mute: no sending, editing or reacting until it ends or is lifted', async (t) => {
    const m = await live.user('muted');
    t.equal((await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: m.token })).status, 200);
    const mine = (await post(m, 'before')).body;
    const mc = await live.client(m.token);
    const muted = await viaRest(live, users.owner.token, 'POST', `/rooms/${id}/mutes`, { user_id: m.id, duration_s: 1, reason: 'cool down' });
    t.match(muted, { ok: true, data: { member: true, muted_until: String } });
    t.equal((await mc.request('send_message', { room_id: id, content: 'x' })).data.code, 'forbidden', 'send refused');
    t.equal((await mc.request('edit_message', { message_id: mine.id, content: 'y' })).data.code, 'forbidden', 'edit refused');
    t.equal((await mc.request('add_reaction', { message_id: mine.id, emoji: '👍' })).data.code, 'forbidden', 'reaction refused');
    t.equal((await post(m, 'x')).status, 403, 'REST post refused');
    const mutes = await viaRest(live, users['room moderator'].token, 'GET', `/rooms/${id}/mutes`);
    t.match(mutes.ok && mutes.data.mutes.find((x: any) => x.user_id === m.id), { username: m.username, reason: 'cool down', muted_by: users.owner.id }, 'listed');
    const end = Date.parse((muted as { data: any }).data.muted_until);
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now()) + 50));
    t.equal((await mc.request('send_message', { room_id: id, content: 'free again' })).type, 'ack', 'sends once the mute is over');

    t.match(await viaWs(sockets.owner, 'mute_member', { room_id: id, user_id: m.id, duration_s: 3600 }), { ok: true });
    t.equal((await mc.request('send_message', { room_id: id, content: 'x' })).data.code, 'forbidden', 'muted again');
    t.match(await viaWs(sockets.owner, 'unmute_member', { room_id: id, user_id: m.id }), { ok: true, data: { changed: true, muted_until: null } });
    t.equal((await mc.request('send_message', { room_id: id, content: 'lifted' })).type, 'ack', 'sends once the mute is lifted');
    t.equal(await auditCount(live, 'room.unmute', `target_id = $2`, [String(m.id)]), 1, 'the lift audited');
    mc.close();
  });

  t.test('global roles and bans: admins only; a ban closes the sockets with 4403 and refuses login and refresh', async (t) => {
    const g = await live.user('global');
    const [g1, g2] = [await live.client(g.token), await live.client(g.token)];
    await g1.ok('join_room', { room_id: id });
    t.equal((await call(live.url, 'POST', `/api/v1/users/${g.id}/ban`, { token: users['global moderator'].token, body: {} })).status, 403, 'not a moderator');
    t.equal((await call(live.url, 'PUT', `/api/v1/users/${g.id}/role`, { token: users.owner.token, body: { role: 'admin' } })).status, 403, 'not a room owner');
    t.equal((await call(live.url, 'POST', `/api/v1/users/${users.admin.id}/ban`, { token: users.admin.token, body: {} })).status, 403, 'not oneself');
    const ban = await call(live.url, 'POST', `/api/v1/users/${g.id}/ban`, { token: users.admin.token, body: { reason: 'abuse' } });
    t.match(ban, { status: 200, body: { user_id: g.id, banned: true, banned_until: null, reason: 'abuse' } });
    for (const c of [g1, g2]) t.equal((await c.waitClose()).code, 4403, 'every socket closed with 4403');
    const login = await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: g.username, password: PASSWORD } });
    t.match(login, { status: 403, body: { error: { code: 'forbidden' } } }, 'login refused');
    // The ban ended every session of the user (their refresh tokens revoked): a refresh is refused as
    // for any ended session. A ban made with the CLI ends none, and refresh answers 403 (below).
    const refresh = await call(live.url, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: g.refreshToken } });
    t.match(refresh, { status: 401, body: { error: { code: 'unauthenticated' } } }, 'refresh refused: the session ended');
    t.equal((await call(live.url, 'GET', '/api/v1/users/me', { token: g.token })).status, 401, 'the access token refused at once');
    t.equal((await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: g.username, password: 'wrong password!' } })).status, 401, 'a wrong password says nothing of the ban');

    const lift = await call(live.url, 'DELETE', `/api/v1/users/${g.id}/ban`, { token: users.admin.token });
    t.match(lift, { status: 200, body: { user_id: g.id, banned: false, changed: true } });
    const role = await call(live.url, 'PUT', `/api/v1/users/${g.id}/role`, { token: users.admin.token, body: { role: 'moderator' } });
    t.match(role, { status: 200, body: { id: g.id, role: 'moderator' } });
    const back = await relogin(live, g);
    t.match(JSON.parse(Buffer.from(back.token.split('.')[1]!, 'base64url').toString()), { role: 'moderator' }, 'logs in again, with the new role');
    for (const [action, n] of [['user.ban', 1], ['user.unban', 1], ['user.role', 1]] as const) {
      t.equal(await auditCount(live, action, `target_id = $2 AND actor_id = $3 AND ip IS NOT NULL`, [String(g.id), users.admin.id]), n, `${action} audited`);
    }
  });

  t.test('the operator CLI on the running node\'s database: role, ban and unban', { skip: backend === 'pglite' && 'the embedded database is the running node\'s alone' }, async (t) => {
    const h = await live.user('operated');
    const db = ['--database-url', live.config.database.url!];
    const out = async (args: string[]) => {
      let text = '';
      let err = '';
      const code = await run(args, { out: (x) => void (text += x), err: (x) => void (err += x), env: { VEZA_LOG_LEVEL: 'warn' } });
      t.equal(code, 0, `${args.slice(0, 2).join(' ')}: ${err}`);
      return JSON.parse(text);
    };
    t.match(await out(['user', 'ban', h.username, '--reason', 'by hand', ...db]), { user_id: h.id, banned: true, banned_until: null, reason: 'by hand' });
    t.match(await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: h.username, password: PASSWORD } }), { status: 403 }, 'the node refuses the next login');
    t.match(await call(live.url, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: h.refreshToken } }), { status: 403 }, 'and the next refresh');
    t.match(await out(['user', 'unban', h.username, ...db]), { user_id: h.id, banned: false, changed: true });
    t.match(await out(['user', 'role', h.username, 'moderator', ...db]), { id: h.id, role: 'moderator' });
    const back = await relogin(live, h);
    t.match(JSON.parse(Buffer.from(back.token.split('.')[1]!, 'base64url').toString()), { role: 'moderator' }, 'logs in again, with the new role');
    for (const action of ['user.ban', 'user.unban', 'user.role']) {
      t.equal(await auditCount(live, action, `target_id = $2 AND actor_id IS NULL AND details->>'via' = 'cli'`, [String(h.id)]), 1, `${action} by an operator audited`);
    }
  });

  t.test('room deletion is audited with its source', async (t) => {
    const doomed = (await call(live.url, 'POST', '/api/v1/rooms', { token: users.owner.token, body: { name: 'doomed' } })).body.id as number;
    t.equal((await call(live.url, 'DELETE', `/api/v1/rooms/${doomed}`, { token: users.owner.token })).status, 204);
    t.equal(await auditCount(live, 'room.delete', `target_id = $2 AND actor_id = $3 AND ip IS NOT NULL`, [String(doomed), users.owner.id]), 1);
  });

  t.teardown(() => {
    for (const c of [watcher, author, ...Object.values(sockets)]) c.close();
  });
}

for (const backend of ['pglite', 'postgres'] as const) {
  t.test(backend, async (t) => suite(t, backend));
}
