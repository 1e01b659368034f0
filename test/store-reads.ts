/**
 * The store's read markers, unread counts and room changes (src/store/reads-sql.ts), on PGlite
 * and PostgreSQL: the marker only moves forward and answers the one in force, counts leave out
 * the reader's own messages and stop at the cap, one call counts a page of conversations, a
 * room's patch keeps what it does not name, and a deleted room leaves no row behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openStore, type OpenedStore } from '../src/store/open.js';
import { UNREAD_COUNT_CAP } from '../src/store/reads-sql.js';
import { pgliteTemplate } from './helpers/store-suite.js';
import { freshDatabase } from './helpers/services.js';

async function open(t: Test, backend: 'pglite' | 'postgres'): Promise<OpenedStore | null> {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-store-reads-'));
  let opened: OpenedStore | undefined;
  t.teardown(async () => {
    await opened?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  if (backend === 'pglite') {
    opened = await openStore({ dataDir, database: { poolSize: 1 } }, { template: await pgliteTemplate() });
  } else {
    const url = await freshDatabase(t);
    if (url === null) return null;
    opened = await openStore({ dataDir, database: { url, poolSize: 2 } });
  }
  return opened;
}

for (const backend of ['pglite', 'postgres'] as const) {
  t.test(backend, async (t) => {
    const opened = await open(t, backend);
    if (opened === null) return;
    const { store, pool } = opened;
    const user = (name: string) => store.createUser({ username: name, email: `${name}@example.test`, passwordHash: 'x' });
    const [alice, bob] = [await user('alice'), await user('bob')];
    const seqs = new Map<number, number>();
    const write = async (conversationId: number, authorId: number, n = 1) => {
      const start = seqs.get(conversationId) ?? 0;
      seqs.set(conversationId, start + n);
      const rows = Array.from({ length: n }, (_, i) => ({ conversationId, seq: start + i + 1, authorId, content: `m${start + i + 1}` }));
      return (await store.insertMessages(rows)).map((r) => r.id);
    };

    await t.test('markRead: forward only, the marker in force, unread after it', async (t) => {
      const room = await store.createRoom({ name: 'r', ownerId: alice.id, isPublic: true });
      const [b1, b2, b3] = await write(room.id, bob.id, 3);
      const [a4] = await write(room.id, alice.id);
      t.same(await store.markRead(alice.id, room.id, b2!), { message_id: b2, updated: true, unread_count: 1 }, 'b3 unread; a4 is her own');
      t.same(await store.markRead(alice.id, room.id, b1!), { message_id: b2, updated: false, unread_count: 1 }, 'never backwards');
      t.same(await store.markRead(alice.id, room.id, b2!), { message_id: b2, updated: false, unread_count: 1 }, 'the same again');
      t.same(await store.markRead(alice.id, room.id, a4!), { message_id: a4, updated: true, unread_count: 0 });
      t.same(await store.markRead(bob.id, room.id, b3!), { message_id: b3, updated: true, unread_count: 1 }, "one reader's marker is not another's");
      const rows = await pool.query('SELECT user_id, last_read_message_id FROM read_markers WHERE conversation_id = $1 ORDER BY user_id', [room.id]);
      t.same(rows.rows.map((r) => [Number(r.user_id), Number(r.last_read_message_id)]), [[alice.id, a4], [bob.id, b3]]);
    });

    await t.test('unreadCounts: a page in one call, own messages left out, the cap', async (t) => {
      const [r1, r2, r3] = [
        await store.createRoom({ name: 'r1', ownerId: alice.id, isPublic: true }),
        await store.createRoom({ name: 'r2', ownerId: alice.id, isPublic: true }),
        await store.createRoom({ name: 'r3', ownerId: alice.id, isPublic: true }),
      ];
      await write(r1.id, bob.id, 2);
      await write(r1.id, alice.id, 1);
      const many = await write(r2.id, bob.id, UNREAD_COUNT_CAP + 5);
      const counts = await store.unreadCounts(alice.id, [r1.id, r2.id, r3.id]);
      t.same([...counts.entries()].sort((a, b) => a[0] - b[0]), [[r1.id, 2], [r2.id, UNREAD_COUNT_CAP], [r3.id, 0]]);
      await store.markRead(alice.id, r2.id, many[3]!); // 1,001 after it
      t.equal((await store.unreadCounts(alice.id, [r2.id])).get(r2.id), UNREAD_COUNT_CAP, 'still past the cap');
      await store.markRead(alice.id, r2.id, many[many.length - 4]!);
      t.equal((await store.unreadCounts(alice.id, [r2.id])).get(r2.id), 3);
      t.same(await store.unreadCounts(bob.id, [r2.id]), new Map([[r2.id, 0]]), 'the author has nothing unread');
      t.same(await store.unreadCounts(alice.id, []), new Map(), 'an empty page: no query');
    });

    await t.test('listMessages: after 0 pages from the first message', async (t) => {
      const room = await store.createRoom({ name: 'p', ownerId: alice.id, isPublic: true });
      const ids = await write(room.id, alice.id, 3);
      const page = await store.listMessages(room.id, { after: 0, limit: 2 });
      t.same(page.messages.map((m) => m.id), ids.slice(0, 2));
      t.equal(page.has_more, true);
      t.equal(page.next_cursor, ids[1]);
    });

    await t.test('updateRoom: what it names, type with is_public; not a DM', async (t) => {
      const room = await store.createRoom({ name: 'old', description: 'd', ownerId: alice.id, isPublic: true, maxMembers: 10 });
      const a = await store.updateRoom(room.id, { name: 'new' });
      t.match(a, { id: room.id, name: 'new', description: 'd', type: 'public_room', is_public: true, max_members: 10 });
      t.ok(Date.parse(a!.updated_at) >= Date.parse(room.updated_at), 'updated_at moves');
      t.match(await store.updateRoom(room.id, { isPublic: false, maxMembers: 3 }), { name: 'new', type: 'private_room', is_public: false, max_members: 3 });
      t.match(await store.updateRoom(room.id, { isPublic: true }), { type: 'public_room', is_public: true });
      const dm = await store.getOrCreateDm(alice.id, bob.id);
      t.equal(await store.updateRoom(dm.conversation.id, { name: 'x' }), null, 'a DM is not a room');
      t.equal(await store.updateRoom(987_654_321, { name: 'x' }), null);
    });

    await t.test('deleteRoom: the room and every row of it; not a DM', async (t) => {
      const room = await store.createRoom({ name: 'doomed', ownerId: alice.id, isPublic: true });
      await store.joinRoom(room.id, bob.id, 100);
      const [m1] = await write(room.id, bob.id, 2);
      await store.markRead(alice.id, room.id, m1!);
      t.equal(await store.deleteRoom(room.id), true);
      t.equal(await store.getConversation(room.id), null);
      for (const table of ['messages', 'conversation_members', 'read_markers']) {
        const r = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE conversation_id = $1`, [room.id]);
        t.equal(r.rows[0].n, 0, `no ${table} row left`);
      }
      t.equal(await store.deleteRoom(room.id), false, 'twice');
      const dm = await store.getOrCreateDm(alice.id, bob.id);
      t.equal(await store.deleteRoom(dm.conversation.id), false, 'a DM is not deleted this way');
      t.not(await store.getConversation(dm.conversation.id), null);
    });
  });
}
