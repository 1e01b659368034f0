import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, redactedConfig, resolveJwtSecret } from '../src/config/index.js';
import { tempDirs } from './helpers/tmp.js';

const tmp = tempDirs(t, 'veza-config');

t.test('defaults validate and are frozen', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.server.port, 8080);
  t.equal(c.server.host, '127.0.0.1');
  t.equal(c.auth.accessTtlS, 900);
  t.equal(c.limits.maxFrameBytes, 2 * 1024 * 1024);
  t.equal(c.limits.perMinute.send_message, 60);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.limits.perMinute));
  t.throws(() => {
    (c.server as { port: number }).port = 1;
  });
});

t.test('layers: defaults < file < environment < flags', async (t) => {
  const dir = tmp();
  const file = join(dir, 'veza.json');
  writeFileSync(file, JSON.stringify({ server: { port: 9000, host: '0.0.0.0' }, ws: { heartbeatMs: 5000 } }));
  const c = loadConfig({ file, env: { VEZA_PORT: '9100' }, flags: { server: { host: '127.0.0.2' } } });
  t.equal(c.server.port, 9100, 'environment beats file');
  t.equal(c.server.host, '127.0.0.2', 'flags beat file');
  t.equal(c.ws.heartbeatMs, 5000, 'file beats defaults');
  const env = loadConfig({ env: { DATABASE_URL: 'postgres://u:pw@db/x', REDIS_URL: 'redis://r:6379', JWT_SECRET: 's' } });
  t.equal(env.database.url, 'postgres://u:pw@db/x');
  t.equal(env.redis.url, 'redis://r:6379');
});

t.test('a boolean from the environment: true/false or 1/0, anything else names the key', async (t) => {
  t.equal(loadConfig({ env: {} }).database.pgliteFsync, true, 'durable commits by default');
  t.equal(loadConfig({ env: { VEZA_PGLITE_FSYNC: 'false' } }).database.pgliteFsync, false);
  t.equal(loadConfig({ env: { VEZA_PGLITE_FSYNC: ' 0 ' } }).database.pgliteFsync, false);
  t.equal(loadConfig({ env: { VEZA_PGLITE_FSYNC: 'TRUE' } }).database.pgliteFsync, true);
  t.equal(loadConfig({ env: { VEZA_PGLITE_FSYNC: '1' } }).database.pgliteFsync, true);
  t.throws(() => loadConfig({ env: { VEZA_PGLITE_FSYNC: 'off' } }), { name: 'ConfigError', message: /database\.pgliteFsync/ });
});

t.test('a bad value names the key and what was expected', async (t) => {
  t.throws(() => loadConfig({ env: { VEZA_PORT: 'eighty' } }), { name: 'ConfigError', message: /server\.port/ });
  t.throws(() => loadConfig({ env: {}, flags: { server: { port: 70000 } } }), { message: /server\.port.*65535/ });
  t.throws(() => loadConfig({ env: { DATABASE_URL: 'not a url' } }), { message: /database\.url/ });
  const dir = tmp();
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ server: { prot: 1 } }));
  t.throws(() => loadConfig({ file, env: {} }), { message: /unknown key server\.prot/ });
  writeFileSync(file, '{ nope');
  t.throws(() => loadConfig({ file, env: {} }), ConfigError);
  t.throws(() => loadConfig({ file: join(dir, 'missing.json'), env: {} }), { message: /cannot read/ });
});

t.test('JWT secret: generated and kept when embedded, required and long with PostgreSQL', async (t) => {
  const dataDir = tmp();
  const c = loadConfig({ env: {}, flags: { dataDir } });
  const first = resolveJwtSecret(c);
  t.ok(first.generatedAt, 'a new secret is generated');
  t.ok(Buffer.from(first.secret, 'base64url').length >= 32, '256 bits');
  t.equal(readFileSync(join(dataDir, 'jwt-secret'), 'utf8').trim(), first.secret);
  const second = resolveJwtSecret(c);
  t.equal(second.secret, first.secret, 'kept across restarts');
  t.notOk(second.generatedAt);

  const pg = (secret?: string) =>
    loadConfig({ env: { DATABASE_URL: 'postgres://127.0.0.1/x', ...(secret ? { JWT_SECRET: secret } : {}) } });
  t.throws(() => resolveJwtSecret(pg()), { message: /JWT_SECRET.*required/ });
  t.throws(() => resolveJwtSecret(pg('short')), { message: /at least 32 bytes/ });
  t.equal(resolveJwtSecret(pg('x'.repeat(32))).secret, 'x'.repeat(32));
});

t.test('redaction hides secrets and URL passwords', async (t) => {
  const c = loadConfig({ env: { DATABASE_URL: 'postgres://u:hunter2@db/x', JWT_SECRET: 'y'.repeat(40) } });
  const text = JSON.stringify(redactedConfig(c));
  t.notMatch(text, /hunter2/);
  t.notMatch(text, /yyyy/);
  t.match(text, /\*\*\*/);
});
