/**
 * Black-box findings on the client library (src/client) against a real node: one node (PGlite),
 * the `ws` package as the WebSocket, a TCP relay of this file that cuts the connections it carries
 * (a network drop: the client sees 1006).
 *
 * - `member_updated` (a mute, a role change) is one of the library's typed events;
 * - a room the user was kicked or banned from is no longer followed: after a drop the client does
 *   not resume it (no replay of a room it is out of, no `forbidden` error);
 * - `veza-chat config print` (redactedConfig) hides the admin token as it hides the JWT secret;
 * - a ban from the server (close 4403) closes the client with session_expired `forbidden`, no
 *   reconnection (the contract: do not reconnect);
 * - /metrics: a token checked at the upgrade is in `chat_auth_duration_seconds` as in
 *   `chat_auth_requests_total` (method `token`).
 */
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { VezaClient, type ClientEvents, type WebSocketConstructor } from '../src/client/index.js';
import { loadConfig, redactedConfig } from '../src/config/index.js';
import { next, relay } from './helpers/client.js';
import { startLive } from './helpers/live.js';

const WS = WebSocket as unknown as WebSocketConstructor;

let users = 0;
async function loggedIn(t: Test, url: string, name: string): Promise<VezaClient> {
  const username = `${name}${process.pid % 1000}q${++users}`;
  const c = new VezaClient({ url, WebSocket: WS, reconnect: { initialDelayMs: 50, maxDelayMs: 400 }, pingIntervalMs: 0 });
  await c.register(username, `${username}@example.test`, 'correct horse battery');
  await c.login(username, 'correct horse battery');
  await c.connect();
  t.teardown(() => c.close());
  return c;
}

t.test('redactedConfig hides the admin token', async (t) => {
  const token = 'admin-token-for-the-status-api-1234';
  const text = JSON.stringify(redactedConfig(loadConfig({ env: { VEZA_ADMIN_TOKEN: token } })));
  t.notMatch(text, token, 'the admin token is not printed');
  t.match(text, /"admin":\{"token":"\*\*\*"\}/, 'it is shown as redacted');
});

t.test('pglite', async (t) => {
  const live = await startLive(t, 'pglite', { server: { fronts: 1, shards: 1 }, limits: { perMinute: { join_room: 1000, create_room: 100 } } });
  if (!live) return;
  const port = Number(new URL(live.url).port);
  const net = await relay(t, port);
  const owner = await loggedIn(t, live.url, 'owner');
  const member = await loggedIn(t, net.url, 'member');
  const memberId = member.user!.id;
  const rooms: Record<'kicked' | 'banned' | 'kept' | 'muted', number> = { kicked: 0, banned: 0, kept: 0, muted: 0 };
  for (const k of Object.keys(rooms) as (keyof typeof rooms)[]) {
    rooms[k] = (await owner.createRoom({ name: `qa-${k}` })).id;
    await owner.join(rooms[k]);
    await member.join(rooms[k]);
  }

  t.test('member_updated is a typed event', async (t) => {
    const updated = next(member, 'member_updated', (d) => d.room_id === rooms.muted);
    await owner.request('mute_member', { room_id: rooms.muted, user_id: memberId, duration_s: 60 });
    const d = await updated;
    t.equal(d.user_id, memberId);
    t.equal(d.role, 'member');
    t.type(d.muted_until, 'string', 'muted_until is the end of the mute');
  });

  t.test('/metrics: token checks at the upgrade are timed as they are counted', async (t) => {
    const upgrade = (token: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`${live.wsUrl}`, 'veza.json', { headers: { authorization: `Bearer ${token}` } });
        ws.on('open', () => (ws.close(), resolve('open')));
        ws.on('unexpected-response', (_req, res) => (res.resume(), resolve(String(res.statusCode))));
        ws.on('error', () => resolve('error'));
      });
    t.equal(await upgrade(owner.tokens!.access_token), 'open', 'a good token at the upgrade');
    t.equal(await upgrade('not-a-token'), '401', 'a bad one');
    const text = await (await fetch(`${live.url}/metrics`)).text();
    const sum = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
    const counted = sum(/^chat_auth_requests_total\{[^}]*method="token"[^}]*\} (\S+)$/gm);
    const timed = sum(/^chat_auth_duration_seconds_count\{[^}]*method="token"[^}]*\} (\S+)$/gm);
    t.ok(counted >= 2, `token checks counted (${counted})`);
    t.equal(timed, counted, 'the duration histogram counts every token check the counter counts');
  });

  t.test('a ban from the server (close 4403) ends the client: session_expired forbidden, no reconnection', async (t) => {
    const adminUser = await live.user('qaadmin');
    await live.node.store.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [adminUser.id]);
    const admin = new VezaClient({ url: live.url, WebSocket: WS });
    await admin.login(adminUser.username, 'correct horse battery');
    t.teardown(() => admin.close());
    const banned = await loggedIn(t, live.url, 'banned');
    const states: string[] = [];
    banned.on('state', (s) => states.push(s.state));
    const expired = next(banned, 'session_expired');
    await admin.rest('POST', `/users/${banned.user!.id}/ban`, { reason: 'qa' });
    t.equal((await expired).code, 'forbidden', 'the application is told it is a ban');
    t.equal(banned.state, 'closed');
    t.same(states, ['closed'], 'no reconnection');
  });

  t.test('a room the user was kicked or banned from is not resumed after a drop', async (t) => {
    const left: ClientEvents['member_left'][] = [];
    member.on('member_left', (d) => d.user_id === memberId && left.push(d));
    const errors: ClientEvents['error'][] = [];
    member.on('error', (e) => errors.push(e));
    const kicked = next(member, 'member_left', (d) => d.room_id === rooms.kicked && d.user_id === memberId);
    const banned = next(member, 'member_left', (d) => d.room_id === rooms.banned && d.user_id === memberId);
    await owner.request('kick_member', { room_id: rooms.kicked, user_id: memberId });
    await owner.request('ban_member', { room_id: rooms.banned, user_id: memberId });
    t.equal((await kicked).reason, 'kicked');
    t.equal((await banned).reason, 'banned');
    t.same(Object.keys(member.positions()).map(Number).sort((a, b) => a - b), [rooms.kept, rooms.muted].sort((a, b) => a - b), 'only the rooms it is still in are followed');

    const seen: number[] = [];
    member.on('message', (m) => seen.push(m.conversation_id));
    const back = next(member, 'resumed', (r) => r.conversation_id === rooms.kept);
    const keptMessage = next(member, 'message', (m) => m.conversation_id === rooms.kept);
    net.cut();
    // Written while the member is away: the kicked room's message must not reach it.
    await owner.sendMessage(rooms.kicked, 'after the kick');
    await owner.sendMessage(rooms.kept, 'for the member');
    await back;
    await keptMessage;
    t.same(seen, [rooms.kept], "the kept room's message only: nothing of the room the member was kicked from");
    t.same(errors, [], 'no error for the room it was banned from');
  });
});
