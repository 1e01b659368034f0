import t from 'tap';
import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { AccessTokens, bearerToken } from '../src/auth/jwt.js';
import { RevocationSet } from '../src/auth/revocations.js';
import { ChatError } from '../src/errors.js';

const secret = 'test-secret-'.padEnd(48, 'x');
const alice = { id: 7, username: 'alice', role: 'user' as const };
const key = new TextEncoder().encode(secret);

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const unauth = { code: 'unauthenticated' };

t.test('sign: exactly the seed claims, HS256', async (t) => {
  const tokens = new AccessTokens(secret, { ttlS: 900, now: () => 1_700_000_000_000 });
  const { token, expiresIn } = await tokens.sign(alice);
  t.equal(expiresIn, 900);
  const [h, p] = token.split('.');
  t.same(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
  t.same(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'role', 'sub', 'user_id', 'username']);
  t.match(claims, { user_id: 7, username: 'alice', role: 'user', iat: 1_700_000_000, exp: 1_700_000_900, aud: 'veza-chat', iss: 'veza-auth', sub: '7' });
  const v = await tokens.verify(token);
  t.equal(v.user_id, 7);
});

{
t.test(`verify refuses expired, tampered, other algorithms, foreign headers, wrong aud/iss, extra claims`, async (t) => {
  // The one verification path (REST, upgrade and frame call it; test/live-sessions.ts checks all three).
  const check = (tk: AccessTokens, token: string) => Promise.resolve().then(() => tk.verify(token));
  let now = 1_700_000_000_000;
  const tokens = new AccessTokens(secret, { ttlS: 900, now: () => now });
  const { token } = await tokens.sign(alice);

  now += 901_000;
  await t.rejects(check(tokens, token), { ...unauth, message: 'access token expired' });
  now = 1_700_000_000_000;

  const [h, p, s] = token.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  await t.rejects(check(tokens, `${h}.${b64({ ...payload, role: 'admin' })}.${s}`), unauth, 'tampered payload');
  // The first character: all its 6 bits are signature. Overwriting the last two with "AA" left the
  // signature intact about once in 1,024 tokens (its last character carries only 4 bits).
  const flipped = `${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
  await t.rejects(check(tokens, `${h}.${p}.${flipped}`), unauth, 'tampered signature');
  await t.rejects(check(tokens, `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`), unauth, 'alg none');

  const hs512 = await new SignJWT(payload).setProtectedHeader({ alg: 'HS512' }).sign(key);
  await t.rejects(check(tokens, hs512), unauth, 'HS512 with the right secret');
  // Hand-made HS256 over a header that claims another alg: still refused.
  const forged = `${b64({ alg: 'HS384' })}.${p}`;
  await t.rejects(check(tokens, `${forged}.${createHmac('sha256', secret).update(forged).digest('base64url')}`), unauth);

  // One set of header rules: anything but alg (HS256) and typ (JWT) is refused, even properly signed.
  const hand = (header: object) => {
    const hp = `${b64(header)}.${p}`;
    return `${hp}.${createHmac('sha256', secret).update(hp).digest('base64url')}`;
  };
  for (const extra of [{ kid: '1' }, { jku: 'https://evil.invalid/jwks' }, { jwk: { kty: 'oct', k: 'AA' } }, { x5u: 'https://evil.invalid/x' }, { x5c: ['AA'] }, { crit: ['exp'] }, { cty: 'JWT' }, { typ: 'at+jwt' }]) {
    await t.rejects(check(tokens, hand({ alg: 'HS256', typ: 'JWT', ...extra })), unauth, `header ${Object.keys(extra)[0]}`);
  }
  t.ok(await check(tokens, hand({ alg: 'HS256', typ: 'JWT' })), 'the plain header, hand-signed, passes');
  await t.rejects(check(tokens, 'A'.repeat(43)), unauth, 'a refresh token as an access token');

  const signWith = (claims: object) => new SignJWT(claims as Record<string, unknown>).setProtectedHeader({ alg: 'HS256' }).sign(key);
  await t.rejects(check(tokens, await signWith({ ...payload, aud: 'other' })), unauth, 'wrong aud');
  await t.rejects(check(tokens, await signWith({ ...payload, iss: 'evil' })), unauth, 'wrong iss');
  await t.rejects(check(tokens, await signWith({ ...payload, admin: true })), unauth, 'unknown claim');
  const { exp: _e, ...noExp } = payload;
  await t.rejects(check(tokens, await signWith(noExp)), unauth, 'no exp');
  await t.rejects(check(tokens, await signWith({ ...payload, user_id: '7' })), unauth, 'user_id not a number');
  const other = new AccessTokens('another-secret'.padEnd(48, 'y'), { ttlS: 900, now: () => now });
  await t.rejects(check(other, token), unauth, 'other secret');
  await t.rejects(check(tokens, ''), unauth);
  await t.rejects(check(tokens, 'x'.repeat(5000)), unauth);
  await t.rejects(check(tokens, 'not.a.jwt'), ChatError);
  t.ok(await signWith(payload).then((tk) => check(tokens, tk)), 'the same claims, properly signed, pass');
});
}

t.test('verify refuses a revoked session, and a revoked user up to the second of the revocation', async (t) => {
  let now = 1_700_000_000_000;
  const set = new RevocationSet(RevocationSet.allocate(), () => now);
  const tokens = new AccessTokens(secret, { ttlS: 900, now: () => now, revocations: set });
  const sidA = randomUUID();
  const sidB = randomUUID();
  const a = (await tokens.sign(alice, { sid: sidA })).token;
  const b = (await tokens.sign(alice, { sid: sidB })).token;
  t.equal(tokens.verify(a).sid, sidA);
  const gen = set.generation;
  t.ok(set.revokeSession(sidA, now + 960_000));
  t.not(set.generation, gen, 'a revocation moves the generation');
  t.throws(() => tokens.verify(a), { code: 'unauthenticated', message: 'session revoked' });
  t.equal(tokens.verify(b).sid, sidB, 'another session of the same user passes');
  t.ok(set.isSessionRevoked(sidA));
  t.notOk(set.isSessionRevoked(sidB));
  // Once the revocation has ended (its tokens all expired), the slot may be reused.
  now += 961_000;
  t.notOk(set.isSessionRevoked(sidA));
  now = 1_700_000_000_500;
  set.revokeUser(alice.id, now + 960_000);
  t.throws(() => tokens.verify(b), { message: 'session revoked' }, 'every token of the user issued so far');
  now = 1_700_000_001_000;
  const fresh = (await tokens.sign(alice, { sid: randomUUID() })).token;
  t.ok(tokens.verify(fresh), 'a token issued after the revocation second passes');
  // Many sessions: all found, none confused.
  const sids = Array.from({ length: 2000 }, () => randomUUID());
  for (const s of sids) set.revokeSession(s, now + 960_000);
  t.ok(sids.every((s) => set.isSessionRevoked(s)));
  t.notOk(set.isSessionRevoked(randomUUID()));
});

t.test('bearer header parsing', async (t) => {
  t.equal(bearerToken('Bearer abc.def'), 'abc.def');
  t.equal(bearerToken('bearer   abc '), 'abc');
  t.equal(bearerToken('Basic abc'), null);
  t.equal(bearerToken('Bearer'), null);
  t.equal(bearerToken('Bearer a b'), null);
  t.equal(bearerToken(undefined), null);
});
