import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { LOCK_FILE, StoreLock, StoreLockedError } from '../src/store/pglite/lock.js';
import { MIGRATIONS_DIR, MigrationError, migrate, readMigrations, status } from '../src/store/migrate.js';
import { openBackend, openStore } from '../src/store/open.js';
import { freshDatabase } from './helpers/services.js';

const tmp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), `veza-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** A folder of migration files. */
const fixture = (files: Record<string, string>) => {
  const dir = tmp('mig');
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
};

const pool = (url: string) => {
  const p = new pg.Pool({ connectionString: url, max: 2 });
  // pool.end() resolves before the server has seen its connections go, so the teardown's
  // DROP DATABASE ... WITH (FORCE) can still terminate one (57P01). Anything else is a failure.
  p.on('error', (e) => {
    if ((e as { code?: string }).code !== '57P01') throw e;
  });
  return p;
};

t.test('migration files: found from the package root, named, ordered, checksummed', async (t) => {
  t.ok(existsSync(join(MIGRATIONS_DIR, '0001_init.sql')), 'the migrations folder is found relative to the package');
  const files = readMigrations();
  t.same(files.map((f) => f.version), [...files.map((f) => f.version)].sort((a, b) => a - b));
  t.ok(files.length >= 3);
  t.match(files[0], { version: 1, name: 'init', file: '0001_init.sql', checksum: /^[0-9a-f]{64}$/ });

  const lf = readMigrations(fixture({ '0001_a.sql': 'SELECT 1;\nSELECT 2;\n', 'README.md': 'ignored' }));
  const crlf = readMigrations(fixture({ '0001_a.sql': 'SELECT 1;\r\nSELECT 2;\r\n' }));
  t.equal(lf.length, 1, 'other files are ignored');
  t.equal(lf[0]!.checksum, crlf[0]!.checksum, 'line endings do not change the checksum');
  t.same(readMigrations(fixture({ '10_b.sql': '', '9_a.sql': '' })).map((f) => f.version), [9, 10], 'numeric order');
  t.throws(() => readMigrations(fixture({ 'init.sql': '' })), MigrationError);
  t.throws(() => readMigrations(fixture({ '0001_a.sql': '', '001_b.sql': '' })), { message: /two migrations have version 1/ });
});

t.test('PostgreSQL: up, status, idempotent', async (t) => {
  const url = await freshDatabase(t);
  if (url === null) return;
  const db = pool(url);
  t.teardown(() => db.end());
  const all = readMigrations().map((f) => ({ version: f.version, name: f.name }));

  t.same(await status(db), { applied: [], pending: all, changed: [], unknown: [] });
  t.same(await migrate(db), { applied: all });
  const s = await status(db);
  t.same(s.pending, []);
  t.same(s.applied.map((a) => ({ version: a.version, name: a.name })), all);
  t.match(s.applied[0], { checksum: /^[0-9a-f]{64}$/, applied_at: /^\d{4}-\d{2}-\d{2}T.*Z$/ });
  t.same(await migrate(db), { applied: [] }, 'a second run applies nothing');
  const tables = (await db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).rows.map((r) => r.tablename);
  for (const table of ['users', 'conversations', 'messages', 'conversation_members', 'refresh_tokens', 'audit_log', 'files']) {
    t.ok(tables.includes(table), table);
  }

  // A single client works as well as a pool.
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.teardown(() => c.end());
  t.same(await migrate(c), { applied: [] });
  t.equal((await status(c)).applied.length, all.length);
});

t.test('PostgreSQL: a changed file is refused, a failed file rolled back', async (t) => {
  const url = await freshDatabase(t);
  if (url === null) return;
  const db = pool(url);
  t.teardown(() => db.end());
  const dir = fixture({
    '0001_a.sql': 'CREATE TABLE a (id int);',
    '0002_b.sql': 'CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);',
  });
  t.same((await migrate(db, dir)).applied.map((m) => m.version), [1, 2]);

  writeFileSync(join(dir, '0001_a.sql'), 'CREATE TABLE a (id bigint);');
  await t.rejects(migrate(db, dir), { name: 'MigrationError', message: /changed after they were applied: 1_a/ });
  t.same((await status(db, dir)).changed, [{ version: 1, name: 'a' }]);
  writeFileSync(join(dir, '0001_a.sql'), 'CREATE TABLE a (id int);');

  writeFileSync(join(dir, '0003_c.sql'), 'CREATE TABLE c (id int);\nCREATE TABLE d (id int);');
  writeFileSync(join(dir, '0004_d.sql'), 'CREATE TABLE e (id int);\nSELECT no_such_function();');
  await t.rejects(migrate(db, dir), { name: 'MigrationError', message: /0004_d\.sql failed/ });
  const s = await status(db, dir);
  t.same(s.applied.map((m) => m.version), [1, 2, 3], 'the files before the failure stay applied');
  t.same(s.pending, [{ version: 4, name: 'd' }]);
  const e = await db.query(`SELECT to_regclass('e') AS t`);
  t.equal(e.rows[0].t, null, 'nothing of the failed file remains');

  // Versions this build does not know (a newer build migrated here): reported, not fatal.
  rmSync(join(dir, '0004_d.sql'));
  rmSync(join(dir, '0003_c.sql'));
  t.same((await status(db, dir)).unknown.map((m) => m.version), [3]);
  t.same(await migrate(db, dir), { applied: [] });
});

t.test('PostgreSQL: two migrators at once do not race', async (t) => {
  const url = await freshDatabase(t);
  if (url === null) return;
  // Without the lock both would create schema_migrations and table one; the sleep makes them overlap.
  const dir = fixture({
    '0001_one.sql': 'CREATE TABLE one (id int);\nSELECT pg_sleep(0.3);',
    '0002_two.sql': 'CREATE TABLE two (id int);',
  });
  const a = pool(url);
  const b = pool(url);
  t.teardown(async () => {
    await a.end();
    await b.end();
  });
  const [ra, rb] = await Promise.all([migrate(a, dir), migrate(b, dir)]);
  const versions = [...ra.applied, ...rb.applied].map((m) => m.version).sort();
  t.same(versions, [1, 2], 'each file applied exactly once, by one of them');
  const rows = await a.query('SELECT version FROM schema_migrations ORDER BY version');
  t.same(rows.rows.map((r) => r.version), [1, 2]);
  const held = await a.query(
    `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  t.equal(held.rows[0].n, 0, 'the advisory lock is released');
});

