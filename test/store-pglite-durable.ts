/**
 * Durable commits on embedded PGlite (src/store/pglite-durable.ts): PostgreSQL runs with fsync on,
 * and its fsyncs reach the host file system instead of a no-op.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { installFsync, syncTree } from '../src/store/pglite/durable.js';
import { openPglite, type OpenedPglite } from '../src/store/pglite/pglite.js';
import type { NewMessage } from '../src/store/types.js';
import { pgliteTemplate } from './helpers/store-suite.js';

async function open(t: Test, fsync?: boolean): Promise<OpenedPglite> {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-pglite-durable-'));
  const opened = await openPglite({ dataDir, template: await pgliteTemplate(), ...(fsync === undefined ? {} : { fsync }) });
  t.teardown(async () => {
    await opened.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return opened;
}

const setting = async (s: OpenedPglite, name: string) => (await s.pool.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];

let seq = 0;
const message = (): NewMessage => ({
  conversationId: 3,
  seq: ++seq,
  authorId: 1,
  content: `durable ${seq}`,
  metadata: {},
  clientId: null,
  parentMessageId: null,
});

t.test('by default every commit is fsynced on the host before it returns', async (t) => {
  const s = await open(t);
  t.equal(await setting(s, 'fsync'), 'on');
  t.equal(await setting(s, 'wal_sync_method'), 'fsync', 'the one method whose calls reach NODEFS');
  for (let i = 0; i < 5; i++) {
    const before = s.fsyncs();
    await s.store.insertMessages([message(), message()]);
    t.ok(s.fsyncs() > before, `commit ${i + 1}: ${s.fsyncs() - before} host fsync(s)`);
  }
  // A read-only statement commits nothing and syncs nothing.
  const before = s.fsyncs();
  await s.store.listMessages(3, { limit: 10 });
  t.equal(s.fsyncs(), before, 'a read does not fsync');
});

t.test('pgliteFsync false: PostgreSQL runs with fsync off and nothing is synced', async (t) => {
  const s = await open(t, false);
  t.equal(await setting(s, 'fsync'), 'off');
  await s.store.insertMessages([message()]);
  t.equal(s.fsyncs(), 0);
});

t.test('installFsync refuses a PGlite build it does not recognise', async (t) => {
  const counter = { syncs: 0 };
  t.throws(() => installFsync({}, counter), /no NODEFS stream operations/);
  t.throws(() => installFsync({ NODEFS: { stream_ops: { open() {} } } }, counter), /no NODEFS stream operations/, 'no tryFSOperation');
  const foreign = { NODEFS: { stream_ops: { open() {}, fsync: () => 0 }, tryFSOperation: (f: () => unknown) => f() } };
  t.throws(() => installFsync(foreign, counter), /already has a NODEFS fsync/);
  // Installing twice on the same module (a second PGlite instance would have its own) is harmless.
  const mod = { NODEFS: { stream_ops: { open() {} } as Record<string, unknown>, tryFSOperation: (f: () => unknown) => f() } };
  installFsync(mod, counter);
  t.doesNotThrow(() => installFsync(mod, counter));
  t.equal((mod.NODEFS.stream_ops.fsync as (s: object) => number)({}), 0, 'a stream without a host descriptor is left alone');
  t.equal(counter.syncs, 0);
});

t.test('syncTree visits every file and directory, contents before the directory', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'veza-synctree-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'one'), '1');
  writeFileSync(join(root, 'a', 'two'), '2');
  writeFileSync(join(root, 'a', 'b', 'three'), '3');
  // root, a, a/b, one, a/two, a/b/three
  t.equal(syncTree(root), 6);
  t.throws(() => syncTree(join(root, 'missing')), /ENOENT/);
});
