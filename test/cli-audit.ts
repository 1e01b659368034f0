/**
 * `veza-chat audit`, in-process like test/cli.ts, on PostgreSQL (skipped without
 * VEZA_TEST_DATABASE_URL, like every services test): filters, JSON lines, pages. On PostgreSQL
 * because each command opens the store, which costs seconds with PGlite; the queries are the
 * store's, run on both backends by test/helpers/store-suite.ts.
 */
import t from 'tap';
import { run } from '../src/cli/program.js';
import { loadConfig } from '../src/config/index.js';
import { openStore } from '../src/store/index.js';
import { freshDatabase } from './helpers/services.js';
import { tempDirs } from './helpers/tmp.js';

const BASE_ENV = { VEZA_LOG_LEVEL: 'warn', VEZA_SCRYPT_LOG_N: '10' };

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await run(args, { out: (s) => void (out += s), err: (s) => void (err += s), env: BASE_ENV });
  return { code, out, err };
}

const tmp = tempDirs(t, 'veza-cli-audit');

t.test('audit: the trail for operators, filtered and paged', async (t) => {
  const url = await freshDatabase(t);
  if (url === null) return;
  const dataDir = tmp();
  const d = ['--data-dir', dataDir, '--database-url', url];
  const opened = await openStore(loadConfig({ env: {}, flags: { dataDir, database: { url }, log: { level: 'warn' } } }));
  const u = await opened.store.createUser({ username: 'op', email: 'op@example.com', passwordHash: 'x', role: 'admin' });
  for (let i = 0; i < 5; i++) {
    await opened.store.audit({ actorId: u.id, action: i % 2 ? 'auth.login' : 'auth.refresh', targetType: 'user', targetId: String(u.id), ip: `127.0.0.${i}` });
  }
  await opened.store.audit({ actorId: null, action: 'room.deleted', targetType: 'room', targetId: '9', details: { by: 'cli-test' } });
  await opened.close();

  const all = await cli(['audit', ...d]);
  t.equal(all.code, 0, all.err);
  const lines = all.out.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 6, 'one JSON object a line');
  t.match(lines[0], { action: 'room.deleted', actor_id: null, target_type: 'room', target_id: '9', details: { by: 'cli-test' }, created_at: String });
  t.match(lines[1], { action: 'auth.refresh', actor_id: u.id, ip: '127.0.0.4' });

  const logins = await cli(['audit', '--action', 'auth.login', ...d]);
  t.equal(logins.out.trim().split('\n').length, 2);
  const family = await cli(['audit', '--action', 'auth.*', '--actor', String(u.id), ...d]);
  t.equal(family.out.trim().split('\n').length, 5);

  const page1 = await cli(['audit', '--limit', '4', '--json', ...d]);
  const p1 = JSON.parse(page1.out);
  t.equal(p1.entries.length, 4);
  t.equal(p1.has_more, true);
  const page2 = JSON.parse((await cli(['audit', '--limit', '4', '--json', '--before', String(p1.next_cursor), ...d])).out);
  t.equal(page2.entries.length, 2);
  t.equal(page2.has_more, false);
  t.equal(page2.next_cursor, null);
  t.same([...p1.entries, ...page2.entries].map((e: { id: number }) => e.id), lines.map((e: { id: number }) => e.id), 'the pages are the whole list');

  const plain = await cli(['audit', '--limit', '2', ...d]);
  t.match(plain.err, /more: --before \d+/, 'JSON lines say where the next page starts');
  t.equal((await cli(['audit', '--since', '2999-01-01T00:00:00Z', ...d])).out, '');
  const bad = await cli(['audit', '--since', 'yesterday-ish', ...d]);
  t.equal(bad.code, 1);
  t.match(bad.err, /--since: not a date/);
});
