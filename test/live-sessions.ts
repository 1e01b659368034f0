/**
 * Issue 17, the auth half, end to end on both backends: sessions that end (logout, refresh-token
 * reuse, password change) refuse their access tokens at once on REST, the WebSocket upgrade (header
 * and query) and the `authenticate` frame, and close their sockets with 4401; concurrent refreshes
 * with one token get one answer; every token negative on all three paths; login throttles that slow
 * down and never lock out; a real login under a flood; the audit trail and its admin endpoint.
 *
 * Both backends run the scenarios that go through the store (sessions, refresh, password, audit);
 * the throttle and flood scenarios, whose state is in memory, run on PGlite only (they cost ~10 s
 * of the suite's budget each time).
 *
 * Every test speaks from its own loopback address (127.0.x.y; Linux routes all of 127/8 to lo), so
 * the per-source budgets are real (not lifted as in the other live tests) and tests do not share
 * them. Password hashing runs at scrypt logN 14 (~20–60 ms here) so that a flood costs something.
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import t, { type Test } from 'tap';
import { resolveJwtSecret } from '../src/config/index.js';
import { openClient, startLive, type Backend, type Live } from './helpers/live.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

let sourceSeq = 0;
/** A fresh loopback source address. */
const newSource = () => {
  const n = ++sourceSeq;
  return `127.0.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
};

/** A REST call from `source` (a loopback address of this machine). */
function from(live: Live, source: string, method: string, path: string, opts: { body?: unknown; token?: string } = {}): Promise<Reply> {
  const u = new URL(live.url + '/api/v1' + path);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        localAddress: source,
        agent: false,
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const PASSWORD = 'a quiet lighthouse keeper';

interface Account {
  id: number;
  username: string;
  source: string;
}

let userSeq = 0;
async function account(live: Live, source = newSource(), name = 'u'): Promise<Account> {
  const username = `${name}${process.pid % 1000}s${++userSeq}`;
  const r = await from(live, source, 'POST', '/auth/register', { body: { username, email: `${username}@example.test`, password: PASSWORD } });
  if (r.status !== 201) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.user.id, username, source };
}

interface Pair {
  access_token: string;
  refresh_token: string;
}

async function login(live: Live, a: Account, source = a.source): Promise<Pair> {
  const r = await from(live, source, 'POST', '/auth/login', { body: { username: a.username, password: PASSWORD } });
  if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** How each of the three paths answers `token`: REST status, upgrade (header, query) status, frame. */
async function paths(live: Live, token: string): Promise<{ rest: number; header: number; query: number; frame: string }> {
  const rest = (await from(live, '127.0.0.1', 'GET', '/users/me', { token })).status;
  const upgrade = async (query: boolean): Promise<number> => {
    try {
      const c = query
        ? await openClient(`${live.wsUrl}?access_token=${encodeURIComponent(token)}`, null)
        : await openClient(live.wsUrl, token);
      c.close();
      return 101;
    } catch (e) {
      return (e as { status?: number }).status ?? 0;
    }
  };
  const c = await openClient(live.wsUrl, null);
  const reply = await c.request('authenticate', { token });
  let frame = reply.type === 'ack' ? 'ack' : `${reply.data?.code}`;
  if (reply.type === 'error') frame += ` ${(await c.waitClose()).code}`;
  c.close();
  return { rest, header: await upgrade(false), query: await upgrade(true), frame };
}

const REFUSED = { rest: 401, header: 401, query: 401, frame: 'unauthenticated 4401' };
const ACCEPTED = { rest: 200, header: 101, query: 101, frame: 'ack' };

function suite(t: Test, backend: Backend): void {
  const memoryOnly = backend === 'pglite' ? t.test.bind(t) : (name: string, _fn: unknown) => t.test(name, { skip: 'in-memory throttles: run on pglite' }, async () => {});
  let node: Promise<Live | null> | undefined;
  const shared = () =>
    (node ??= startLive(t, backend, {
      auth: {
        scryptLogN: 14,
        // Real per-source budgets (the other live tests lift them); 1 s of grace keeps the test short.
        sourceAttemptsPerMinute: 10,
        hashPerSource: 4,
        // A short queue: the flood is refused sooner (and the test is short); a known account still goes first.
        hashMaxQueued: 8,
        refreshGraceS: 1,
      },
    }));

  t.test('logout: the session\'s access token is refused at once on REST, upgrade and frame; its sockets close', async (t) => {
    const live = await shared();
    if (!live) return;
    const a = await account(live);
    const s1 = await login(live, a);
    const s2 = await login(live, a);
    t.same(await paths(live, s1.access_token), ACCEPTED, 'before: accepted everywhere');
    const sock1 = await live.client(s1.access_token);
    const sock1q = await openClient(`${live.wsUrl}?access_token=${s1.access_token}`, null);
    const sock1f = await live.client(null, { atUpgrade: false });
    t.equal((await sock1f.request('authenticate', { token: s1.access_token })).type, 'ack');
    const sock2 = await live.client(s2.access_token);

    t.equal((await from(live, a.source, 'POST', '/auth/logout', { body: { refresh_token: s1.refresh_token } })).status, 204);
    // No wait: refused from the moment logout answered.
    t.same(await paths(live, s1.access_token), REFUSED, 'after: refused everywhere');
    const me = await from(live, '127.0.0.1', 'GET', '/users/me', { token: s1.access_token });
    t.equal(me.body.error.message, 'session revoked');
    for (const s of [sock1, sock1q, sock1f]) t.equal((await s.waitClose()).code, 4401, 'the session\'s socket closed with 4401');
    // The user's other session lives on.
    t.same(await paths(live, s2.access_token), ACCEPTED, 'another session of the same user is untouched');
    t.equal((await sock2.request('authenticate', { token: s2.access_token })).type, 'ack');
    t.equal(sock2.closed, null, 'its socket stays open');
    sock2.close();
  });

  t.test('refresh-token reuse: the newest access token of the family is refused on every path', async (t) => {
    const live = await shared();
    if (!live) return;
    const a = await account(live);
    const s0 = await login(live, a);
    const s1 = (await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s0.refresh_token } })).body as Pair;
    const s2 = (await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s1.refresh_token } })).body as Pair;
    t.same(await paths(live, s2.access_token), ACCEPTED);
    const sock = await live.client(s2.access_token);
    // The first token again, its replacement already spent: a copy is in other hands.
    const replay = await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s0.refresh_token } });
    t.equal(replay.status, 401);
    t.same(await paths(live, s2.access_token), REFUSED, 'the family\'s newest access token is refused');
    t.same(await paths(live, s1.access_token), REFUSED);
    t.equal((await sock.waitClose()).code, 4401);
    t.equal((await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s2.refresh_token } })).status, 401, 'its refresh token too');

    // After the grace window, presenting a spent token (its replacement still live) revokes as well.
    const g0 = await login(live, a);
    const g1 = (await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: g0.refresh_token } })).body as Pair;
    await new Promise((r) => setTimeout(r, 1300));
    t.equal((await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: g0.refresh_token } })).status, 401);
    t.same(await paths(live, g1.access_token), REFUSED, 'reuse after the window revokes');
  });

  t.test('two concurrent refreshes with one token both succeed, with the same answer', async (t) => {
    const live = await shared();
    if (!live) return;
    const a = await account(live);
    const s0 = await login(live, a);
    const [r1, r2] = await Promise.all([
      from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s0.refresh_token } }),
      from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s0.refresh_token } }),
    ]);
    t.equal(r1.status, 200);
    t.equal(r2.status, 200, 'the second tab is not logged out');
    t.same(r1.body, r2.body, 'the same new pair');
    t.same(await paths(live, r1.body.access_token), ACCEPTED);
    const next = await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: r2.body.refresh_token } });
    t.equal(next.status, 200, 'and the family goes on');
  });

  t.test('password change: every session ends at once; the new pair works; POST /auth/password rules', async (t) => {
    const live = await shared();
    if (!live) return;
    const a = await account(live);
    const s1 = await login(live, a);
    const s2 = await login(live, a);
    const sockets = [await live.client(s1.access_token), await live.client(s2.access_token)];
    const changed = await from(live, a.source, 'POST', '/auth/password', {
      token: s1.access_token,
      body: { current_password: PASSWORD, new_password: 'an entirely new passphrase' },
    });
    t.equal(changed.status, 200);
    for (const s of [s1, s2]) t.same(await paths(live, s.access_token), REFUSED, 'every earlier session is refused');
    for (const s of sockets) t.equal((await s.waitClose()).code, 4401);
    t.same(await paths(live, changed.body.access_token), ACCEPTED, 'the pair the change answered works');
    t.equal((await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s2.refresh_token } })).status, 401);
    const unauth = await from(live, a.source, 'POST', '/auth/password', { body: { current_password: PASSWORD, new_password: 'x'.repeat(20) } });
    t.equal(unauth.status, 401, 'needs a bearer token');
  });

  t.test('every token negative, on REST, upgrade (header and query) and authenticate frame alike', async (t) => {
    const live = await shared();
    if (!live) return;
    const secret = resolveJwtSecret(live.config).secret;
    const a = await account(live);
    const good = await login(live, a);
    const [h, p, sig] = good.access_token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const sign = (header: object, payload: object, key = secret, hmac = 'sha256') => {
      const hp = `${b64(header)}.${b64(payload)}`;
      return `${hp}.${createHmac(hmac, key).update(hp).digest('base64url')}`;
    };
    const now = Math.floor(Date.now() / 1000);
    const cases: Record<string, string> = {
      expired: sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 2000, exp: now - 1000 }),
      'wrong alg (HS512)': sign({ alg: 'HS512', typ: 'JWT' }, claims, secret, 'sha512'),
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
      'bad signature': `${h}.${p}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`,
      'other secret': sign({ alg: 'HS256', typ: 'JWT' }, claims, 'another secret entirely, 32 bytes+'),
      'header kid': sign({ alg: 'HS256', typ: 'JWT', kid: 'k1' }, claims),
      'header jku': sign({ alg: 'HS256', typ: 'JWT', jku: 'https://evil.invalid/jwks.json' }, claims),
      'header jwk': sign({ alg: 'HS256', typ: 'JWT', jwk: { kty: 'oct', k: 'AAAA' } }, claims),
      'header x5u': sign({ alg: 'HS256', typ: 'JWT', x5u: 'https://evil.invalid/cert' }, claims),
      'header crit': sign({ alg: 'HS256', typ: 'JWT', crit: ['exp'] }, claims),
      'tampered payload': `${h}.${b64({ ...claims, role: 'admin' })}.${sig}`,
      'unknown claim': sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, admin: true }),
      'refresh token as access token': good.refresh_token,
    };
    for (const [what, token] of Object.entries(cases)) t.same(await paths(live, token), REFUSED, what);
    // A revoked session, signed properly: refused too.
    await from(live, a.source, 'POST', '/auth/logout', { body: { refresh_token: good.refresh_token } });
    t.same(await paths(live, good.access_token), REFUSED, 'revoked session');
    // The control: a well-formed token of a live session passes everywhere.
    t.same(await paths(live, (await login(live, a)).access_token), ACCEPTED, 'a good token passes');
    t.same(await paths(live, sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, sid: randomUUID() })), ACCEPTED, 'hand-signed with the right secret passes');
  });

  memoryOnly('five wrong passwords do not lock out the right one; throttles answer 429 with Retry-After', async (t) => {
    const live = await shared();
    if (!live) return;
    const a = await account(live);
    const attacker = newSource();
    for (let i = 0; i < 5; i++) {
      const r = await from(live, attacker, 'POST', '/auth/login', { body: { username: a.username, password: `wrong guess ${i}` } });
      t.equal(r.status, 401, `wrong ${i + 1}`);
    }
    const slowed = await from(live, attacker, 'POST', '/auth/login', { body: { username: a.username, password: PASSWORD } });
    t.equal(slowed.status, 429, 'the guessing source waits');
    t.equal(slowed.body.error.code, 'rate_limited');
    const retry = Number(slowed.headers['retry-after']);
    t.ok(retry >= 1 && retry <= 2, `Retry-After ${retry}`);
    t.ok(await login(live, a), 'the real user, from their own address, logs in at once');
    await new Promise((r) => setTimeout(r, retry * 1000 + 50));
    t.ok(await login(live, a, attacker), 'and from the guessing address once the delay is over');

    // Per source: login and registration attempts share a budget of 10 a minute.
    const flooder = newSource();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await from(live, flooder, 'POST', i % 2 ? '/auth/login' : '/auth/register', {
        body: i % 2 ? { username: `nobody${i}`, password: 'not a real one' } : { username: `flood${process.pid % 1000}x${i}`, email: `f${i}@x.test`, password: 'longer than eight' },
      });
      statuses.push(r.status);
      if (r.status === 429) {
        t.ok(Number(r.headers['retry-after']) >= 1, 'with Retry-After');
        break;
      }
    }
    t.equal(statuses.at(-1), 429, `the source is throttled after ${statuses.length - 1} attempts`);
    // 10 a minute, refilled continuously (one every 6 s) while the loop runs.
    t.ok(statuses.length - 1 >= 10 && statuses.length - 1 <= 12, 'after its budget of 10');
  });

  memoryOnly('a real login under a 120-login flood for unknown users answers in under 1 s', async (t) => {
    const live = await shared();
    if (!live) return;
    const real = await account(live);
    const timeLogin = async () => {
      const t0 = performance.now();
      await login(live, real);
      return performance.now() - t0;
    };
    const flood = (sources: () => string) =>
      Array.from({ length: 120 }, (_, i) =>
        from(live, sources(), 'POST', '/auth/login', { body: { username: `ghost${i}x${randomUUID().slice(0, 8)}`, password: 'whatever it is' } }).then(
          (r) => r.status,
          () => 0, // a reset connection: counted as a failure below
        ),
      );
    // From one address: its per-source bounds cut it at once.
    const one = newSource();
    const sameSource = flood(() => one);
    await new Promise((r) => setTimeout(r, 30));
    const ms1 = await timeLogin();
    const s1 = await Promise.all(sameSource);
    t.ok(ms1 < 1000, `real login during a one-address flood: ${ms1.toFixed(0)} ms`);
    t.ok(s1.filter((s) => s === 429).length >= 100, 'most of that flood is 429 without hashing');
    t.ok(s1.every((s) => s === 401 || s === 429), 'the rest 401');
    // From 120 addresses: no per-source bound applies; a known account's check goes first.
    const many = flood(newSource);
    await new Promise((r) => setTimeout(r, 30));
    const ms2 = await timeLogin();
    const s2 = await Promise.all(many);
    t.ok(ms2 < 1000, `real login during a 120-address flood: ${ms2.toFixed(0)} ms`);
    t.ok(s2.every((s) => s === 401 || s === 429), `the flood: ${s2.filter((s) => s === 401).length} × 401, ${s2.filter((s) => s === 429).length} × 429`);
    // Wrong passwords for one known account from 120 addresses (found by a black-box test: the
    // failures counted only as checks ended, so ~130 checks ran and filled the hashing queue).
    const target = await account(live);
    const onAccount = Array.from({ length: 120 }, () =>
      from(live, newSource(), 'POST', '/auth/login', { body: { username: target.username, password: 'a wrong guess' } }).then((r) => r.status, () => 0),
    );
    await new Promise((r) => setTimeout(r, 30));
    const ms3 = await timeLogin();
    const s3 = await Promise.all(onAccount);
    t.ok(ms3 < 1000, `another user's login during a one-account flood: ${ms3.toFixed(0)} ms`);
    t.ok(s3.filter((s) => s === 401).length < 40, `few checks on that account ran: ${s3.filter((s) => s === 401).length} × 401, ${s3.filter((s) => s === 429).length} × 429`);
  });

  t.test('audit trail: entries with actor, target, time and source; GET /admin/audit filters, pages, admins only', async (t) => {
    const live = await shared();
    if (!live) return;
    const a = await account(live);
    const s0 = await login(live, a);
    await from(live, a.source, 'POST', '/auth/login', { body: { username: a.username, password: 'not the password' } });
    const s1 = (await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s0.refresh_token } })).body as Pair;
    await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s1.refresh_token } });
    await from(live, a.source, 'POST', '/auth/refresh', { body: { refresh_token: s0.refresh_token } }); // reuse
    const s3 = await login(live, a);
    await from(live, a.source, 'POST', '/auth/logout', { body: { refresh_token: s3.refresh_token } });
    const s4 = await login(live, a);
    await from(live, a.source, 'POST', '/auth/password', { token: s4.access_token, body: { current_password: PASSWORD, new_password: 'the audit passphrase' } });

    const boss = await account(live, newSource(), 'boss');
    const bossToken = async () => {
      const r = await from(live, boss.source, 'POST', '/auth/login', { body: { username: boss.username, password: PASSWORD } });
      return r.body.access_token as string;
    };
    const userToken = await bossToken();
    t.equal((await from(live, boss.source, 'GET', '/admin/audit', { token: userToken })).status, 403, 'a user gets 403');
    t.equal((await from(live, boss.source, 'GET', '/admin/audit')).status, 401, 'no token: 401');
    await live.node.store.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [boss.id]);
    // The role is read from the store: the same token now passes.
    const adminToken = userToken;
    const q = (query: string) => from(live, boss.source, 'GET', `/admin/audit?${query}`, { token: adminToken });

    const mine = await q(`target_type=user&target_id=${a.id}&limit=100`);
    t.equal(mine.status, 200);
    const actions = (r: Reply) => r.body.entries.map((e: { action: string }) => e.action);
    for (const action of ['auth.register', 'auth.login', 'auth.login_failed', 'auth.password_changed', 'auth.sessions_revoked']) {
      t.ok(actions(mine).includes(action), `${action} audited`);
    }
    const bySession = await q(`actor=${a.id}&action=auth.*&limit=100`);
    for (const action of ['auth.refresh', 'auth.refresh_reuse', 'auth.logout']) t.ok(actions(bySession).includes(action), `${action} audited`);
    const failed = (await q(`action=auth.login_failed&actor=${a.id}`)).body.entries[0];
    t.match(failed, { actor_id: a.id, action: 'auth.login_failed', target_type: 'user', target_id: String(a.id), ip: a.source, details: { reason: 'wrong_password' }, created_at: String });
    t.ok(Math.abs(Date.parse(failed.created_at) - Date.now()) < 60_000, 'with its time');

    // Cursor pagination, newest first, no entry twice.
    const seen: number[] = [];
    let cursor: number | null = null;
    do {
      const page: Reply = await q(`actor=${a.id}&limit=3${cursor === null ? '' : `&before=${cursor}`}`);
      t.ok(page.body.entries.length <= 3);
      seen.push(...page.body.entries.map((e: { id: number }) => e.id));
      cursor = page.body.has_more ? page.body.next_cursor : null;
    } while (cursor !== null);
    t.same(seen, [...seen].sort((x, y) => y - x), 'newest first');
    t.equal(new Set(seen).size, seen.length, 'no entry twice');
    t.equal(seen.length, bySession.body.entries.length, 'the pages hold every entry of the actor');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    t.same((await q(`actor=${a.id}&since=${encodeURIComponent(future)}`)).body.entries, [], 'since');
    t.equal((await q(`actor=${a.id}&until=${encodeURIComponent(future)}&limit=1`)).body.entries.length, 1, 'until');
    const bad = await q('limit=0&actor=abc&bogus=1');
    t.equal(bad.status, 400);
    t.equal(bad.body.error.code, 'validation_failed');
  });
}

for (const backend of ['pglite', 'postgres'] as const) t.test(backend, async (t) => suite(t, backend));
