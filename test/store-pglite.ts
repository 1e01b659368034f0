import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import t from 'tap';
import { openStore } from '../src/store/open.js';
import { remoteStore, serveStore } from '../src/store/pglite/remote.js';
import { pgliteTemplate, storeSuite } from './helpers/store-suite.js';

// One PGlite instance for the file, from a migrated snapshot (initdb costs seconds): the suite runs
// on it directly, then again through remoteStore over a MessageChannel, as a worker thread uses it.
const dataDir = mkdtempSync(join(tmpdir(), 'veza-store-pglite-'));
const opened = await openStore({ dataDir, database: { poolSize: 1 } }, { template: await pgliteTemplate() });
t.teardown(async () => {
  await opened.close();
  rmSync(dataDir, { recursive: true, force: true });
});
const query = async <T,>(text: string, values?: unknown[]) => (await opened.pool.query(text, values)).rows as T[];

t.equal(opened.kind, 'pglite');
t.equal(opened.store.backend, 'pglite');

await t.test('an SQL error leaves the PGlite connection usable (the pglite-wire shim)', async (t) => {
  // Without src/store/pglite-wire.ts the second failing statement already gets "Connection
  // terminated unexpectedly" and the pool's one connection is lost.
  for (let i = 0; i < 3; i++) {
    await t.rejects(opened.pool.query('SELECT $1::int AS n', ['x']), { code: '22P02' });
    await t.rejects(opened.pool.query({ name: 'wire_probe', text: 'SELECT 1 / $1::int AS n', values: [0] }), { code: '22012' });
  }
  t.same((await opened.pool.query({ name: 'wire_probe', text: 'SELECT 1 / $1::int AS n', values: [1] })).rows, [{ n: 1 }]);
  const c = await opened.pool.connect();
  try {
    await c.query('BEGIN');
    await t.rejects(c.query('SELECT 1 / $1::int', [0]));
    await t.rejects(c.query('SELECT 1'), { code: '25P02' }, 'the transaction is aborted, as on PostgreSQL');
    await c.query('ROLLBACK');
  } finally {
    c.release();
  }
  t.same((await opened.pool.query('SELECT $1::int AS n', [2])).rows, [{ n: 2 }]);
});

await t.test('new WAL segments are not zero-filled (a 16 MB write stalled every commit behind it)', async (t) => {
  t.same(await query('SHOW wal_init_zero'), [{ wal_init_zero: 'off' }], 'set on the session the store uses');
});

await t.test('pglite', (t) => storeSuite(t, async () => ({ store: opened.store, query })));

await t.test('remote over a MessageChannel', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const served = serveStore(opened.store, port1);
  const store = remoteStore(port2);
  t.teardown(async () => {
    await store.close();
    served.close();
  });
  t.equal(store.backend, 'remote');
  await storeSuite(t, async () => ({ store, query }));
});
