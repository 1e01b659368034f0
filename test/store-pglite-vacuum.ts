/**
 * VACUUM, ANALYZE and freezing for embedded PGlite (src/store/pglite-vacuum.ts), which runs no
 * autovacuum: dead rows, statistics, and transaction ids that would otherwise age until PostgreSQL
 * stops accepting writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { openPglite, type OpenedPglite } from '../src/store/pglite/pglite.js';
import { ANALYZE_STATISTICS_TARGET, nextMaintenance, type VacuumDone } from '../src/store/pglite/vacuum.js';
import { pgliteTemplate } from './helpers/store-suite.js';

const stats = (rel: string, s: { live?: number; dead?: number; modified?: number; inserted?: number }) => ({
  rel,
  live: s.live ?? 0,
  dead: s.dead ?? 0,
  modified: s.modified ?? 0,
  inserted: s.inserted ?? 0,
});

t.test("nextMaintenance applies autovacuum's default thresholds", async (t) => {
  t.equal(nextMaintenance([]), null);
  t.equal(nextMaintenance([stats('a', { live: 1000, dead: 250, modified: 150 })]), null, 'dead 250 ≤ 50 + 0.2 × 1000, modified 150 ≤ 50 + 0.1 × 1000');
  t.same(nextMaintenance([stats('a', { live: 1000, dead: 251 })]), { table: 'a', statement: 'VACUUM (FREEZE) a' });
  t.same(nextMaintenance([stats('a', { live: 1000, modified: 151 })]), { table: 'a', statement: 'ANALYZE a' });
  // Both due: the one further past its threshold, the other at the next look (never both at once).
  t.same(nextMaintenance([stats('a', { live: 1000, dead: 300, modified: 300 })]), { table: 'a', statement: 'ANALYZE a' }, '300/150 past, not 300/250');
  t.same(nextMaintenance([stats('a', { live: 1000, dead: 600, modified: 200 })]), { table: 'a', statement: 'VACUUM (FREEZE) a' }, '600/250 past, not 200/150');
  t.same(nextMaintenance([stats('a', { live: 1000, inserted: 1201 })]), { table: 'a', statement: 'VACUUM (FREEZE) a' }, 'an insert-only table is vacuumed too');
  t.equal(nextMaintenance([stats('a', { live: 1e6, inserted: 20_000 })]), null);
  t.same(
    nextMaintenance([stats('a', { live: 1e6, inserted: 20_001, modified: 20_001 })]),
    { table: 'a', statement: 'VACUUM (FREEZE) a' },
    'a large table after 20,000 inserts, not 20% of it',
  );
  t.equal(nextMaintenance([stats('a', { live: 1000, modified: 151 })], new Set(['a'])), null, 'analyzed lately: not again yet');
  t.same(
    nextMaintenance([stats('a', { live: 1000, dead: 251, modified: 1000 })], new Set(['a'])),
    { table: 'a', statement: 'VACUUM (FREEZE) a' },
    'analyzed lately: still vacuumed',
  );
  t.same(
    nextMaintenance([stats('a', { live: 1000, dead: 300 }), stats('b', { live: 0, dead: 500 }), stats('c', { live: 10, dead: 10 })]),
    { table: 'b', statement: 'VACUUM (FREEZE) b' },
    'the table furthest past its threshold first',
  );
});

async function open(t: Test, freezeAge: number, done: VacuumDone[] = []): Promise<OpenedPglite> {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-pglite-vacuum-'));
  let opened: OpenedPglite | undefined;
  // The store closes before its directory goes, and the directory goes even if opening failed.
  t.teardown(async () => {
    await opened?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  opened = await openPglite({
    dataDir,
    template: await pgliteTemplate(),
    // Looks are made by hand below.
    vacuum: { checkEveryMs: 3_600_000, freezeAge, onVacuum: (d) => done.push(d) },
  });
  return opened;
}

t.test('dead rows of a table are vacuumed and its statistics gathered, one statement a look', async (t) => {
  const done: VacuumDone[] = [];
  const s = await open(t, 2 ** 31, done);
  const user = await s.store.createUser({ username: 'vacuumed', email: 'vacuumed@example.com', passwordHash: 'x' });
  // Nothing past a threshold yet: a look does nothing.
  await sleep(1100);
  await s.pool.query('SELECT 1');
  t.equal(await s.maintain(), null, 'nothing to do yet');
  for (let i = 0; i < 300; i++) await s.store.touchUser(user.id);
  // Updates of one row are pruned as they go (HOT), so few stay dead: deleted rows do.
  await s.pool.query(
    "INSERT INTO users (username, email, password_hash) SELECT 'gone' || g, 'gone' || g || '@example.com', 'x' FROM generate_series(1, 300) g",
  );
  await s.pool.query("DELETE FROM users WHERE username LIKE 'gone%'");
  // A backend publishes its counters at most once a second, at the end of a statement.
  await sleep(1100);
  await s.pool.query('SELECT 1');
  const users = async () =>
    (await s.pool.query("SELECT n_mod_since_analyze::int AS modified, last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'users'")).rows[0];
  t.ok((await users()).modified >= 300, 'the updates are counted');
  // Dead rows and modified rows both past their thresholds. One look runs one statement, the
  // further past first, then the other.
  const looks = [await s.maintain(), await s.maintain()];
  t.same(
    looks.map((d) => d?.statement).sort(),
    ['ANALYZE public.users', 'VACUUM (FREEZE) public.users'],
    `two looks, one statement each: ${JSON.stringify(looks.map((d) => d?.statement))}`,
  );
  const after = await users();
  t.equal(after.modified, 0, 'analyzed');
  t.not(after.last_analyze, null);
  t.not(after.last_vacuum, null, 'vacuumed');
  t.same(done.map((d) => d.table), ['public.users', 'public.users']);
  t.equal(await s.maintain(), null, 'nothing left to do');
});

t.test('ANALYZE samples a small target, set for its own transaction only', async (t) => {
  const s = await open(t, 2 ** 31);
  for (let i = 0; i < 400; i++) {
    await s.store.createUser({ username: `sampled${String(i).padStart(3, '0')}`, email: `sampled${i}@example.com`, passwordHash: 'x' });
  }
  await sleep(1100);
  await s.pool.query('SELECT 1');
  // 400 inserts: past the ANALYZE threshold (50 + 0.1 × live), not the insert one (1,000 + 0.2 × live).
  t.match(await s.maintain(), { statement: 'ANALYZE public.users' });
  const bounds = (
    await s.pool.query<{ n: number }>(
      "SELECT array_length(histogram_bounds::text::text[], 1) AS n FROM pg_stats WHERE tablename = 'users' AND attname = 'username'",
    )
  ).rows[0]?.n;
  // 400 distinct names: PostgreSQL's default target (100) would keep 101 bounds.
  t.equal(bounds, ANALYZE_STATISTICS_TARGET + 1, `histogram of ${bounds} bounds`);
  const setting = (await s.pool.query<{ v: string }>('SELECT current_setting($1) AS v', ['default_statistics_target'])).rows[0]?.v;
  t.equal(setting, '100', "the session's own setting is untouched");
  // Past the threshold again at once: not analyzed again within analyzeEveryMs (a minute).
  for (let i = 0; i < 100; i++) await s.store.touchUser(1);
  await sleep(1100);
  await s.pool.query('SELECT 1');
  t.equal(await s.maintain(), null, 'not analyzed again yet');
});

t.test('a database whose transaction ids are freezeAge old is frozen', async (t) => {
  const done: VacuumDone[] = [];
  const s = await open(t, 5, done);
  const user = await s.store.createUser({ username: 'aging', email: 'aging@example.com', passwordHash: 'x' });
  for (let i = 0; i < 10; i++) await s.store.touchUser(user.id);
  const age = async () => (await s.pool.query('SELECT age(datfrozenxid)::int AS age FROM pg_database WHERE datname = current_database()')).rows[0].age;
  t.ok((await age()) >= 10, 'ten transactions later');
  const r = await s.maintain();
  t.match(r, { table: null, statement: 'VACUUM (FREEZE)' });
  t.ok((await age()) < 5, `age after freezing: ${await age()}`);
});

t.test('at start-up, the databases the session cannot reach are frozen once they are freezeAge old', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-pglite-vacuum-others-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const others = async (s: OpenedPglite) =>
    (await s.pool.query<{ datname: string; age: number }>('SELECT datname, age(datfrozenxid)::int AS age FROM pg_database WHERE datname <> current_database() ORDER BY datname')).rows;
  const first = await openPglite({ dataDir, template: await pgliteTemplate(), vacuum: { checkEveryMs: 3_600_000, freezeAge: 2 ** 31 } });
  const user = await first.store.createUser({ username: 'old', email: 'old@example.com', passwordHash: 'x' });
  for (let i = 0; i < 30; i++) await first.store.touchUser(user.id);
  const before = await others(first);
  await first.close();
  t.same(before.map((d) => d.datname), ['template0', 'template1']);
  t.ok(before.every((d) => d.age >= 30), `ages before: ${JSON.stringify(before)}`);
  const second = await openPglite({ dataDir, vacuum: { checkEveryMs: 3_600_000, freezeAge: 20 } });
  const after = await others(second);
  t.ok(after.every((d) => d.age < 20), `ages after: ${JSON.stringify(after)}`);
  t.ok(second.fsyncs() > 0, 'the reopened instance is durable too');
  t.equal((await second.store.getUser(user.id))?.username, 'old', 'the data is all there');
  await second.close();
});
