/**
 * The shard's group committer against a real store (embedded PGlite from the migrated snapshot):
 * flush pacing under load (`intervalMs`), full batches and drains that do not wait for it, and the
 * seq numbers and rows each flush commits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { type Committed, GroupCommitter, type GroupCommitOptions, type SeqCounter } from '../src/actors/group-commit.js';
import { openStore } from '../src/store/open.js';
import { pgliteTemplate } from './helpers/store-suite.js';

const dataDir = mkdtempSync(join(tmpdir(), 'veza-group-commit-'));
const opened = await openStore({ dataDir, database: { poolSize: 1 } }, { template: await pgliteTemplate() });
t.teardown(async () => {
  await opened.close();
  rmSync(dataDir, { recursive: true, force: true });
});
const { store } = opened;
const author = await store.createUser({ username: 'committer', email: 'committer@example.com', passwordHash: 'x' });

async function room(name: string): Promise<SeqCounter> {
  const conv = await store.createRoom({ name, ownerId: author.id });
  return { conversationId: conv.id, lastSeq: 0 };
}

interface Flush {
  startedAt: number;
  rows: number;
}

/** A committer whose flushes are recorded (start time and rows), with `opts` over small defaults. */
function committer(opts: Partial<GroupCommitOptions>): { gc: GroupCommitter; flushes: Flush[] } {
  const flushes: Flush[] = [];
  const gc = new GroupCommitter(store, {
    maxBatch: 256,
    windowMs: 2,
    ...opts,
    onFlush: (rows, ms, failed) => {
      if (!failed) flushes.push({ startedAt: performance.now() - ms, rows });
    },
  });
  return { gc, flushes };
}

const row = (i: number) => ({ authorId: author.id, content: `message ${i}` });

async function storedSeqs(counter: SeqCounter): Promise<number[]> {
  const { rows } = await opened.pool.query<{ seq: number }>('SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq', [
    counter.conversationId,
  ]);
  return rows.map((r) => r.seq);
}

t.test('under load, flushes start at least intervalMs apart and commit every row once, in seq order', async (t) => {
  const counter = await room('paced');
  const { gc, flushes } = committer({ intervalMs: 40 });
  const done: Promise<Committed>[] = [];
  // About one row a millisecond for 400 ms: unpaced, this would be a flush every few milliseconds.
  const until = performance.now() + 400;
  for (let i = 0; performance.now() < until; i++) {
    done.push(gc.submit(counter, row(i)));
    await sleep(1);
  }
  const committed = await Promise.all(done);
  await gc.close();

  t.same(
    committed.map((c) => c.message.seq),
    committed.map((_, i) => i + 1),
    'seqs 1..n in submission order',
  );
  t.ok(committed.every((c) => !c.duplicate));
  t.same(await storedSeqs(counter), committed.map((_, i) => i + 1), 'every row stored once');
  t.equal(
    flushes.reduce((n, f) => n + f.rows, 0),
    committed.length,
  );
  // 400 ms at one flush per 40 ms: about 10 flushes (and the one close() forces), not hundreds.
  t.ok(flushes.length <= 14, `${flushes.length} flushes for ${committed.length} rows`);
  for (let i = 1; i < flushes.length - 1; i++) {
    // Timers may fire up to a millisecond early by rounding; never a whole interval early.
    const gap = flushes[i]!.startedAt - flushes[i - 1]!.startedAt;
    t.ok(gap >= 38, `flush ${i} started ${gap.toFixed(1)} ms after the previous one`);
  }
});

t.test('an idle committer flushes a lone row after windowMs, not intervalMs; the next waits out the interval', async (t) => {
  const counter = await room('idle');
  const { gc, flushes } = committer({ intervalMs: 600 });
  const t0 = performance.now();
  const first = await gc.submit(counter, row(1));
  const firstMs = performance.now() - t0;
  t.equal(first.message.seq, 1);
  t.ok(firstMs < 400, `the first row took ${firstMs.toFixed(1)} ms, well under the 600 ms interval`);
  const second = await gc.submit(counter, row(2));
  t.equal(second.message.seq, 2);
  const gap = flushes[1]!.startedAt - flushes[0]!.startedAt;
  t.ok(gap >= 598, `the second flush started ${gap.toFixed(1)} ms after the first`);
  await gc.close();
});

t.test('a full batch does not wait for the interval', async (t) => {
  const counter = await room('full');
  const { gc, flushes } = committer({ maxBatch: 10, intervalMs: 5_000 });
  await gc.submit(counter, row(0)); // the last flush started just now
  const t0 = performance.now();
  const committed = await Promise.all(Array.from({ length: 30 }, (_, i) => gc.submit(counter, row(i + 1))));
  const ms = performance.now() - t0;
  t.ok(ms < 2_000, `30 rows in batches of 10 took ${ms.toFixed(0)} ms with a 5 s interval`);
  t.same(
    committed.map((c) => c.message.seq),
    Array.from({ length: 30 }, (_, i) => i + 2),
  );
  t.same(
    flushes.map((f) => f.rows),
    [1, 10, 10, 10],
  );
  await gc.close();
});

