import pg from 'pg';
import t from 'tap';
import { ChatError } from '../src/errors.js';
import { openStore } from '../src/store/open.js';
import { freshDatabase } from './helpers/services.js';
import { storeSuite } from './helpers/store-suite.js';

const url = await freshDatabase(t);
if (url !== null) {
  const dataDir = '/nonexistent/not-used-with-postgres';
  const opened = await openStore({ dataDir, database: { url, poolSize: 4 } });
  t.teardown(() => opened.close());
  const query = async <T,>(text: string, values?: unknown[]) => (await opened.pool.query(text, values)).rows as T[];
  t.equal(opened.kind, 'postgres');
  t.equal(opened.store.backend, 'postgres');
  t.equal(opened.lock, null);

  await t.test('postgres', (t) => storeSuite(t, async () => ({ store: opened.store, query })));

  await t.test('type parsers are the pool\'s own, not pg\'s global ones', async (t) => {
    const [ours] = await query<{ n: unknown; at: unknown }>(`SELECT 1::int8 AS n, now() AS at`);
    t.equal(ours!.n, 1);
    t.type(ours!.at, 'string');
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    t.teardown(() => plain.end());
    const theirs = (await plain.query('SELECT 1::int8 AS n, now() AS at')).rows[0];
    t.equal(theirs.n, '1', 'another pg user still gets int8 as a string');
    t.ok(theirs.at instanceof Date, 'and timestamptz as a Date');
  });

  await t.test('replica: reads go there, and to the primary when it is down', async (t) => {
    // The "replica" is the same database: what matters is which pool serves, and the fallback.
    const withReplica = await openStore({ dataDir, database: { url, replicaUrl: url, poolSize: 2 } }, { migrate: false });
    const deadReplica = await openStore(
      { dataDir, database: { url, replicaUrl: 'postgres://postgres@127.0.0.1:1/none', poolSize: 2 } },
      { migrate: false },
    );
    t.teardown(async () => {
      await withReplica.close();
      await deadReplica.close();
    });
    const u = await withReplica.store.createUser({ username: 'replica_u', email: 'replica_u@e.test', passwordHash: 'h' });
    const room = await withReplica.store.createRoom({ name: 'replica', ownerId: u.id });
    await withReplica.store.insertMessages([{ conversationId: room.id, seq: 1, authorId: u.id, content: 'hi' }]);
    t.equal((await withReplica.store.listMessages(room.id, { limit: 5 })).messages.length, 1);
    t.equal((await withReplica.store.messagesAfterSeq(room.id, 0, 5)).length, 1);
    t.equal((await deadReplica.store.listMessages(room.id, { limit: 5 })).messages.length, 1, 'falls back to the primary');
    t.equal((await deadReplica.store.messagesAfterSeq(room.id, 0, 5)).length, 1, 'and stays on it for a while');
  });

  await t.test('a closed store refuses calls; close is idempotent', async (t) => {
    const other = await openStore({ dataDir, database: { url, poolSize: 1 } }, { migrate: false });
    await other.close();
    await other.close();
    await t.rejects(other.store.ping(), ChatError);
  });

  await t.test('an unreachable database is an error at open, not a hang', async (t) => {
    await t.rejects(openStore({ dataDir, database: { url: 'postgres://postgres@127.0.0.1:1/none', poolSize: 1 } }));
  });
}
