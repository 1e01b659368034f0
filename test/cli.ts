/** The operator CLI, in-process: buildProgram/run with captured output, on PGlite and PostgreSQL. */
import t from 'tap';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessTokens } from '../src/auth/jwt.js';
import { run } from '../src/cli/program.js';
import { StoreLock } from '../src/store/index.js';
import { freshDatabase } from './helpers/services.js';
import { tempDirs } from './helpers/tmp.js';

const BASE_ENV = { VEZA_LOG_LEVEL: 'warn', VEZA_SCRYPT_LOG_N: '10' };

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = await run(args, { out: (s) => void (out += s), err: (s) => void (err += s), env: { ...BASE_ENV, ...env } });
  return { code, out, err };
}

const tmp = tempDirs(t, 'veza-cli');

t.test('--help on every command', async (t) => {
  const top = await cli(['--help']);
  t.equal(top.code, 0);
  for (const name of ['start', 'migrate', 'user', 'token', 'room', 'config']) t.match(top.out, name);
  for (const cmd of [['start'], ['migrate'], ['user', 'create'], ['token', 'issue'], ['room', 'create'], ['config', 'print']]) {
    const r = await cli([...cmd, '--help']);
    t.equal(r.code, 0, cmd.join(' '));
    t.match(r.out, '--data-dir', `${cmd.join(' ')} takes the store flags`);
    t.match(r.out, '--database-url');
  }
  t.match((await cli(['start', '--help'])).out, /--port[\s\S]*--fronts[\s\S]*--shards/);
});

t.test('usage and configuration errors: a message, no stack, non-zero', async (t) => {
  const badPort = await cli(['start', '--port', 'eighty']);
  t.equal(badPort.code, 1);
  t.match(badPort.err, /--port.*expected an integer/);
  const unknown = await cli(['frobnicate']);
  t.equal(unknown.code, 1);
  const missing = await cli(['config', 'print', '--config', '/nonexistent/veza.json']);
  t.equal(missing.code, 2);
  t.match(missing.err, /^veza-chat: cannot read configuration file/);
  t.notMatch(missing.err, /\n\s+at /, 'no stack trace');
  const badEnv = await cli(['start'], { VEZA_PORT: 'x' });
  t.equal(badEnv.code, 2, 'start refuses a bad configuration before loading the node');
  t.match(badEnv.err, /server\.port/);
  const badRole = await cli(['user', 'create', '--username', 'a', '--email', 'a@b.c', '--password', 'x', '--role', 'root']);
  t.equal(badRole.code, 1);
  t.match(badRole.err, /--role.*Allowed choices/);
});

t.test('config print: layers applied, secrets redacted', async (t) => {
  const r = await cli(['config', 'print', '--port', '9999', '--data-dir', '/srv/veza', '--redis-url', 'redis://:hunter3@r:6379'], {
    DATABASE_URL: 'postgres://u:hunter2@db/x',
    JWT_SECRET: 'z'.repeat(40),
  });
  t.equal(r.code, 0, r.err);
  const c = JSON.parse(r.out);
  t.equal(c.server.port, 9999);
  t.equal(c.dataDir, '/srv/veza');
  t.match(c.database.url, /^postgres:\/\/u:\*\*\*@db\/x/);
  t.notMatch(r.out, /hunter2|hunter3|zzzz/);
  t.equal(c.auth.jwtSecret, '***');
});

