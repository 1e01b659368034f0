import t from 'tap';
import { inlineHasher } from '../src/auth/hasher.js';
import { decodeHash, hashPassword, verifyPassword } from '../src/auth/scrypt.js';
import { loadConfig } from '../src/config/index.js';

const low = { logN: 10, r: 8, p: 1 };

t.test('hash format is self-describing and verifies', async (t) => {
  const h = await hashPassword('correct horse', low);
  t.match(h, /^scrypt\$10\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  const d = decodeHash(h);
  t.equal(d?.salt.length, 16);
  t.equal(d?.key.length, 32);
  t.equal(await verifyPassword('correct horse', h), true);
  t.equal(await verifyPassword('correct horsE', h), false);
  t.equal(await verifyPassword('', h), false);
  t.not(await hashPassword('correct horse', low), h, 'a fresh salt each time');
});

t.test('unicode is normalised before hashing', async (t) => {
  const h = await hashPassword('caf\u00e9-pass', low);
  t.equal(await verifyPassword('cafe\u0301-pass', h), true, 'NFD and NFC spellings match');
});

t.test('unreadable or out-of-bounds hashes match nothing', async (t) => {
  const h = await hashPassword('pw-12345678', low);
  for (const bad of ['', 'bcrypt$x', 'scrypt$10$8$1$$', h.replace('scrypt$10', 'scrypt$40'), h.replace('$8$', '$0$'), h.split('$').slice(0, 5).join('$')]) {
    t.equal(await verifyPassword('pw-12345678', bad), false, `refused: ${bad.slice(0, 20)}`);
  }
  await t.rejects(hashPassword('x', { logN: 0, r: 8, p: 1 }), RangeError);
});

t.test('the default cost works (maxmem is raised enough)', async (t) => {
  const c = loadConfig({ env: {} });
  const params = { logN: c.auth.scryptLogN, r: c.auth.scryptR, p: c.auth.scryptP };
  t.equal(params.logN, 17);
  const hasher = inlineHasher(params);
  const h = await hasher.hash('a real password');
  t.match(h, /^scrypt\$17\$8\$1\$/);
  t.equal(await hasher.verify('a real password', h), true);
});
