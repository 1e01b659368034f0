/**
 * The auth REST surface over real HTTP on loopback, the same scenarios on PGlite and PostgreSQL.
 */
import t, { type Test } from 'tap';
import { SignJWT } from 'jose';
import { AccessTokens } from '../src/auth/jwt.js';
import { createAccount } from '../src/auth/service.js';
import { hashRefreshToken } from '../src/auth/refresh.js';
import { buildRestSchemas } from '../src/protocol/rest.js';
import { configSchema } from '../src/config/index.js';
import { BACKENDS, call, serveAuth, startAuthServer, TEST_SECRET, type AuthServer } from './helpers/http.js';

const key = new TextEncoder().encode(TEST_SECRET);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const decode = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());

async function register(s: AuthServer, username: string, password = 'password-' + username) {
  const r = await call(s.url, 'POST', '/api/v1/auth/register', { body: { username, email: `${username}@example.com`, password } });
  if (r.status !== 201) throw new Error(`register ${username}: ${r.status} ${r.text}`);
  return { user: r.body.user, password };
}

async function login(s: AuthServer, username: string, password: string) {
  return call(s.url, 'POST', '/api/v1/auth/login', { body: { username, password } });
}

function scenarios(t: Test, s: AuthServer): void {
  const api = (method: string, path: string, opts?: Parameters<typeof call>[3]) => call(s.url, method, '/api/v1' + path, opts);

  t.test('health and readiness', async (t) => {
    const h = await call(s.url, 'GET', '/health');
    t.equal(h.status, 200);
    t.same(h.body, { status: 'ok' });
    const r = await call(s.url, 'GET', '/ready');
    t.equal(r.status, 200);
    t.same(r.body, { status: 'ready', checks: { database: 'ok', redis: 'ok' } });
    s.redisUp.value = false;
    const down = await call(s.url, 'GET', '/ready');
    s.redisUp.value = true;
    t.equal(down.status, 503);
    t.same(down.body.checks, { database: 'ok', redis: 'failed' });
    t.notMatch(down.text, /redis down/, 'the reason is logged, not sent');
    const wrongMethod = await call(s.url, 'POST', '/health');
    t.equal(wrongMethod.status, 405);
    t.equal(wrongMethod.body.error.code, 'method_not_allowed');
    t.equal(wrongMethod.headers.get('allow'), 'GET');
    t.equal((await api('GET', '/nothing/here')).status, 404);
  });

  t.test('register', async (t) => {
    const r = await api('POST', '/auth/register', { body: { username: 'alice', email: 'alice@example.com', password: 'alice-password' } });
    t.equal(r.status, 201);
    t.same(Object.keys(r.body), ['user']);
    t.match(r.body.user, { id: Number, username: 'alice', email: 'alice@example.com', role: 'user', created_at: String });
    t.same(Object.keys(r.body.user).sort(), ['created_at', 'email', 'id', 'role', 'username']);
    t.notMatch(r.text, /password|scrypt/);
    t.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
  });

  t.test('register: bad input is 400 and writes nothing', async (t) => {
    const ok = { username: 'newbie', email: 'newbie@example.com', password: 'newbie-password' };
    const bad: [string, unknown, string, string[]][] = [
      ['missing fields', { username: 'newbie' }, 'validation_failed', ['email', 'password']],
      ['extra field', { ...ok, role: 'admin' }, 'validation_failed', ['role']],
      ['short password', { ...ok, password: 'short77' }, 'validation_failed', ['password']],
      ['short username', { ...ok, username: 'nb' }, 'validation_failed', ['username']],
      ['long username', { ...ok, username: 'n'.repeat(51) }, 'validation_failed', ['username']],
      ['bad username', { ...ok, username: 'new bie!' }, 'validation_failed', ['username']],
      ['bad e-mail', { ...ok, email: 'not-an-email' }, 'validation_failed', ['email']],
      ['wrong types', { ...ok, password: 12345678 }, 'validation_failed', ['password']],
      ['not an object', [ok], 'validation_failed', ['']],
    ];
    for (const [what, body, code, paths] of bad) {
      const r = await api('POST', '/auth/register', { body });
      t.equal(r.status, 400, what);
      t.equal(r.body.error.code, code, what);
      t.same(r.body.error.details.map((d: { path: string }) => d.path).sort(), paths, what);
    }
    for (const raw of ['{"username":', 'username=newbie', '']) {
      const r = await api('POST', '/auth/register', { raw, headers: { 'content-type': 'application/json' } });
      t.equal(r.status, 400, `raw ${JSON.stringify(raw)}`);
      t.equal(r.body.error.code, raw === '' ? 'validation_failed' : 'invalid_json');
    }
    t.equal(await s.store.getUserByUsername('newbie'), null, 'no row');
  });

  t.test('register: duplicates are 409 and leave no row', async (t) => {
    await register(s, 'dupe');
    const sameName = await api('POST', '/auth/register', { body: { username: 'dupe', email: 'other@example.com', password: 'password-x1' } });
    t.equal(sameName.status, 409);
    t.equal(sameName.body.error.code, 'conflict');
    const caseName = await api('POST', '/auth/register', { body: { username: 'DUPE', email: 'other2@example.com', password: 'password-x1' } });
    t.equal(caseName.status, 409, 'usernames are unique regardless of case');
    const sameMail = await api('POST', '/auth/register', { body: { username: 'dupe2', email: 'DUPE@example.com', password: 'password-x1' } });
    t.equal(sameMail.status, 409);
    t.equal(await s.store.getUserByUsername('dupe2'), null);
  });

  t.test('register: body over the limit is 413', async (t) => {
    const r = await api('POST', '/auth/register', {
      body: { username: 'big', email: 'big@example.com', password: 'p'.repeat(s.config.server.maxBodyBytes) },
    });
    t.equal(r.status, 413);
    t.equal(r.body.error.code, 'payload_too_large');
    t.equal(await s.store.getUserByUsername('big'), null);
  });

  t.test('login: the seed response, tokens that work', async (t) => {
    const { user, password } = await register(s, 'bob');
    const r = await login(s, 'bob', password);
    t.equal(r.status, 200);
    t.same(Object.keys(r.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'user']);
    t.equal(r.body.expires_in, 900);
    t.same(r.body.user, { id: user.id, username: 'bob', role: 'user' });
    t.match(r.body.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    const claims = decode(r.body.access_token);
    t.match(claims, { user_id: user.id, username: 'bob', role: 'user', aud: 'veza-chat', iss: 'veza-auth' });
    t.equal(claims.exp - claims.iat, 900);
    const me = await api('GET', '/users/me', { token: r.body.access_token });
    t.equal(me.status, 200);
    t.same(me.body, user, 'me is the user object itself');
    t.equal((await login(s, 'BOB', password)).status, 200, 'usernames match regardless of case');
  });

  t.test('login: wrong password and unknown user look the same', async (t) => {
    await register(s, 'carol');
    const before = { ...s.hashCalls };
    const wrong = await login(s, 'carol', 'not-her-password');
    const afterWrong = { ...s.hashCalls };
    const unknown = await login(s, 'nobody-at-all', 'whatever-password');
    t.equal(wrong.status, 401);
    t.equal(unknown.status, 401);
    t.same(wrong.body, unknown.body);
    t.equal(wrong.body.error.code, 'unauthenticated');
    t.equal(afterWrong.verify - before.verify, 1, 'one password check for a wrong password');
    t.equal(s.hashCalls.verify - afterWrong.verify, 1, 'and one, against a decoy, for an unknown user');
    const missing = await api('POST', '/auth/login', { body: { username: 'carol' } });
    t.equal(missing.status, 400);
    const extra = await api('POST', '/auth/login', { body: { username: 'carol', password: 'x', otp: 1 } });
    t.same(extra.body.error.details, [{ path: 'otp', message: 'unknown field' }]);
  });

  t.test('login: 5 failures slow that source down for a second; the right password passes after it', async (t) => {
    // Issue 17: five wrong passwords locked the account for 15 minutes, even for the right one.
    const { password } = await register(s, 'dave');
    // Success clears failures: 4 wrong, 1 right, then the count starts again.
    for (let i = 0; i < 4; i++) t.equal((await login(s, 'dave', 'wrong-password')).status, 401);
    t.equal((await login(s, 'dave', password)).status, 200, 'success clears the failures');
    for (let i = 0; i < 5; i++) t.equal((await login(s, 'dave', 'wrong-password')).status, 401, `failure ${i + 1}`);
    const before = s.hashCalls.verify;
    const slowed = await login(s, 'dave', password);
    t.equal(slowed.status, 429);
    t.equal(slowed.body.error.code, 'rate_limited');
    const retry = Number(slowed.headers.get('retry-after'));
    t.equal(retry, 1, 'the first delay: loginDelayMs (1 s)');
    t.equal(s.hashCalls.verify, before, 'a delayed try costs no hashing');
    await new Promise((r) => setTimeout(r, retry * 1000 + 50));
    t.equal((await login(s, 'dave', password)).status, 200, 'the right password passes once the delay is over');
    t.equal((await login(s, 'carol', 'password-carol')).status, 200, 'other accounts are not affected');
  });

  t.test('bearer tokens: missing, expired, tampered, other alg, wrong aud/iss', async (t) => {
    const { password } = await register(s, 'erin');
    const good = (await login(s, 'erin', password)).body.access_token as string;
    const claims = decode(good);
    const me = (token?: string, headers?: Record<string, string>) =>
      api('GET', '/users/me', { ...(token ? { token } : {}), ...(headers ? { headers } : {}) });
    t.equal((await me(good)).status, 200);

    const past = new AccessTokens(TEST_SECRET, { ttlS: 900, now: () => Date.now() - 3600_000 });
    const expired = (await past.sign({ id: claims.user_id, username: 'erin', role: 'user' })).token;
    const [h, p, sig] = good.split('.') as [string, string, string];
    const sign = (c: object, alg = 'HS256') => new SignJWT(c as Record<string, unknown>).setProtectedHeader({ alg }).sign(key);
    const cases: [string, string | undefined, Record<string, string>?][] = [
      ['no token', undefined],
      ['not bearer', undefined, { authorization: `Basic ${Buffer.from('erin:x').toString('base64')}` }],
      ['expired', expired],
      ['tampered payload', `${h}.${b64({ ...claims, role: 'admin' })}.${sig}`],
      ['tampered signature', `${h}.${p}.${sig.slice(0, -3)}abc`],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`],
      ['HS512', await sign(claims, 'HS512')],
      ['wrong aud', await sign({ ...claims, aud: 'veza-admin' })],
      ['wrong iss', await sign({ ...claims, iss: 'someone' })],
      ['garbage', 'abc.def.ghi'],
    ];
    for (const [what, token, headers] of cases) {
      const r = await me(token, headers);
      t.equal(r.status, 401, what);
      t.equal(r.body.error.code, 'unauthenticated', what);
    }
    t.equal((await me(expired)).body.error.message, 'access token expired');
    t.equal((await me(await sign(claims))).status, 200, 'the same claims, signed properly, pass');
  });

  t.test('GET /users/:id: e-mail only for self and admins', async (t) => {
    const frank = await register(s, 'frank');
    const gina = await register(s, 'gina');
    const admin = await createAccount(
      { store: s.store, hasher: { hash: async () => 'scrypt$1$1$1$AAAA$' + 'A'.repeat(44), verify: async () => false }, schema: buildRestSchemas(s.config).register },
      { username: 'boss', email: 'boss@example.com', password: 'boss-password' },
      'admin',
    );
    const frankToken = (await login(s, 'frank', frank.password)).body.access_token;
    const adminToken = (await s.tokens.sign(admin)).token;
    const other = await api('GET', `/users/${gina.user.id}`, { token: frankToken });
    t.equal(other.status, 200);
    t.same(other.body, { id: gina.user.id, username: 'gina', role: 'user', created_at: gina.user.created_at });
    const self = await api('GET', `/users/${frank.user.id}`, { token: frankToken });
    t.equal(self.body.email, 'frank@example.com');
    const asAdmin = await api('GET', `/users/${gina.user.id}`, { token: adminToken });
    t.equal(asAdmin.body.email, 'gina@example.com');
    t.equal((await api('GET', '/users/999999', { token: frankToken })).status, 404);
    const bad = await api('GET', '/users/abc', { token: frankToken });
    t.equal(bad.status, 400);
    t.same(bad.body.error.details.map((d: { path: string }) => d.path), ['id']);
    t.equal((await api('GET', `/users/${gina.user.id}`)).status, 401);
  });

  t.test('refresh: rotation; a spent token revokes the family', async (t) => {
    const { password } = await register(s, 'hank');
    const first = (await login(s, 'hank', password)).body;
    const r1 = await api('POST', '/auth/refresh', { body: { refresh_token: first.refresh_token } });
    t.equal(r1.status, 200);
    t.same(Object.keys(r1.body).sort(), ['access_token', 'expires_in', 'refresh_token']);
    t.equal(r1.body.expires_in, 900);
    t.not(r1.body.refresh_token, first.refresh_token);
    t.equal((await api('GET', '/users/me', { token: r1.body.access_token })).status, 200);

    const r2 = await api('POST', '/auth/refresh', { body: { refresh_token: r1.body.refresh_token } });
    t.equal(r2.status, 200, 'the child rotates too');
    // Replay the spent first token: 401, and the live descendant dies with its family.
    const replay = await api('POST', '/auth/refresh', { body: { refresh_token: first.refresh_token } });
    t.equal(replay.status, 401);
    t.equal(replay.body.error.code, 'unauthenticated');
    const child = await api('POST', '/auth/refresh', { body: { refresh_token: r2.body.refresh_token } });
    t.equal(child.status, 401, 'the rotated child is revoked as well');

    // Another login's family is untouched.
    const other = (await login(s, 'hank', password)).body;
    t.equal((await api('POST', '/auth/refresh', { body: { refresh_token: other.refresh_token } })).status, 200);

    for (const body of [{ refresh_token: 'x'.repeat(43) }, { refresh_token: 'short' }]) {
      t.equal((await api('POST', '/auth/refresh', { body })).status, 401);
    }
    t.equal((await api('POST', '/auth/refresh', { body: {} })).status, 400);
    t.equal((await api('POST', '/auth/refresh', { body: { refresh_token: first.refresh_token, extra: 1 } })).status, 400);
  });

  t.test('logout: 204, the family is revoked, idempotent', async (t) => {
    const { password } = await register(s, 'ivy');
    const tokens = (await login(s, 'ivy', password)).body;
    const rotated = (await api('POST', '/auth/refresh', { body: { refresh_token: tokens.refresh_token } })).body;
    const out = await api('POST', '/auth/logout', { body: { refresh_token: rotated.refresh_token } });
    t.equal(out.status, 204);
    t.equal(out.text, '');
    t.equal((await api('POST', '/auth/refresh', { body: { refresh_token: rotated.refresh_token } })).status, 401);
    t.equal((await api('POST', '/auth/logout', { body: { refresh_token: rotated.refresh_token } })).status, 204, 'again');
    t.equal((await api('POST', '/auth/logout', { body: { refresh_token: 'unknown' } })).status, 204);
    t.equal((await api('POST', '/auth/logout', { body: {} })).status, 400);
    t.not(await s.store.revokeRefreshToken(hashRefreshToken(rotated.refresh_token)), null, 'the row is kept (revoked), not deleted');
  });

  t.test('register and password change refuse common passwords and the username', async (t) => {
    for (const [username, password, why] of [
      ['weak1', 'password123', /most common/],
      ['weak2', 'qwertyuiop', /most common/],
      ['kallisto', 'Kallisto7', /username/],
      ['saturn', 'Saturn2024!', /username/],
      ['neptune', 'enutpen!', /username/],
    ] as const) {
      const r = await api('POST', '/auth/register', { body: { username, email: `${username}@example.com`, password } });
      t.equal(r.status, 400, `${username} / ${password}`);
      t.equal(r.body.error.code, 'validation_failed');
      t.match(r.body.error.details, [{ path: 'password', message: why }]);
      t.equal(await s.store.getUserByUsername(username), null, 'no row');
    }
    const { password } = await register(s, 'pluto', 'pluto-password-ok');
    const token = (await login(s, 'pluto', password)).body.access_token;
    const weak = await api('POST', '/auth/password', { token, body: { current_password: password, new_password: 'baseball' } });
    t.equal(weak.status, 400);
    t.match(weak.body.error.details, [{ path: 'new_password', message: /most common/ }]);
    const wrong = await api('POST', '/auth/password', { token, body: { current_password: 'not-it-at-all', new_password: 'a new long passphrase' } });
    t.equal(wrong.status, 401);
    const changed = await api('POST', '/auth/password', { token, body: { current_password: password, new_password: 'a new long passphrase' } });
    t.equal(changed.status, 200);
    t.same(Object.keys(changed.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'user']);
    t.equal((await login(s, 'pluto', password)).status, 401, 'the old password is gone');
    t.equal((await login(s, 'pluto', 'a new long passphrase')).status, 200);
    t.equal((await api('GET', '/users/me', { token: changed.body.access_token })).status, 200, 'the new pair works');
  });
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const s = await startAuthServer(t, backend);
    if (!s) return;
    scenarios(t, s);
    if (backend === 'pglite') {
      t.test('the real default scrypt cost, end to end', async (t) => {
        // Same store, a second App whose hasher runs at the default cost (logN 17).
        const config = { ...s.config, auth: { ...s.config.auth, scryptLogN: configSchema.parse({}).auth.scryptLogN } };
        const real = await serveAuth(t, backend, config, s.store);
        const { user, password } = await register(real, 'realcost');
        t.match((await s.store.getCredentials('realcost'))?.password_hash, /^scrypt\$17\$8\$1\$/);
        const r = await login(real, 'realcost', password);
        t.equal(r.status, 200);
        t.equal(r.body.user.id, user.id);
      });
    }
  });
}
