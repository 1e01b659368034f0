/**
 * Embedded PGlite checkpoints (src/store/pglite-checkpoint.ts): without them nothing ever
 * checkpointed, the WAL grew without bound and a restart after a crash replayed all of it.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import type { OpenedStore } from '../src/store/open.js';
import { openPglite } from '../src/store/pglite/pglite.js';
import { PgliteCheckpointer } from '../src/store/pglite/checkpoint.js';
import type { NewMessage } from '../src/store/types.js';
import { pgliteTemplate } from './helpers/store-suite.js';

const dataDir = mkdtempSync(join(tmpdir(), 'veza-pglite-checkpoint-'));
const timed: { walMb: number; ms: number }[] = [];
// The store's own checkpointer, with a small threshold and a fast look.
const opened = await openPglite({
  dataDir,
  template: await pgliteTemplate(),
  checkpoint: { walMb: 2, checkEveryMs: 50, maxAgeMs: 3_600_000, onCheckpoint: (c) => timed.push(c) },
});
t.teardown(async () => {
  await opened.close();
  rmSync(dataDir, { recursive: true, force: true });
});

// A second store whose own checkpointer never looks during the test: the hand-called checks below
// must not race it (the first store's, every 50 ms, could checkpoint between a write and a check).
const quietDir = mkdtempSync(join(tmpdir(), 'veza-pglite-checkpoint-quiet-'));
const quiet = await openPglite({ dataDir: quietDir, template: await pgliteTemplate(), checkpoint: { checkEveryMs: 3_600_000 } });
t.teardown(async () => {
  await quiet.close();
  rmSync(quietDir, { recursive: true, force: true });
});

const since = async (store: OpenedStore = opened): Promise<number> =>
  (
    await store.pool.query<{ mb: number }>(
      'SELECT (pg_current_wal_insert_lsn() - redo_lsn)::float8 / 1048576 AS mb FROM pg_control_checkpoint()',
    )
  ).rows[0]!.mb;
const walFiles = () => readdirSync(join(dataDir, 'pglite', 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;

let seq = 0;
/** `n` messages of 2,000 incompressible characters (a compressible one would leave little WAL). */
const batch = (n: number): NewMessage[] =>
  Array.from({ length: n }, () => ({
    conversationId: 7,
    seq: ++seq,
    authorId: 1,
    content: randomBytes(1000).toString('hex'),
    metadata: {},
    clientId: null,
    parentMessageId: null,
  }));

/**
 * About `mb` MiB of messages (and more of WAL: heap, indexes), a batch per event-loop turn as
 * shards' batches arrive (PGlite answers within microtasks: a tight loop would never let a timer run).
 */
async function write(mb: number, into: OpenedStore = opened): Promise<void> {
  for (let written = 0; written < mb * 1048576; written += 100 * 2000) {
    await into.store.insertMessages(batch(100));
    await new Promise((r) => setImmediate(r));
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

await t.test('the store checkpoints by itself as WAL accumulates, and pg_wal stays small', async (t) => {
  const lsn = async () => (await opened.pool.query<{ b: number }>("SELECT (pg_current_wal_insert_lsn() - '0/0')::float8 AS b")).rows[0]!.b;
  const from = await lsn();
  await write(48);
  const segments = Math.ceil(((await lsn()) - from) / (16 * 1048576));
  t.ok(await until(() => timed.length >= 3, 10_000), `checkpoints ran on their own (${timed.length})`);
  t.ok(timed.every((c) => c.walMb >= 2), 'each when at least walMb of WAL was due');
  t.ok((await since()) < 2 * 2 + 1, 'a crash now would replay about walMb of WAL, not everything written');
  // Without checkpoints every segment written stays in pg_wal (77 files for 1.2 GB, measured).
  t.ok(segments >= 4, `${segments} segments of WAL written`);
  t.ok(walFiles() < segments, `pg_wal holds ${walFiles()} of them`);
});

await t.test('check(): by WAL size, by age, and never for nothing', async (t) => {
  // Checkers of its own on the quiet store's pool, called by hand.
  const done: number[] = [];
  const onCheckpoint = (c: { walMb: number }) => done.push(c.walMb);
  await quiet.pool.query('CHECKPOINT');
  const bySize = new PgliteCheckpointer(quiet.pool, { walMb: 1, maxAgeMs: 3_600_000, checkEveryMs: 1e9, onCheckpoint });
  await bySize.check();
  t.equal(done.length, 0, 'just checkpointed: none due');
  await write(1.5, quiet);
  await bySize.check();
  t.equal(done.length, 1, 'over walMb: one checkpoint');
  t.ok((await since(quiet)) < 0.1, 'the redo point moved up to the end of the WAL');
  await bySize.check();
  t.equal(done.length, 1, 'nothing written since: no second checkpoint');

  const byAge = new PgliteCheckpointer(quiet.pool, { walMb: 1000, maxAgeMs: 0, checkEveryMs: 1e9, onCheckpoint });
  await byAge.check();
  t.equal(done.length, 1, 'old, but nothing written since the last checkpoint: none');
  await quiet.store.insertMessages(batch(10));
  await byAge.check();
  t.equal(done.length, 2, 'old and something written: a checkpoint, though far under walMb');
});
