/**
 * The CPU pool on this thread: scrypt hash and verify on piscina, and the bounded queue (503
 * rate_limited). The same through the MessagePort proxy from a front thread is in
 * runtime-actors.ts (it needs a running supervisor). One pool for the file: one piscina thread.
 */
import t from 'tap';
import './fixtures/runtime/fast-workers.js';
import { isChatError } from '../src/errors.js';
import { CpuPool } from '../src/runtime/cpu/pool.js';
import { isRuntimeError } from '../src/runtime/errors.js';
import { decodeHash, verifyPasswordSync } from '../src/auth/scrypt.js';

const fast = { logN: 10, r: 8, p: 1 };
const pool = new CpuPool({ threads: 1, maxQueue: 1, scrypt: { logN: 17, r: 8, p: 1 } });
t.teardown(() => pool.close());

t.test('hash and verify on the pool, with the production cost N=2^17, r=8, p=1', async (t) => {
  const hash = await pool.hashPassword('correct horse battery staple');
  t.match(hash, /^scrypt\$17\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/, 'self-describing format');
  t.match(decodeHash(hash), { logN: 17, r: 8, p: 1 });
  t.equal(await pool.verifyPassword('correct horse battery staple', hash), true, 'right password');
  t.equal(await pool.verifyPassword('correct horse battery stapler', hash), false, 'wrong password');
  t.not(await pool.hashPassword('correct horse battery staple', fast), hash, 'a fresh salt each time');
  t.equal(verifyPasswordSync('correct horse battery staple', hash), true, 'the format verifies outside the pool too');
  t.equal(await pool.verifyPassword('x', 'md5$abc'), false, 'an unreadable hash verifies as false (never throws on input)');
  t.equal(await pool.verifyPassword('x', 'scrypt$30$64$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA=='), false, 'nor asks for gigabytes');
});

t.test('a full queue fails at once with 503 rate_limited and a retry hint', async (t) => {
  const p14 = { logN: 14, r: 8, p: 1 };
  const running = pool.hashPassword('one', p14);
  const queued = pool.hashPassword('two', p14);
  const err = await pool.hashPassword('three', p14).catch((e: unknown) => e);
  t.ok(isChatError(err) && isRuntimeError(err, 'cpu_busy'));
  t.match(err, { code: 'rate_limited', status: 503, message: 'server busy' });
  t.ok(isChatError(err) && err.retryAfterMs !== undefined && err.retryAfterMs > 0, 'with retryAfterMs');
  t.match(await Promise.all([running, queued]), [/^scrypt\$14/, /^scrypt\$14/], 'the accepted ones complete');
  t.match(await pool.hashPassword('four', p14), /^scrypt\$14/, 'and the pool takes work again');
});