t.test('embedded store (PGlite)', async (t) => {
  const dataDir = tmp();
  const d = ['--data-dir', dataDir];

  t.test('migrate status, up, status', async (t) => {
    // Where there is no database yet (a new directory, or a mistyped one), status creates none.
    const before = await cli(['migrate', 'status', ...d]);
    t.equal(before.code, 1);
    t.match(before.err, /no database in .*nothing was created/);
    t.notOk(existsSync(join(dataDir, 'pglite')), 'nothing created');
    for (const args of [['token', 'issue', '--user', 'root'], ['room', 'create', '--name', 'x', '--owner', 'root']]) {
      const r = await cli([...args, ...d]);
      t.equal(r.code, 1, `${args[0]} ${args[1]}: exit 1`);
      t.match(r.err, /no database in/);
    }
    t.notOk(existsSync(join(dataDir, 'pglite')), 'still nothing');
    const up = await cli(['migrate', ...d]);
    t.equal(up.code, 0, up.err);
    t.match(up.out, /^applied 0001_init$/m);
    const after = await cli(['migrate', 'status', ...d]);
    t.match(after.out, /^applied  0001_init  \d{4}-/m);
    t.notMatch(after.out, /pending/);
    t.match((await cli(['migrate', 'up', ...d])).out, 'up to date');
  });

  t.test('user create', async (t) => {
    const r = await cli(['user', 'create', '--username', 'root', '--email', 'root@example.com', '--password', 'operator-pass', '--role', 'admin', ...d]);
    t.equal(r.code, 0, r.err);
    const u = JSON.parse(r.out);
    t.match(u, { id: Number, username: 'root', email: 'root@example.com', role: 'admin', created_at: String });
    t.notMatch(r.out, /password|scrypt/);
    const plain = await cli(['user', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password', 'bob-password', ...d]);
    t.equal(JSON.parse(plain.out).role, 'user', 'role defaults to user');

    const dup = await cli(['user', 'create', '--username', 'ROOT', '--email', 'x@example.com', '--password', 'operator-pass', ...d]);
    t.equal(dup.code, 1);
    t.match(dup.err, /^veza-chat: conflict: /);
    const short = await cli(['user', 'create', '--username', 'carol', '--email', 'carol@example.com', '--password', 'short', ...d]);
    t.equal(short.code, 1);
    t.match(short.err, /validation_failed[\s\S]*password:/);
  });

  t.test('token issue: a token the server accepts', async (t) => {
    const r = await cli(['token', 'issue', '--user', 'root', ...d]);
    t.equal(r.code, 0, r.err);
    const secret = readFileSync(join(dataDir, 'jwt-secret'), 'utf8').trim();
    const claims = await new AccessTokens(secret, { ttlS: 900 }).verify(r.out.trim());
    t.match(claims, { username: 'root', role: 'admin', aud: 'veza-chat', iss: 'veza-auth' });
    t.equal(claims.exp - claims.iat, 900);
    const short = await cli(['token', 'issue', '--user', 'bob', '--ttl', '60', ...d]);
    const c2 = await new AccessTokens(secret, { ttlS: 900 }).verify(short.out.trim());
    t.equal(c2.exp - c2.iat, 60);
    const nobody = await cli(['token', 'issue', '--user', 'nobody', ...d]);
    t.equal(nobody.code, 1);
    t.match(nobody.err, /no user named "nobody"/);
  });

  t.test('room create', async (t) => {
    const r = await cli(['room', 'create', '--name', 'general', '--public', '--owner', 'root', '--description', 'hello', ...d]);
    t.equal(r.code, 0, r.err);
    const room = JSON.parse(r.out);
    t.match(room, { id: Number, name: 'general', description: 'hello', is_public: true, type: 'public_room', last_seq: 0 });
    const priv = JSON.parse((await cli(['room', 'create', '--name', 'ops', '--owner', 'bob', ...d])).out);
    t.match(priv, { is_public: false, type: 'private_room' });
    t.not(priv.owner_id, room.owner_id);
    const noOwner = await cli(['room', 'create', '--name', 'x', '--owner', 'ghost', ...d]);
    t.equal(noOwner.code, 1);
    t.match(noOwner.err, /no user named "ghost"/);
    const blank = await cli(['room', 'create', '--name', '   ', '--owner', 'root', ...d]);
    t.equal(blank.code, 1);
    t.match(blank.err, /validation_failed/);
  });

  t.test('while a server owns the data directory, store commands refuse and never open PGlite', async (t) => {
    const fresh = tmp();
    mkdirSync(fresh, { recursive: true });
    for (const dir of [dataDir, fresh]) {
      const lock = StoreLock.acquire(dir);
      try {
        for (const cmd of [
          ['migrate', 'status'],
          ['migrate', 'up'],
          ['user', 'create', '--username', 'eve', '--email', 'eve@example.com', '--password', 'eve-password'],
          ['token', 'issue', '--user', 'root'],
          ['room', 'create', '--name', 'r', '--owner', 'root'],
        ]) {
          const r = await cli([...cmd, '--data-dir', dir]);
          t.equal(r.code, 3, `${cmd.join(' ')} refused`);
          t.match(r.err, new RegExp(`^veza-chat: refusing to open the store: .*in use by process ${process.pid}`));
          t.notMatch(r.err, /\n\s+at /);
        }
      } finally {
        lock.release();
      }
    }
    t.notOk(existsSync(join(fresh, 'pglite')), 'PGlite never created its files');
    t.equal((await cli(['migrate', 'status', '--data-dir', dataDir])).code, 0, 'works again once released');
  });
});

t.test('PostgreSQL', async (t) => {
  const url = await freshDatabase(t);
  if (url === null) return;
  const env = { DATABASE_URL: url, JWT_SECRET: 'cli-test-secret-'.padEnd(40, 's') };
  const status = await cli(['migrate', 'status'], env);
  t.equal(status.code, 0, status.err);
  t.match(status.out, /^pending  0001_init$/m);
  t.equal((await cli(['migrate', 'up'], env)).code, 0);
  const u = await cli(['user', 'create', '--username', 'pgroot', '--email', 'pg@example.com', '--password', 'operator-pass', '--role', 'moderator', '--database-url', url], env);
  t.equal(u.code, 0, u.err);
  t.equal(JSON.parse(u.out).role, 'moderator');
  const tok = await cli(['token', 'issue', '--user', 'pgroot'], env);
  t.equal(tok.code, 0, tok.err);
  t.equal((await new AccessTokens(env.JWT_SECRET, { ttlS: 900 }).verify(tok.out.trim())).role, 'moderator');
  const noSecret = await cli(['token', 'issue', '--user', 'pgroot'], { DATABASE_URL: url });
  t.equal(noSecret.code, 2, 'a shared secret is required with PostgreSQL');
  t.match(noSecret.err, /JWT_SECRET/);
  const room = await cli(['room', 'create', '--name', 'pg-room', '--owner', 'pgroot'], env);
  t.equal(JSON.parse(room.out).name, 'pg-room');
});