t.test('lock file: one owner per data directory', async (t) => {
  const dir = tmp('lock');
  const path = join(dir, LOCK_FILE);
  const lock = StoreLock.acquire(dir);
  t.match(JSON.parse(readFileSync(path, 'utf8')), { pid: process.pid, hostname: hostname() });
  t.throws(() => StoreLock.acquire(dir), StoreLockedError, 'a live owner (here: this process) refuses a second');
  try {
    StoreLock.acquire(dir);
  } catch (e) {
    t.equal((e as StoreLockedError).pid, process.pid);
    t.match((e as Error).message, new RegExp(`process ${process.pid}`), 'the message names the pid');
  }
  lock.update({ admin: '127.0.0.1:9090' });
  t.equal(JSON.parse(readFileSync(path, 'utf8')).admin, '127.0.0.1:9090', 'the admin address is added');
  t.throws(() => StoreLock.acquire(dir), { message: /admin 127\.0\.0\.1:9090/ });
  lock.release();
  t.notOk(existsSync(path), 'released');
  lock.release();

  // A lock left by a process that died is taken over.
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  writeFileSync(path, JSON.stringify({ pid: dead, hostname: hostname(), startedAt: '2020-01-01T00:00:00.000Z', token: 'old' }));
  const taken = StoreLock.acquire(dir);
  t.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid, 'a stale lock is taken over');
  t.same(readdirSync(dir), [LOCK_FILE], 'no temporary or stale files left behind');

  // Someone replaced our lock: releasing leaves theirs alone.
  writeFileSync(path, JSON.stringify({ pid: 1, hostname: hostname(), startedAt: '', token: 'theirs' }));
  taken.release();
  t.ok(existsSync(path));
  rmSync(path);

  // A holder on another host cannot be checked from here: refused. So is a file we cannot read.
  writeFileSync(path, JSON.stringify({ pid: dead, hostname: `not-${hostname()}`, startedAt: '', token: 'x' }));
  t.throws(() => StoreLock.acquire(dir), StoreLockedError);
  writeFileSync(path, 'garbage');
  t.throws(() => StoreLock.acquire(dir), StoreLockedError);
});

t.test('PGlite: migrates itself from scratch, keeps its data, one owner', async (t) => {
  const dataDir = join(tmp('pglite'), 'data');
  const config = { dataDir, database: { poolSize: 1 } };
  // A brand-new directory: initdb, then every migration (under the advisory lock, which PGlite has).
  const first = await openStore(config);
  t.equal(first.kind, 'pglite');
  t.ok(existsSync(join(dataDir, 'pglite', 'PG_VERSION')), 'data under <dataDir>/pglite');
  t.same((await status(first.pool)).pending, []);
  const lockHeld = await first.pool.query(`SELECT pg_try_advisory_lock(1) AS ok`);
  t.equal(lockHeld.rows[0].ok, true, 'advisory locks work on PGlite');
  await first.pool.query('SELECT pg_advisory_unlock(1)');
  const u = await first.store.createUser({ username: 'persist', email: 'persist@e.test', passwordHash: 'h' });

  await t.rejects(openStore(config), StoreLockedError, 'a second open of the same directory is refused');
  first.lock!.update({ admin: '127.0.0.1:1' });
  await first.close();
  t.notOk(existsSync(join(dataDir, LOCK_FILE)), 'the lock goes with the store');

  const second = await openStore(config);
  t.teardown(() => second.close());
  t.same(await second.store.getUser(u.id), u, 'the data survived close and reopen');
  t.same(await migrate(second.pool), { applied: [] });
});

t.test('an unknown backend is an error, not a fallback', async (t) => {
  await t.rejects(openBackend('mysql', { dataDir: '/x', database: { poolSize: 1 } }), { message: /unknown backend "mysql"/ });
  await t.rejects(openBackend('postgres', { dataDir: '/x', database: { poolSize: 1 } }), { message: /needs database\.url/ });
});
