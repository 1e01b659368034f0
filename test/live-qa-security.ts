/**
 * Issue 17 attacked from the wire (QA): races between a refresh and the calls that end a session.
 * A refresh in flight while the session is logged out must not
 * hand out a refresh token that outlives the session: once the ending call has answered, every
 * refresh token of the session is refused (PROTOCOL.md, "Sessions that end", POST /auth/logout).
 * Before the fix the racing rotation's new token survived (the revocation's UPDATE could not see a
 * row inserted by a transaction that committed after it started) and kept rotating; its access
 * tokens came back to life once the in-memory revocation ended, an access lifetime plus a minute on.
 *
 * And a token has one spelling: the signature's non-canonical base64url forms ('+' and '/', padding,
 * stray low bits), which Node's decoder accepts, are refused on every path.
 *
 * PostgreSQL only: the race needs two connections (PGlite runs one statement at a time).
 */
import t from 'tap';
import { call } from './helpers/http.js';
import { openClient, startLive } from './helpers/live.js';

const ROUNDS = 16;

t.test('postgres', async (t) => {
  const live = await startLive(t, 'postgres', { server: { fronts: 2, shards: 1 } });
  if (!live) return;
  const refresh = (token: string) => call(live.url, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: token } });

  t.test('a refresh racing a logout: no refresh token of the session works afterwards', async (t) => {
    let raced = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const u = await live.user('race');
      const [rotated, out] = await Promise.all([
        refresh(u.refreshToken),
        call(live.url, 'POST', '/api/v1/auth/logout', { body: { refresh_token: u.refreshToken } }),
      ]);
      t.equal(out.status, 204);
      if (rotated.status !== 200) continue;
      raced++;
      const again = await refresh(rotated.body.refresh_token);
      t.equal(again.status, 401, `round ${i}: the token from the racing refresh is refused after the logout`);
    }
    t.comment(`${raced} of ${ROUNDS} refreshes answered 200 alongside the logout`);
  });

  t.test('a signature spelled another way is not the same token', async (t) => {
    const u = await live.user('sig');
    const [h, p, sig] = u.token.split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 43 characters carry 258 bits: the last one's two low bits are not part of the signature.
    const last = alphabet[alphabet.indexOf(sig.at(-1)!) ^ 1]!;
    const spellings = { 'stray low bits': sig.slice(0, -1) + last, padded: sig + '=', 'standard alphabet': sig.replace(/-/g, '+').replace(/_/g, '/') + (/[-_]/.test(sig) ? '' : '=') };
    for (const [name, other] of Object.entries(spellings)) {
      const token = `${h}.${p}.${other}`;
      t.equal((await call(live.url, 'GET', '/api/v1/users/me', { token })).status, 401, `${name}: REST`);
      const c = await openClient(live.wsUrl, null);
      const reply = await c.request('authenticate', { token });
      t.equal(reply.data?.code, 'unauthenticated', `${name}: authenticate`);
      c.close();
    }
    t.equal((await call(live.url, 'GET', '/api/v1/users/me', { token: u.token })).status, 200, 'the token as issued works');
  });
});
