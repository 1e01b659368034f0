/**
 * Limits on everything that costs (issue 17), end to end on one node with small budgets:
 * - every operation that reaches an actor or the store draws from a per-user budget, over
 *   WebSocket and REST alike, and is refused `rate_limited` past it (resume by the ids it names);
 * - adaptive costs: moderators get more, new accounts less;
 * - an id that does not exist is `not_found` and leaves no actor behind;
 * - open sockets are capped per user and per source (429 at the upgrade, 4429 by frame).
 */
import t from 'tap';
import WebSocket from 'ws';
import { call } from './helpers/http.js';
import { room, startLive, type Frame, type Live, type TestUser } from './helpers/live.js';

const PASSWORD = 'correct horse battery'; // what live.user() registers with
const code = (f: Frame) => (f.type === 'error' ? (f.data.code as string) : 'ok');

/** Actors in memory on every shard. */
async function activations(live: Live): Promise<number> {
  let n = 0;
  for (let i = 0; i < live.config.server.shards; i++) n += ((await live.node.supervisor.control('shard', i, { t: 'activations' })) as { activations: number }).activations;
  return n;
}

/** Sockets open on every front (the server's view: a closed client is gone once this drops). */
async function openSockets(live: Live): Promise<number> {
  let n = 0;
  for (let i = 0; i < live.config.server.fronts; i++) n += ((await live.node.supervisor.control('front', i, { t: 'stats' })) as { open: number }).open;
  return n;
}

async function withRole(live: Live, u: TestUser, role: string): Promise<TestUser> {
  await live.node.store.pool.query(`UPDATE users SET role = $2 WHERE id = $1`, [u.id, role]);
  const login = await call(live.url, 'POST', '/api/v1/auth/login', { body: { username: u.username, password: PASSWORD } });
  if (login.body?.user?.role !== role) throw new Error(`login: ${login.text}`);
  return { ...u, token: login.body.access_token };
}

