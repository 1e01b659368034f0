/**
 * A node's revocation set at start (src/auth/load-revocations.ts), from a real PostgreSQL store:
 * sessions ended by logout or reuse within the access-token lifetime are refused after a restart;
 * rotations, live sessions and revocations older than the lifetime are not loaded.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { AccessTokens } from '../src/auth/jwt.js';
import { loadRevocations } from '../src/auth/load-revocations.js';
import { RevocationSet } from '../src/auth/revocations.js';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { openStore } from '../src/store/index.js';
import { freshDatabase } from './helpers/services.js';
import { tempDirs } from './helpers/tmp.js';

const tmp = tempDirs(t, 'veza-load-revocations');

t.test('revoked sessions survive a restart', async (t) => {
  const url = await freshDatabase(t);
  if (url === null) return;
  const opened = await openStore(loadConfig({ env: {}, flags: { dataDir: tmp(), database: { url }, log: { level: 'warn' } } }));
  t.teardown(() => opened.close());
  const { store, pool } = opened;
  const u = await store.createUser({ username: 'restart', email: 'r@example.com', passwordHash: 'x', role: 'user' });
  const later = new Date(Date.now() + 3_600_000);
  const [loggedOut, reused, rotatedOnly, old] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await store.insertRefreshToken({ userId: u.id, tokenHash: `lo-${loggedOut}`, familyId: loggedOut, expiresAt: later });
  await store.revokeRefreshToken(`lo-${loggedOut}`);
  await store.insertRefreshToken({ userId: u.id, tokenHash: `r1-${reused}`, familyId: reused, expiresAt: later });
  await store.rotateRefreshToken(`r1-${reused}`, `r2-${reused}`, later, 0);
  t.equal((await store.rotateRefreshToken(`r1-${reused}`, `r3-${reused}`, later, 0)).kind, 'reused');
  await store.insertRefreshToken({ userId: u.id, tokenHash: `k1-${rotatedOnly}`, familyId: rotatedOnly, expiresAt: later });
  await store.rotateRefreshToken(`k1-${rotatedOnly}`, `k2-${rotatedOnly}`, later, 0);
  await store.insertRefreshToken({ userId: u.id, tokenHash: `o-${old}`, familyId: old, expiresAt: later });
  await store.revokeRefreshToken(`o-${old}`);
  await pool.query(`UPDATE refresh_tokens SET revoked_at = now() - interval '2 hours' WHERE family_id = $1`, [old]);

  const set = new RevocationSet(await loadRevocations(store, 900, createLogger({ role: 'test' })));
  t.ok(set.isSessionRevoked(loggedOut), 'a logout');
  t.ok(set.isSessionRevoked(reused), 'a reuse');
  t.notOk(set.isSessionRevoked(rotatedOnly), 'a rotation is not a revocation');
  t.notOk(set.isSessionRevoked(old), 'older than the access-token lifetime: not needed');
  const tokens = new AccessTokens('load-test-secret'.padEnd(40, 'q'), { ttlS: 900, revocations: set });
  const token = (await tokens.sign(u, { sid: loggedOut })).token;
  t.throws(() => tokens.verify(token), { message: 'session revoked' }, 'so its tokens are refused after a restart');
});