t.test('close() flushes what waits at once, without waiting for the interval', async (t) => {
  const counter = await room('close');
  const { gc } = committer({ intervalMs: 5_000 });
  await gc.submit(counter, row(0));
  const pending = gc.submit(counter, row(1));
  const t0 = performance.now();
  await gc.close();
  const ms = performance.now() - t0;
  t.equal((await pending).message.seq, 2);
  t.ok(ms < 2_000, `close took ${ms.toFixed(0)} ms with a 5 s interval`);
  t.same(await storedSeqs(counter), [1, 2]);
  await t.rejects(gc.submit(counter, row(2)), /closed/, 'a closed committer takes nothing more');
});

/** The real store, counting look-ups; `beforeInsert` runs before each insert (n: 1, 2, ...). */
function watched(beforeInsert: (n: number) => Promise<void> = async () => {}) {
  const calls = { lookups: 0, inserts: 0 };
  return {
    calls,
    store: {
      findByClientIds: (pairs: ReadonlyArray<{ authorId: number; clientId: string }>) => {
        calls.lookups++;
        return store.findByClientIds(pairs);
      },
      insertMessages: async (batch: Parameters<typeof store.insertMessages>[0]) => {
        await beforeInsert(++calls.inserts);
        return store.insertMessages(batch);
      },
      applyChange: store.applyChange.bind(store),
    },
  };
}

t.test('new client_ids cost no look-up: one statement per flush', async (t) => {
  const here = await room('optimistic');
  const { calls, store: counted } = watched();
  const gc = new GroupCommitter(counted, { maxBatch: 256, windowMs: 2 });
  const sent = await Promise.all([1, 2, 3].map((i) => gc.submit(here, { authorId: author.id, content: `new ${i}`, clientId: randomUUID() })));
  await gc.close();
  t.same(sent.map((c) => [c.message.seq, c.duplicate]), [[1, false], [2, false], [3, false]]);
  t.same(calls, { lookups: 0, inserts: 1 });
});

t.test('a client_id stored long ago (beyond the window) is answered with the stored message; the rest commit', async (t) => {
  const here = await room('stored-before');
  const clientId = randomUUID();
  const first = await store.insertMessages([{ conversationId: here.conversationId, seq: 1, authorId: author.id, content: 'long ago', clientId }]);
  here.lastSeq = 1;
  const { calls, store: counted } = watched();
  const flushes: number[] = [];
  const gc = new GroupCommitter(counted, { maxBatch: 256, windowMs: 2, onFlush: (rows, _ms, failed) => flushes.push(failed ? -1 : rows) });
  const [dup, b] = await Promise.all([
    gc.submit(here, { authorId: author.id, content: 'long ago, again', clientId }),
    gc.submit(here, { authorId: author.id, content: 'fresh', clientId: randomUUID() }),
  ]);
  await gc.close();
  t.equal(dup.duplicate, true);
  t.equal(dup.message.id, first[0]!.id, 'the stored message');
  t.equal(dup.message.content, 'long ago');
  t.equal(b.message.seq, 2, 'the fresh one takes the next seq: the failed insert left no gap');
  t.same(await storedSeqs(here), [1, 2]);
  t.same(calls, { lookups: 1, inserts: 2 }, 'the conflict, then one look-up and the insert of the rest');
  t.same(flushes, [1]);
});

t.test('a client_id another shard stores between the look-up and the insert fails only its own sender', async (t) => {
  const here = await room('race-here');
  const there = await room('race-there');
  const other = await store.createUser({ username: 'racer2', email: 'racer2@example.com', passwordHash: 'x' });
  const clientId = randomUUID();
  const taken = randomUUID();
  await store.insertMessages([{ conversationId: there.conversationId, seq: 1, authorId: other.id, content: 'taken', clientId: taken }]);
  // The first insert conflicts on `taken`; the other shard's commit of `clientId` lands after
  // the look-up that follows, so the second insert conflicts too.
  const { calls, store: racing } = watched(async (n) => {
    if (n === 2) await store.insertMessages([{ conversationId: there.conversationId, seq: 2, authorId: author.id, content: 'there first', clientId }]);
  });
  const flushes: number[] = [];
  const gc = new GroupCommitter(racing, { maxBatch: 256, windowMs: 2, onFlush: (rows, _ms, failed) => flushes.push(failed ? -1 : rows) });
  const [dup, b, c, d] = await Promise.all([
    gc.submit(here, { authorId: author.id, content: 'here too', clientId }),
    gc.submit(here, { authorId: other.id, content: 'bystander' }),
    gc.submit(here, { authorId: other.id, content: 'bystander 2', clientId: randomUUID() }),
    gc.submit(here, { authorId: other.id, content: 'retry of taken', clientId: taken }),
  ]);
  await gc.close();
  t.same(calls, { lookups: 2, inserts: 3 }, 'optimistic insert, look-up, raced insert, look-up, insert');
  t.equal(dup.duplicate, true, 'the reused client_id is answered with the stored message');
  t.equal(dup.message.conversation_id, there.conversationId, '…of the other conversation (the RoomActor answers conflict)');
  t.equal(d.duplicate, true);
  t.equal(d.message.content, 'taken');
  t.same([b.message.seq, c.message.seq], [1, 2], 'the other senders of the batch are committed, seqs without a gap');
  t.equal(here.lastSeq, 2);
  t.same(await storedSeqs(here), [1, 2]);
  t.same(flushes, [2], 'one flush, after two retries');
});