/** The HTTP status of an upgrade refused before it happened, or 101. */
function upgradeStatus(live: Live, token: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(live.wsUrl, 'veza.json', token ? { headers: { authorization: `Bearer ${token}` } } : {});
    ws.once('upgrade', () => {
      resolve(101);
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

t.test('limits on one node', async (t) => {
  const perMinute = { send_message: 3, join_room: 100, create_room: 100, fetch_history: 3, resume: 6, typing: 3, edit_message: 3, mark_read: 3, leave_room: 3, update_room: 2, read: 3 };
  const live = await startLive(t, 'pglite', {
    limits: { perMinute, connectionsPerUser: 3, connectionsPerSource: 8, adaptive: { staffFactor: 3, newAccountFactor: 3 } },
  });
  if (!live) return;
  /** A user whose account is two days old (set before anything reads its age). */
  const established = async (name: string) => {
    const u = await live.user(name);
    await live.node.store.pool.query(`UPDATE users SET created_at = now() - interval '2 days' WHERE id = $1`, [u.id]);
    return u;
  };

  t.test('each operation that reaches an actor has a budget, shared by WebSocket and REST', async (t) => {
    const alice = await established('alice');
    const id = await room(live, alice.token);
    const a = await live.client(alice.token);
    await a.ok('join_room', { room_id: id });
    const m = await a.ok('send_message', { room_id: id, content: 'one' });
    const four = async (type: string, data: object) => {
      const out = [];
      for (let i = 0; i < 4; i++) out.push(code(await a.request(type, data)));
      return out;
    };
    t.same(await four('fetch_history', { conversation_id: id, limit: 1 }), ['ok', 'ok', 'ok', 'rate_limited'], 'fetch_history');
    t.equal((await call(live.url, 'GET', `/api/v1/rooms/${id}/messages`, { token: alice.token })).status, 429, 'GET messages: the same budget');
    t.same(await four('typing', { room_id: id, state: 'start' }), ['ok', 'ok', 'ok', 'rate_limited'], 'typing');
    t.same(await four('mark_read', { conversation_id: id, message_id: m.id }), ['ok', 'ok', 'ok', 'rate_limited'], 'mark_read');
    t.equal((await call(live.url, 'POST', `/api/v1/conversations/${id}/read`, { token: alice.token, body: { message_id: m.id } })).status, 429, 'REST read marker: the same budget');
    const edits = [
      code(await a.request('edit_message', { message_id: m.id, content: 'two' })),
      code(await a.request('pin_message', { room_id: id, message_id: m.id })),
      code(await a.request('unpin_message', { room_id: id, message_id: m.id })),
      code(await a.request('delete_message', { message_id: m.id })),
    ];
    t.same(edits, ['ok', 'ok', 'ok', 'rate_limited'], 'edits, pins and deletes share one budget');
    const reactions = [];
    for (let i = 0; i < 3; i++) reactions.push(code(await a.request('add_reaction', { message_id: m.id, emoji: '👍' })));
    t.same(reactions, ['ok', 'ok', 'rate_limited'], 'reactions draw from send_message (one send, two reactions, then none left)');
    const patch = [];
    for (let i = 0; i < 3; i++) patch.push((await call(live.url, 'PATCH', `/api/v1/rooms/${id}`, { token: alice.token, body: { description: `d${i}` } })).status);
    t.same(patch, [200, 200, 429], 'PATCH /rooms/:id');
    const reads = [];
    for (let i = 0; i < 4; i++) reads.push((await call(live.url, 'GET', `/api/v1/rooms/${id}`, { token: alice.token })).status);
    t.same(reads, [200, 200, 200, 429], 'other reads (GET /rooms/:id)');
    // resume: one per conversation named, so a frame of 4 ids then one of 3 passes 6.
    const ids = [id, 999_999_001, 999_999_002, 999_999_003];
    const r1 = await a.request('resume', { positions: Object.fromEntries(ids.map((x) => [x, 0])) });
    t.equal(code(r1), 'ok', 'resume of 4 conversations');
    const r2 = await a.request('resume', { positions: Object.fromEntries(ids.slice(0, 3).map((x) => [x, 0])) });
    t.equal(code(r2), 'rate_limited', 'then 3 more is past 6');
    t.ok(r2.data.retry_after_ms > 0, 'with a retry time');
    t.equal(code(await a.request('resume', { positions: { [id]: 0, 999_999_001: 0 } })), 'ok', 'two more fit');
    t.equal(code(await a.request('leave_room', { room_id: id })), 'ok', 'leave_room has its own budget');
    a.close();
  });

  t.test('adaptive: a moderator gets more, a new account less', async (t) => {
    const mod = await withRole(live, await established('mod'), 'moderator');
    const id = await room(live, mod.token);
    const c = await live.client(mod.token);
    const pages = [];
    for (let i = 0; i < 10; i++) pages.push(code(await c.request('fetch_history', { conversation_id: id, limit: 1 })));
    t.same(pages, [...Array(9).fill('ok'), 'rate_limited'], 'staffFactor 3: 9 of a budget of 3');
    const newbie = await live.user('newbie');
    const n = await live.client(newbie.token);
    await n.ok('ping'); // authenticated: the socket's front is reading the account's age
    const lookups = async () => {
      let k = 0;
      for (let i = 0; i < live.config.server.fronts; i++) k += ((await live.node.supervisor.control('front', i, { t: 'stats' })) as { ageLookups: number }).ageLookups;
      return k;
    };
    while ((await lookups()) > 0) await new Promise((r) => setTimeout(r, 5));
    const theirs = [];
    for (let i = 0; i < 2; i++) theirs.push(code(await n.request('fetch_history', { conversation_id: id, limit: 1 })));
    t.same(theirs, ['ok', 'rate_limited'], 'newAccountFactor 3: 1 of a budget of 3');
    c.close();
    n.close();
  });

  t.test('an id that does not exist answers not_found and leaves no actor behind', async (t) => {
    const bob = await established('bob');
    const b = await live.client(bob.token);
    await b.ok('ping');
    const before = await activations(live);
    const missing = [888_000_001, 888_000_002, 888_000_003];
    for (const x of missing) t.equal(code(await b.request('fetch_history', { conversation_id: x, limit: 1 })), 'not_found', `fetch_history ${x}`);
    const r = await b.request('resume', { positions: Object.fromEntries(missing.map((x) => [x, 0])) });
    t.same(r.data.conversations.map((o: { error: string }) => o.error), ['not_found', 'not_found', 'not_found'], 'resume: each not_found');
    t.equal(code(await b.request('typing', { conversation_id: 888_000_004, state: 'start' })), 'not_found', 'typing');
    t.equal(code(await b.request('edit_message', { message_id: 888_000_005, content: 'x' })), 'not_found', 'edit of a message that does not exist');
    const after = await activations(live);
    t.ok(after <= before, `no RoomActor or MessageRouter stayed for them (${before} actors before, ${after} after)`);
    b.close();
  });

  t.test('every frame a socket sends counts: unknown operations past 200 at once are refused, then 4429', async (t) => {
    const erin = await established('erin');
    const [flooder, other] = [await live.client(erin.token), await live.client(erin.token)];
    // A burst a busy client may send (the budget's burst is twice framesPerSecond): all answered.
    const pings = await Promise.all(Array.from({ length: 150 }, () => other.request('ping')));
    t.same(new Set(pings.map(code)), new Set(['ok']), '150 pings at once: all answered');
    // Frames no per-user budget sees (an unknown operation is answered validation_failed): past
    // the socket's budget each is refused rate_limited, naming it, and the 21st refusal closes it.
    const n = 260;
    const answers = new Map<string, string>();
    const replies = flooder.waitClose().then((c) => {
      for (const f of flooder.frames) if (typeof f.reply_to === 'string') answers.set(f.reply_to, code(f));
      return c;
    });
    for (let i = 0; i < n; i++) flooder.send({ type: 'no_such_op', id: `u${i}` });
    const closed = await replies;
    t.equal(closed.code, 4429, `closed with 4429 (${closed.reason})`);
    const counts = { validation_failed: 0, rate_limited: 0 };
    for (const c of answers.values()) if (c in counts) counts[c as keyof typeof counts]++;
    t.ok(counts.validation_failed >= 190 && counts.validation_failed < n - 21, `the burst answered as usual (${counts.validation_failed})`);
    t.equal(counts.rate_limited, 21, 'then 21 refused rate_limited, each naming its frame, and no more read');
    t.equal(answers.get(`u${n - 1}`), undefined, 'frames after the close: dropped unread');
    // Per socket: the user's other socket is served.
    t.equal(code(await other.request('ping')), 'ok', "the user's other socket is unaffected");
    other.close();
  });

  t.test('open sockets are capped per user and per source', async (t) => {
    const settle = async (n: number) => {
      while ((await openSockets(live)) > n) await new Promise((r) => setTimeout(r, 10));
    };
    await settle(0); // the earlier tests' sockets are gone
    const carol = await established('carol');
    const dave = await established('dave');
    const mine = [await live.client(carol.token), await live.client(carol.token), await live.client(carol.token)];
    t.equal(await upgradeStatus(live, carol.token), 429, "a user's fourth socket is refused at the upgrade");
    // By frame: the socket opens, then authenticating it passes the cap.
    const late = await live.client(null, { atUpgrade: false });
    late.send({ type: 'authenticate', id: 'a1', data: { token: carol.token } });
    const refused = await late.waitFor((f) => f.reply_to === 'a1');
    t.equal(code(refused), 'rate_limited', 'authenticate past the cap: rate_limited');
    t.equal((await late.waitClose()).code, 4429, 'then closed with 4429');
    await settle(3);
    const theirs = [await live.client(dave.token), await live.client(dave.token), await live.client(dave.token)];
    const anon = [await live.client(null, { atUpgrade: false }), await live.client(null, { atUpgrade: false })];
    t.equal(await upgradeStatus(live, null), 429, 'the source has 8: the ninth is refused');
    for (const c of [...anon, mine[0]!]) c.close();
    await settle(5);
    t.equal(await upgradeStatus(live, carol.token), 101, 'once some close, the user may open another');
    for (const c of [...mine, ...theirs]) c.close();
  });
});
