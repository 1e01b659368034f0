/**
 * The one store test suite, run on every backend: PGlite (test/store-pglite.ts), PostgreSQL
 * (test/store-postgres.ts), and remoteStore over a MessageChannel to the PGlite store. The store is
 * shared by the whole run, so every scenario makes its own users and rooms (unique names) and
 * never depends on global counts except around its own writes.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import pg from 'pg';
import type { Test } from 'tap';
import { ChatError, type ErrorCode } from '../../src/errors.js';
import { migrate, readMigrations } from '../../src/store/migrate.js';
import { batchExtendedQueries } from '../../src/store/pglite/wire.js';
import type { Store } from '../../src/store/store.js';
import type { Message, NewMessage, User } from '../../src/store/types.js';

/**
 * A PGlite snapshot with the migrations applied, for `openStore(config, { template })`: a new data
 * directory then loads in about a second instead of running initdb (several seconds, more on a busy
 * machine). Built once and kept in the temporary directory under a key of the PGlite version and
 * the migrations' checksums, so a changed migration or a PGlite upgrade builds a new one.
 */
export async function pgliteTemplate(): Promise<Blob> {
  const pkg = JSON.parse(
    readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ) as { version: string };
  const key = createHash('sha256')
    .update(pkg.version)
    .update(readMigrations().map((m) => `${m.version}:${m.checksum}`).join(','))
    .digest('hex')
    .slice(0, 16);
  const file = join(tmpdir(), `veza-pglite-template-${key}.tar`);
  if (existsSync(file)) return new Blob([readFileSync(file)]);
  const db = await PGlite.create();
  try {
    const pool = new pg.Pool({ ...createPgConfig(batchExtendedQueries(db)), max: 1, idleTimeoutMillis: 0 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    const tar = await db.dumpDataDir('none');
    // Written aside and renamed: a test file running alongside never reads half a snapshot.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.from(await tar.arrayBuffer()));
    renameSync(tmp, file);
    return tar;
  } finally {
    await db.close();
  }
}

export interface SuiteTarget {
  store: Store;
  /** Raw SQL on the same database, to check what a failed call left behind. */
  query: <T = Record<string, unknown>>(text: string, values?: unknown[]) => Promise<T[]>;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Awaits a rejection with ChatError `code` (and, when given, a detail naming `path`). */
async function fails(t: Test, p: Promise<unknown>, code: ErrorCode, path?: string, msg?: string): Promise<void> {
  try {
    await p;
    t.fail(`${msg ?? 'call'}: expected ${code}, it succeeded`);
  } catch (e) {
    t.ok(e instanceof ChatError, `${msg ?? 'call'}: a ChatError`);
    t.equal((e as ChatError).code, code, `${msg ?? 'call'}: ${code}`);
    if (path !== undefined) t.equal((e as ChatError).details?.[0]?.path, path, `${msg ?? 'call'}: names ${path}`);
  }
}

export async function storeSuite(t: Test, makeStore: () => Promise<SuiteTarget>): Promise<void> {
  const { store, query } = await makeStore();
  const tag = randomBytes(3).toString('hex');
  let n = 0;
  const name = (base: string) => `${base}_${tag}_${++n}`;
  const user = async (base = 'u', role?: User['role']): Promise<User> => {
    const username = name(base);
    return store.createUser({ username, email: `${username}@example.test`, passwordHash: 'scrypt$x', ...(role ? { role } : {}) });
  };
  const count = async (sql: string, values: unknown[] = []) =>
    Number((await query<{ n: number | string }>(sql, values))[0]!.n);
  const msg = (conversationId: number, seq: number, authorId: number, extra: Partial<NewMessage> = {}): NewMessage => ({
    conversationId,
    seq,
    authorId,
    content: `m${seq}`,
    ...extra,
  });

  await t.test('ping', async (t) => {
    await t.resolves(store.ping());
  });

  await t.test('users: create, read, case-insensitive uniqueness, touch', async (t) => {
    const username = name('Alice');
    const u = await store.createUser({ username, email: `${username}@Example.test`, passwordHash: 'h1' });
    t.type(u.id, 'number');
    t.equal(u.username, username);
    t.equal(u.role, 'user');
    t.equal(u.is_active, true);
    t.equal(u.last_activity, null);
    t.match(u.created_at, ISO, 'timestamps are ISO strings');
    t.notOk('password_hash' in u, 'no hash on a User');

    t.same(await store.getUser(u.id), u);
    t.same(await store.getUserByUsername(username.toUpperCase()), u, 'lookup ignores case');
    const cred = await store.getCredentials(username);
    t.equal(cred?.password_hash, 'h1');
    t.equal(cred?.id, u.id);
    t.equal(await store.getUser(999_999_999), null);
    t.equal(await store.getUserByUsername(name('nobody')), null);
    t.equal(await store.getCredentials(name('nobody')), null);

    await fails(t, store.createUser({ username: username.toLowerCase(), email: `${name('x')}@e.test`, passwordHash: 'h' }), 'conflict', 'username', 'same username, other case');
    await fails(t, store.createUser({ username: name('b'), email: `${username.toUpperCase()}@example.TEST`, passwordHash: 'h' }), 'conflict', 'email', 'same e-mail, other case');
    await fails(t, store.createUser({ username: 'x'.repeat(51), email: `${name('l')}@e.test`, passwordHash: 'h' }), 'validation_failed', undefined, 'username too long');
    await fails(t, store.createUser({ username: name('r'), email: `${name('r')}@e.test`, passwordHash: 'h', role: 'root' as User['role'] }), 'validation_failed', undefined, 'unknown role');
    t.equal(await count('SELECT count(*) AS n FROM users WHERE lower(email) = lower($1)', [`${username}@example.test`]), 1);

    const admin = await user('admin', 'admin');
    t.equal(admin.role, 'admin');

    await store.touchUser(u.id);
    const touched = await store.getUser(u.id);
    t.match(touched?.last_activity, ISO, 'touchUser sets last_activity');
  });

  await t.test('refresh tokens: rotation, reuse, expiry, revocation', async (t) => {
    const u = await user('tok');
    const family = randomUUID();
    const later = new Date(Date.now() + 3_600_000);
    const h = (s: string) => `${tag}-${s}`;
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('t1'), familyId: family, expiresAt: later });

    t.match(await store.rotateRefreshToken(h('t1'), h('t2'), later, 0), { kind: 'rotated', userId: u.id, familyId: family, issuedAt: Date, retried: false });
    t.match(await store.rotateRefreshToken(h('t2'), h('t3'), later, 0), { kind: 'rotated', userId: u.id, familyId: family });
    const [t1] = await query<{ revoked_at: string | null; replaced_by: number | null }>(
      'SELECT revoked_at, replaced_by FROM refresh_tokens WHERE token_hash = $1',
      [h('t1')],
    );
    t.ok(t1?.revoked_at && t1.replaced_by, 'a spent token is revoked and points at its replacement');

    // t1 comes back: the whole family goes, including the live t3.
    t.same(await store.rotateRefreshToken(h('t1'), h('t4'), later, 0), { kind: 'reused', userId: u.id, familyId: family });
    t.equal(await count('SELECT count(*) AS n FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL', [family]), 0);
    t.equal(await count('SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = $1', [h('t4')]), 0, 'no token issued on reuse');
    t.same(await store.rotateRefreshToken(h('t3'), h('t5'), later, 0), { kind: 'invalid' }, 'revoked with the family');

    t.same(await store.rotateRefreshToken(h('unknown'), h('t6'), later, 0), { kind: 'invalid' });
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('old'), familyId: randomUUID(), expiresAt: new Date(Date.now() - 1000) });
    t.same(await store.rotateRefreshToken(h('old'), h('t7'), later, 0), { kind: 'invalid' }, 'expired');

    // Logout revokes the family; the token is then invalid (not "reused": it was never spent).
    const fam2 = randomUUID();
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('l1'), familyId: fam2, expiresAt: later });
    await store.rotateRefreshToken(h('l1'), h('l2'), later, 0);
    t.same(await store.revokeRefreshToken(h('l2')), { userId: Number(u.id), familyId: fam2 }, "known: its user and session");
    t.same(await store.revokeRefreshToken(h('l2')), { userId: Number(u.id), familyId: fam2 }, 'still known after revocation');
    const family2 = randomUUID();
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('n1'), familyId: family2, expiresAt: later });
    await store.rotateRefreshToken(h('n1'), h('n2'), later, 0);
    const recent = await store.recentRevocations(new Date(Date.now() - 60_000));
    t.match(recent.find((r) => r.familyId === fam2), { familyId: fam2, userId: Number(u.id), revokedAt: Date }, 'a logout is a recent revocation');
    t.ok(recent.some((r) => r.familyId === family), 'so is a reuse');
    t.notOk(recent.some((r) => r.familyId === family2), 'a rotation is not');
    t.equal(await store.revokeRefreshToken(h('nope')), null);
    t.same(await store.rotateRefreshToken(h('l2'), h('l3'), later, 0), { kind: 'invalid' });

    await fails(t, store.insertRefreshToken({ userId: 999_999_999, tokenHash: h('x'), familyId: randomUUID(), expiresAt: later }), 'not_found', 'user_id');
    await fails(t, store.insertRefreshToken({ userId: u.id, tokenHash: h('l1'), familyId: randomUUID(), expiresAt: later }), 'conflict', 'token');

    // Nothing half-written: a rotation whose new hash collides fails whole; the old token stays valid.
    const fam3 = randomUUID();
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('c1'), familyId: fam3, expiresAt: later });
    await fails(t, store.rotateRefreshToken(h('c1'), h('l1'), later, 0), 'conflict', 'token', 'colliding new hash');
    t.match(await store.rotateRefreshToken(h('c1'), h('c2'), later, 0), { kind: 'rotated', userId: u.id, familyId: fam3 });

    // Two refreshes racing with one token: one wins, the other is a reuse.
    const fam4 = randomUUID();
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('r1'), familyId: fam4, expiresAt: later });
    const results = await Promise.all([
      store.rotateRefreshToken(h('r1'), h('r2a'), later, 0),
      store.rotateRefreshToken(h('r1'), h('r2b'), later, 0),
    ]);
    t.same(results.map((r) => r.kind).sort(), ['reused', 'rotated']);
    t.equal(await count('SELECT count(*) AS n FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL', [fam4]), 0);

    // Within the grace window, the same rotation again (the same new hash) is the same answer.
    const fam5 = randomUUID();
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('g1'), familyId: fam5, expiresAt: later });
    const both = await Promise.all([store.rotateRefreshToken(h('g1'), h('g2'), later, 30), store.rotateRefreshToken(h('g1'), h('g2'), later, 30)]);
    t.same(both.map((r) => r.kind), ['rotated', 'rotated'], 'two racing retries both rotate');
    t.same(both.map((r) => (r.kind === 'rotated' ? r.retried : null)).sort(), [false, true]);
    const [a, b] = both as [{ issuedAt: Date }, { issuedAt: Date }];
    t.equal(a.issuedAt.getTime(), b.issuedAt.getTime(), 'one rotation: one issue time');
    t.equal(await count('SELECT count(*) AS n FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL', [fam5]), 1, 'one live token');
    t.same(await store.rotateRefreshToken(h('g1'), h('g-other'), later, 30), { kind: 'reused', userId: u.id, familyId: fam5 }, 'another new hash is a reuse');
    const fam6 = randomUUID();
    await store.insertRefreshToken({ userId: u.id, tokenHash: h('k1'), familyId: fam6, expiresAt: later });
    await store.rotateRefreshToken(h('k1'), h('k2'), later, 0);
    t.same(await store.rotateRefreshToken(h('k1'), h('k2'), later, 0), { kind: 'reused', userId: u.id, familyId: fam6 }, 'after the window, a reuse');

    // Every session of a user at once.
    const fam7 = randomUUID();
    const fam8 = randomUUID();
    const v = await user('tok2');
    await store.insertRefreshToken({ userId: v.id, tokenHash: h('v1'), familyId: fam7, expiresAt: later });
    await store.insertRefreshToken({ userId: v.id, tokenHash: h('v2'), familyId: fam8, expiresAt: later });
    t.same((await store.revokeUserRefreshTokens(v.id)).sort(), [fam7, fam8].sort());
    t.same(await store.revokeUserRefreshTokens(v.id), [], 'none left');
  });

  await t.test('audit: filters and cursor', async (t) => {
    const u = await user('aud');
    const action = `test.${tag}`.slice(0, 90);
    for (let i = 0; i < 5; i++) await store.audit({ actorId: u.id, action: `${action}.${i % 2 ? 'odd' : 'even'}`, targetType: 'user', targetId: String(i), ip: '127.0.0.9' });
    const all = await store.listAudit({ action: `${action}.*`, limit: 10 });
    t.equal(all.length, 5);
    t.ok(all[0]!.id > all[4]!.id, 'newest first');
    t.match(all[0], { actor_id: u.id, action: `${action}.even`, target_type: 'user', target_id: '4', ip: '127.0.0.9', details: {} });
    t.equal((await store.listAudit({ action: `${action}.odd`, limit: 10 })).length, 2);
    t.same((await store.listAudit({ action: `${action}.*`, before: all[1]!.id, limit: 2 })).map((r) => r.id), [all[2]!.id, all[3]!.id]);
    t.equal((await store.listAudit({ actorId: u.id, targetId: '3', limit: 10 })).length, 1);
    t.equal((await store.listAudit({ action: `${action}.*`, since: new Date(Date.now() + 60_000), limit: 10 })).length, 0);
    await store.setPasswordHash(u.id, 'scrypt$1$1$1$AA==$AAAAAAAAAAAAAAAAAAAAAA==');
    t.equal((await store.getCredentials(u.username))?.password_hash, 'scrypt$1$1$1$AA==$AAAAAAAAAAAAAAAAAAAAAA==');
  });

  await t.test('login failures', async (t) => {
    const u = await user('fail');
    const before = new Date(Date.now() - 60_000);
    t.same(await store.loginFailures(u.id, before), { count: 0, oldest: null });
    await store.recordLoginFailure(u.id);
    await store.recordLoginFailure(u.id);
    await store.recordLoginFailure(u.id);
    const f = await store.loginFailures(u.id, before);
    t.equal(f.count, 3);
    t.ok(f.oldest instanceof Date, 'oldest is a Date');
    t.ok(f.oldest!.getTime() >= before.getTime() && f.oldest!.getTime() <= Date.now() + 5_000);
    t.equal((await store.loginFailures(u.id, new Date(Date.now() + 60_000))).count, 0, 'window excludes older ones');
    await store.clearLoginFailures(u.id);
    t.same(await store.loginFailures(u.id, before), { count: 0, oldest: null });
    await fails(t, store.recordLoginFailure(999_999_999), 'not_found', 'user_id');
  });

  await t.test('rooms: create with owner membership, nothing half-written', async (t) => {
    const owner = await user('owner');
    const roomName = name('room');
    const room = await store.createRoom({ name: roomName, description: 'd', ownerId: owner.id, maxMembers: 10 });
    t.type(room.id, 'number');
    t.match(room.uuid, UUID);
    t.equal(room.type, 'private_room', 'private unless isPublic');
    t.equal(room.is_public, false);
    t.equal(room.owner_id, owner.id);
    t.equal(room.max_members, 10);
    t.equal(room.last_seq, 0);
    t.match(room.created_at, ISO);
    t.same(await store.getConversation(room.id), room);
    t.match(await store.getMember(room.id, owner.id), { role: 'owner', banned: false, muted_until: null });

    const pub = await store.createRoom({ name: name('pub'), ownerId: owner.id, isPublic: true });
    t.equal(pub.type, 'public_room');
    t.equal(pub.is_public, true);
    t.equal(pub.description, null);
    t.equal(await store.getConversation(999_999_999), null);
    // Several at once (rooms activated together): those that exist, by id, as getConversation reads them.
    const many = await store.getConversations([room.id, 999_999_999, pub.id, room.id]);
    t.same([...many.keys()].sort((a, b) => a - b), [room.id, pub.id].sort((a, b) => a - b), 'the existing ones only');
    t.same(many.get(room.id), room);
    t.same(many.get(pub.id), await store.getConversation(pub.id));
    t.equal((await store.getConversations([])).size, 0);

    const ghost = name('ghost');
    await fails(t, store.createRoom({ name: ghost, ownerId: 999_999_999 }), 'not_found', 'user_id', 'unknown owner');
    t.equal(await count('SELECT count(*) AS n FROM conversations WHERE name = $1', [ghost]), 0, 'no room without its owner');
    await fails(t, store.createRoom({ name: 'n'.repeat(101), ownerId: owner.id }), 'validation_failed', undefined, 'name too long');
    await fails(t, store.createRoom({ name: name('z'), ownerId: owner.id, maxMembers: 0 }), 'validation_failed', undefined, 'max_members 0');
  });

  await t.test('direct conversations: same pair, same conversation, race-safe', async (t) => {
    const a = await user('dma');
    const b = await user('dmb');
    const first = await store.getOrCreateDm(a.id, b.id);
    t.equal(first.created, true);
    t.equal(first.conversation.type, 'direct_message');
    t.equal(first.conversation.is_public, false);
    const again = await store.getOrCreateDm(b.id, a.id);
    t.equal(again.created, false);
    t.same(again.conversation, first.conversation, 'either order, the same conversation');
    t.same((await store.listMembers(first.conversation.id)).map((m) => [m.user_id, m.role]).sort(), [
      [a.id, 'member'],
      [b.id, 'member'],
    ].sort());

    const c = await user('dmc');
    const d = await user('dmd');
    const dmsBefore = await count(`SELECT count(*) AS n FROM conversations WHERE type = 'direct_message'`);
    const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? store.getOrCreateDm(c.id, d.id) : store.getOrCreateDm(d.id, c.id))));
    t.equal(new Set(racing.map((r) => r.conversation.id)).size, 1, 'racing creators agree');
    t.equal(racing.filter((r) => r.created).length, 1, 'exactly one created it');
    t.equal(await count(`SELECT count(*) AS n FROM conversations WHERE type = 'direct_message'`), dmsBefore + 1, 'losers left no conversation behind');

    // Each user's list: newest first, both users named (lower id first), nobody else's.
    const dmsOf = async (u: { id: number }) => (await store.listDms(u.id, { limit: 10 })).map((x) => [x.conversation.id, x.userIds]);
    t.same(await dmsOf(a), [[first.conversation.id, [a.id, b.id]]], "a's DMs");
    t.same(await dmsOf(d), [[racing[0]!.conversation.id, [c.id, d.id]]], "d's DMs (the higher id of its pair)");
    const e = await user('dme');
    const second = await store.getOrCreateDm(e.id, a.id);
    t.same(await dmsOf(a), [[second.conversation.id, [a.id, e.id]], [first.conversation.id, [a.id, b.id]]], 'newest first');
    t.equal((await store.listDms(a.id, { limit: 1 })).length, 1, 'limit');
    t.same((await store.listDms(a.id, { before: second.conversation.id, limit: 10 })).map((x) => x.conversation.id), [first.conversation.id], 'from a cursor on');
    // Public rooms are not DMs, however many and however new.
    await store.createRoom({ name: name('after-dms'), ownerId: a.id });
    t.equal((await store.listDms(a.id, { limit: 10 })).length, 2);

    await fails(t, store.getOrCreateDm(a.id, a.id), 'validation_failed', 'user_id', 'with oneself');
    const dmsNow = await count(`SELECT count(*) AS n FROM conversations WHERE type = 'direct_message'`);
    await fails(t, store.getOrCreateDm(a.id, 999_999_999), 'not_found', 'user_id', 'unknown user');
    t.equal(await count(`SELECT count(*) AS n FROM conversations WHERE type = 'direct_message'`), dmsNow, 'nothing half-written');
  });

  await t.test('membership', async (t) => {
    const owner = await user('mo');
    const m1 = await user('m1');
    const m2 = await user('m2');
    const room = await store.createRoom({ name: name('mroom'), ownerId: owner.id });
    const joined = await store.addMember(room.id, m1.id);
    t.match(joined, { conversation_id: room.id, user_id: m1.id, role: 'member', banned: false, muted_until: null });
    t.match(joined.joined_at, ISO);
    t.same(await store.addMember(room.id, m1.id, 'moderator'), joined, 'joining twice returns the membership unchanged');
    t.equal((await store.addMember(room.id, m2.id, 'moderator')).role, 'moderator');
    t.same(await store.getMember(room.id, m1.id), joined);
    t.equal(await store.getMember(room.id, 999_999_999), null);
    t.same((await store.listMembers(room.id)).map((m) => m.user_id), [owner.id, m1.id, m2.id], 'oldest first');

    await store.getOrCreateDm(m1.id, m2.id);
    const other = await store.createRoom({ name: name('mroom2'), ownerId: owner.id });
    await store.addMember(other.id, m1.id);
    t.equal(await store.countMemberships(m1.id), 2, 'rooms only, not DMs');
    const many = await store.listPresenceTargets([m1.id, m2.id, 999_999_999]);
    t.same(many.get(999_999_999), { rooms: [], peers: [] }, 'a user in nothing');
    const targets = many.get(m1.id)!;
    t.same(targets.rooms.sort((a, b) => a - b), [room.id, other.id].sort((a, b) => a - b), 'presence goes to the rooms');
    t.same(targets.peers, [m2.id], 'and to the other user of each DM');

    t.equal(await store.removeMember(room.id, m1.id), true);
    t.equal(await store.removeMember(room.id, m1.id), false);
    t.equal(await store.getMember(room.id, m1.id), null);
    t.equal(await store.countMemberships(m1.id), 1);

    // A ban lives on the membership row: leaving does not lift it.
    await query('UPDATE conversation_members SET banned = true WHERE conversation_id = $1 AND user_id = $2', [room.id, m2.id]);
    t.equal(await store.removeMember(room.id, m2.id), false, 'a banned member cannot leave the ban behind');
    t.equal((await store.getMember(room.id, m2.id))?.banned, true);
    t.equal((await store.addMember(room.id, m2.id)).banned, true, 'rejoining returns the ban');
    t.equal(await store.countMemberships(m2.id), 0, 'bans do not count');
    t.notOk((await store.listPresenceTargets([m2.id])).get(m2.id)!.rooms.includes(room.id), 'nor for presence');

    await fails(t, store.addMember(999_999_999, m1.id), 'not_found', 'conversation_id');
    await fails(t, store.addMember(room.id, 999_999_999), 'not_found', 'user_id');
    await fails(t, store.addMember(room.id, m1.id, 'king' as 'member'), 'validation_failed');
  });

  await t.test('joinRoom: the rooms-per-user cap and the insert in one statement', async (t) => {
    const owner = await user('jo');
    const j = await user('j1');
    const [r1, r2, r3] = await Promise.all([1, 2, 3].map((i) => store.createRoom({ name: name(`jroom${i}`), ownerId: owner.id })));
    const first = await store.joinRoom(r1!.id, j.id, 2);
    t.match(first, { conversation_id: r1!.id, user_id: j.id, role: 'member', banned: false, muted_until: null });
    t.notOk('rooms' in first || 'inserted' in first, 'only the membership columns come back');
    t.same(await store.joinRoom(r1!.id, j.id, 2), first, 'joining twice returns the membership unchanged');
    await store.getOrCreateDm(j.id, owner.id); // DMs do not count
    await store.joinRoom(r2!.id, j.id, 2);
    await fails(t, store.joinRoom(r3!.id, j.id, 2), 'forbidden', undefined, 'past the cap');
    t.equal(await store.getMember(r3!.id, j.id), null, 'nothing inserted past the cap');
    t.same(await store.joinRoom(r1!.id, j.id, 2), first, 'at the cap, an existing membership is still returned');
    await query('UPDATE conversation_members SET banned = true WHERE conversation_id = $1 AND user_id = $2', [r2!.id, j.id]);
    t.equal((await store.joinRoom(r3!.id, j.id, 2)).conversation_id, r3!.id, 'a ban frees its place under the cap');
    t.equal((await store.joinRoom(r2!.id, j.id, 5)).banned, true, 'rejoining returns the ban');
    await fails(t, store.joinRoom(999_999_999, j.id, 5), 'not_found', 'conversation_id');
  });

  await t.test('visible rooms: public ones and own rooms, not DMs, newest first, by cursor', async (t) => {
    const me = await user('vis');
    const stranger = await user('str');
    const mine = await store.createRoom({ name: name('mine'), ownerId: me.id });
    const theirs = await store.createRoom({ name: name('theirs'), ownerId: stranger.id });
    const banned = await store.createRoom({ name: name('banned'), ownerId: stranger.id });
    await store.addMember(banned.id, me.id);
    await query('UPDATE conversation_members SET banned = true WHERE conversation_id = $1 AND user_id = $2', [banned.id, me.id]);
    const dm = (await store.getOrCreateDm(me.id, stranger.id)).conversation;
    const pub = await store.createRoom({ name: name('vpub'), ownerId: stranger.id, isPublic: true });

    const seen = await store.listVisibleRooms(me.id, { limit: 1000 });
    const ids = seen.map((c) => c.id);
    t.ok(ids.includes(mine.id), 'own private room');
    t.notOk(ids.includes(dm.id), 'not its DMs (listDms)');
    t.ok(ids.includes(pub.id), 'public room');
    t.notOk(ids.includes(theirs.id), "not someone else's private room");
    t.notOk(ids.includes(banned.id), 'not a private room one is banned from');
    t.same(ids, [...ids].sort((x, y) => y - x), 'newest first');
    t.same((await store.listVisibleRooms(me.id, { limit: 2 })).map((c) => c.id), ids.slice(0, 2), 'limit');
    t.same((await store.listVisibleRooms(me.id, { before: ids[1]!, limit: 2 })).map((c) => c.id), ids.slice(2, 4), 'from a cursor on');
    // Own private room, however many public rooms came after it.
    const after = [];
    for (let i = 0; i < 5; i++) after.push((await store.createRoom({ name: name(`later${i}`), ownerId: stranger.id, isPublic: true })).id);
    const walked: number[] = [];
    for (let before: number | undefined; ; ) {
      const page = await store.listVisibleRooms(me.id, { limit: 2, ...(before !== undefined ? { before } : {}) });
      walked.push(...page.map((c) => c.id));
      if (page.length < 2) break;
      before = page[page.length - 1]!.id;
    }
    t.ok(walked.includes(mine.id) && after.every((id) => walked.includes(id)), 'paging reaches everything');
    t.equal(new Set(walked).size, walked.length, 'each once');
    await fails(t, store.listVisibleRooms(me.id, { limit: 0 }), 'validation_failed', 'limit');
  });

  await t.test('messages: batch insert in order, one statement, constraints', async (t) => {
    const a = await user('ma');
    const b = await user('mb');
    const r1 = await store.createRoom({ name: name('r1'), ownerId: a.id });
    const r2 = await store.createRoom({ name: name('r2'), ownerId: a.id });
    t.same(await store.insertMessages([]), []);

    // Interleaved conversations: the result follows the input, whatever the rows' keys.
    const batch: NewMessage[] = [];
    for (let i = 1; i <= 40; i++) {
      batch.push(msg(i % 2 ? r1.id : r2.id, Math.ceil(i / 2), i % 3 ? a.id : b.id, { content: `c${i}` }));
    }
    batch[3] = { ...batch[3]!, clientId: randomUUID(), metadata: { k: [1, 'two'], q: 'a"b\\c' }, messageType: 'image' };
    const out = await store.insertMessages(batch);
    t.equal(out.length, 40);
    for (let i = 0; i < out.length; i++) {
      const row = await store.getMessage(out[i]!.id);
      if (row?.content !== batch[i]!.content || row.seq !== batch[i]!.seq) {
        t.fail(`row ${i} does not match its input`);
        break;
      }
    }
    t.ok(out.every((r, i) => i === 0 || r.id > out[i - 1]!.id), 'ids increase in input order');
    t.ok(out.every((r) => UUID.test(r.uuid) && ISO.test(r.created_at)), 'uuid and created_at');

    const m = (await store.getMessage(out[3]!.id))!;
    t.match(m, {
      id: out[3]!.id,
      uuid: out[3]!.uuid,
      conversation_id: r2.id,
      seq: 2,
      author_id: a.id,
      content: 'c4',
      message_type: 'image',
      parent_message_id: null,
      thread_count: 0,
      status: 'sent',
      is_edited: false,
      edit_count: 0,
      is_pinned: false,
      client_id: batch[3]!.clientId,
      created_at: out[3]!.created_at,
      edited_at: null,
    });
    t.same(m.metadata, { k: [1, 'two'], q: 'a"b\\c' }, 'metadata round-trips');
    t.same((await store.getMessage(out[0]!.id))!.metadata, {}, 'metadata defaults to {}');
    t.equal(await store.getMessage(999_999_999), null);
    t.same(await store.findByClientId(a.id, batch[3]!.clientId!), m);
    t.equal(await store.findByClientId(b.id, batch[3]!.clientId!), null, 'client_id is per author');
    const many = await store.findByClientIds([
      { authorId: a.id, clientId: batch[3]!.clientId! },
      { authorId: b.id, clientId: batch[3]!.clientId! },
      { authorId: a.id, clientId: '00000000-0000-4000-8000-000000000000' },
    ]);
    t.same(many, [m], 'a batch lookup finds exactly the stored pair');
    t.same(await store.findByClientIds([]), []);
    const names = await store.usernames([a.id, b.id, 999_999_999]);
    t.same([...names.entries()].sort(), [[a.id, a.username], [b.id, b.username]].sort(), 'unknown ids are absent');

    // Replies bump the parent's thread count. References are not checked here (no foreign keys on
    // messages, migrations/0004): the RoomActor checks a parent before it submits a reply.
    await store.insertMessages([msg(r1.id, 21, b.id, { parentMessageId: out[0]!.id }), msg(r1.id, 22, a.id, { parentMessageId: out[0]!.id })]);
    t.equal((await store.getMessage(out[0]!.id))!.thread_count, 2);
    t.equal(await store.lastSeq(r1.id), 22);

    // Nothing of a failing batch is written: the batch is one statement.
    const rows = async () => count('SELECT count(*) AS n FROM messages WHERE conversation_id IN ($1, $2)', [r1.id, r2.id]);
    const total = await rows();
    await fails(t, store.insertMessages([msg(r1.id, 23, a.id), msg(r1.id, 5, a.id)]), 'conflict', 'seq', 'seq already stored');
    await fails(t, store.insertMessages([msg(r1.id, 23, a.id), msg(r1.id, 23, a.id)]), 'conflict', 'seq', 'seq twice in a batch');
    await fails(t, store.insertMessages([msg(r1.id, 23, a.id), msg(r1.id, 24, a.id, { clientId: batch[3]!.clientId! })]), 'conflict', 'client_id', 'client_id again');
    const cid = randomUUID();
    await fails(t, store.insertMessages([msg(r1.id, 23, a.id, { clientId: cid }), msg(r2.id, 21, a.id, { clientId: cid })]), 'conflict', 'client_id', 'client_id twice in a batch');
    await fails(t, store.insertMessages([msg(r1.id, 23, a.id, { parentMessageId: out[0]!.id }), msg(r1.id, 23, a.id)]), 'conflict', 'seq', 'a failing batch with a reply');
    await fails(t, store.insertMessages([msg(r1.id, 23, a.id, { messageType: 'video' as 'text' })]), 'validation_failed');
    await fails(t, store.insertMessages([msg(r1.id, 23, a.id, { clientId: 'not-a-uuid' })]), 'validation_failed');
    await fails(t, store.insertMessages([msg(r1.id, 0, a.id)]), 'validation_failed', undefined, 'seq starts at 1');
    t.equal(await rows(), total, 'no row of any failed batch was written');
    t.equal((await store.getMessage(out[0]!.id))!.thread_count, 2, 'nor any thread count bump');
    t.same(
      (await store.insertMessages([msg(r1.id, 23, b.id, { clientId: cid }), msg(r2.id, 21, a.id, { clientId: cid })])).length,
      2,
      'the same client_id from two authors is fine',
    );
  });

  await t.test('messages: any text round-trips, ids increase across large batches', async (t) => {
    const a = await user('mt');
    const r = await store.createRoom({ name: name('rt'), ownerId: a.id });
    // Characters that separate or escape values in text formats (COPY's, which PGlite used to be
    // fed, and CSV): none may change a message or split it into two rows.
    const tricky = ['a\tb', 'line1\nline2\r\n', 'back\\slash \\N \\.', '\\.\n\\.', 'tab\t\\t', 'é 🚀 \u2028 "q"'];
    const meta = { s: 'x\ty\n\\z', '\tkey': ['\r', '\\N'] };
    const out = await store.insertMessages(tricky.map((content, i) => msg(r.id, i + 1, a.id, { content, metadata: meta })));
    t.equal(out.length, tricky.length);
    const back = await store.messagesAfterSeq(r.id, 0, 100);
    t.same(back.map((m) => m.content), tricky, 'contents unchanged, one row each');
    t.ok(back.every((m) => JSON.stringify(m.metadata) === JSON.stringify(meta)), 'metadata unchanged');
    t.same(back.map((m) => m.id), out.map((o) => o.id));

    // More rows than one id block (1,024) in one batch, then small batches: ids keep increasing.
    const big: NewMessage[] = [];
    for (let i = 0; i < 1100; i++) big.push(msg(r.id, tricky.length + 1 + i, a.id, { content: `b${i}` }));
    const bigOut = await store.insertMessages(big);
    const small = await store.insertMessages([msg(r.id, tricky.length + 1101, a.id), msg(r.id, tricky.length + 1102, a.id)]);
    const ids = [...out, ...bigOut, ...small].map((o) => o.id);
    t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'ids increase in input order across batches and blocks');
    t.equal(new Set(bigOut.map((o) => o.uuid)).size, 1100, 'uuids are distinct');
    // 64-bit values past 2^32 (PGlite's COPY input writes each as two 32-bit halves).
    // (No such conversation: nothing checks, see migrations/0004; the room's id keeps reruns apart.)
    const wideConv = 2 ** 40 + r.id;
    const wide = await store.insertMessages([msg(wideConv, 2 ** 33 + 1, a.id, { parentMessageId: 2 ** 35 + 3 })]);
    t.match(await store.getMessage(wide[0]!.id), { conversation_id: wideConv, seq: 2 ** 33 + 1, parent_message_id: 2 ** 35 + 3 }, 'wide integers round-trip');
    const page = await store.listMessages(r.id, { limit: 3 });
    t.same(page.messages.map((m) => m.seq), [tricky.length + 1100, tricky.length + 1101, tricky.length + 1102], 'the newest page by id holds the newest seqs');
  });

  await t.test('threads: exact counts whatever a batch holds, replies by cursor', async (t) => {
    const a = await user('ta');
    const room = await store.createRoom({ name: name('thread'), ownerId: a.id });
    const [root] = await store.insertMessages([msg(room.id, 1, a.id)]);
    // The next batch takes the next ids (a fresh block on PGlite, the sequence on PostgreSQL), so
    // its first row's id is known and a reply in the same batch can name it. The RoomActor never
    // lets this happen (a parent is committed before a reply can name it); the store counts it
    // right anyway: the INSERT cannot see its own rows, the COPY's bump runs after the COPY.
    const next = (await store.insertMessages([msg(room.id, 2, a.id)]))[0]!.id + 1;
    const batch = await store.insertMessages([
      msg(room.id, 3, a.id),
      msg(room.id, 4, a.id, { parentMessageId: next }),
      msg(room.id, 5, a.id, { parentMessageId: root!.id }),
      msg(room.id, 6, a.id, { parentMessageId: next }),
      msg(room.id, 7, a.id, { parentMessageId: root!.id }),
      msg(room.id, 8, a.id, { parentMessageId: next + 1 }),
    ]);
    t.equal(batch[0]!.id, next, 'the batch took the expected ids');
    t.equal((await store.getMessage(next))!.thread_count, 2, 'a parent written in the same batch as its replies counts them');
    t.equal((await store.getMessage(next + 1))!.thread_count, 1, 'a reply is a parent too');
    t.equal((await store.getMessage(root!.id))!.thread_count, 2, 'a parent stored before: bumped once per reply');
    t.equal((await store.getMessage(batch[5]!.id))!.thread_count, 0);

    // Replies by cursor, oldest first, as listMessages pages.
    const many = await store.insertMessages(Array.from({ length: 7 }, (_, i) => msg(room.id, 9 + i, a.id, { parentMessageId: root!.id })));
    const replies = [batch[2]!.id, batch[4]!.id, ...many.map((m) => m.id)];
    t.equal((await store.getMessage(root!.id))!.thread_count, 9);
    const idsOf = (p: { messages: Message[] }) => p.messages.map((m) => m.id);
    const p1 = await store.listReplies(room.id, root!.id, { limit: 4 });
    t.same([idsOf(p1), p1.has_more, p1.next_cursor], [replies.slice(5), true, replies[5]], 'latest replies');
    const p2 = await store.listReplies(room.id, root!.id, { before: p1.next_cursor!, limit: 4 });
    t.same([idsOf(p2), p2.has_more, p2.next_cursor], [replies.slice(1, 5), true, replies[1]]);
    const p3 = await store.listReplies(room.id, root!.id, { before: p2.next_cursor!, limit: 4 });
    t.same([idsOf(p3), p3.has_more, p3.next_cursor], [replies.slice(0, 1), false, null]);
    const f1 = await store.listReplies(room.id, root!.id, { after: replies[0]!, limit: 5 });
    t.same([idsOf(f1), f1.has_more, f1.next_cursor], [replies.slice(1, 6), true, replies[5]], 'forward');
    t.same(idsOf(await store.listReplies(room.id, root!.id, { after: f1.next_cursor!, limit: 5 })), replies.slice(6));
    t.same(await store.listReplies(room.id + 1_000_000, root!.id, { limit: 5 }), { messages: [], has_more: false, next_cursor: null }, 'another conversation: none');
    await fails(t, store.listReplies(room.id, root!.id, { limit: 101 }), 'validation_failed', 'limit');

    // Users by name, case-insensitively (mentions).
    const found = await store.usersByName([a.username.toUpperCase(), 'nobody_' + a.username]);
    t.same([...found.entries()], [[a.username.toLowerCase(), a.id]], 'keys lower-cased, unknown names absent');
    t.same(await store.usersByName([]), new Map());
  });

  await t.test('history: cursor pagination both ways, replay by seq, last seq', async (t) => {
    const a = await user('ha');
    const room = await store.createRoom({ name: name('hist'), ownerId: a.id });
    t.same(await store.listMessages(room.id, { limit: 10 }), { messages: [], has_more: false, next_cursor: null });
    t.equal(await store.lastSeq(room.id), 0);
    t.equal(await store.lastSeq(999_999_999), 0, 'unknown conversation: 0');

    const ids = (await store.insertMessages(Array.from({ length: 25 }, (_, i) => msg(room.id, i + 1, a.id)))).map((r) => r.id);
    const idsOf = (ms: Message[]) => ms.map((m) => m.id);

    // Backward from the latest, oldest first in each page.
    const p1 = await store.listMessages(room.id, { limit: 10 });
    t.same(idsOf(p1.messages), ids.slice(15), 'latest page');
    t.same([p1.has_more, p1.next_cursor], [true, ids[15]]);
    const p2 = await store.listMessages(room.id, { before: p1.next_cursor!, limit: 10 });
    t.same(idsOf(p2.messages), ids.slice(5, 15));
    t.same([p2.has_more, p2.next_cursor], [true, ids[5]]);
    const p3 = await store.listMessages(room.id, { before: p2.next_cursor!, limit: 10 });
    t.same(idsOf(p3.messages), ids.slice(0, 5));
    t.same([p3.has_more, p3.next_cursor], [false, null]);
    const exact = await store.listMessages(room.id, { before: ids[10]!, limit: 10 });
    t.same([idsOf(exact.messages), exact.has_more], [ids.slice(0, 10), false], 'a page that exactly ends the history');

    // Forward.
    const f1 = await store.listMessages(room.id, { after: ids[4]!, limit: 10 });
    t.same(idsOf(f1.messages), ids.slice(5, 15));
    t.same([f1.has_more, f1.next_cursor], [true, ids[14]]);
    const f2 = await store.listMessages(room.id, { after: f1.next_cursor!, limit: 10 });
    t.same(idsOf(f2.messages), ids.slice(15));
    t.same([f2.has_more, f2.next_cursor], [false, null]);
    const between = await store.listMessages(room.id, { after: ids[2]!, before: ids[8]!, limit: 3 });
    t.same([idsOf(between.messages), between.has_more], [ids.slice(3, 6), true], 'after and before: a window');
    t.same(idsOf((await store.listMessages(room.id, { after: ids[2]!, before: ids[8]!, limit: 100 })).messages), ids.slice(3, 8));

    t.same(idsOf((await store.listMessages(room.id, { limit: 100 })).messages), ids, 'limit 100');
    for (const bad of [0, 101, 2.5]) await fails(t, store.listMessages(room.id, { limit: bad }), 'validation_failed', 'limit', `limit ${bad}`);
    await fails(t, store.listMessages(room.id, { before: -1, limit: 5 }), 'validation_failed', 'before');

    // Replay by seq.
    t.same((await store.messagesAfterSeq(room.id, 20, 100)).map((m) => m.seq), [21, 22, 23, 24, 25]);
    t.same((await store.messagesAfterSeq(room.id, 0, 3)).map((m) => m.seq), [1, 2, 3]);
    t.same(await store.messagesAfterSeq(room.id, 25, 10), []);
    await fails(t, store.messagesAfterSeq(room.id, 0, 0), 'validation_failed', 'limit');
    t.equal(await store.lastSeq(room.id), 25);
    t.equal((await store.getConversation(room.id))!.last_seq, 25);

    // A seq consumed by an event that is not a message row (conversations.last_seq) counts too.
    await query('UPDATE conversations SET last_seq = 30 WHERE id = $1', [room.id]);
    t.equal(await store.lastSeq(room.id), 30);
    t.equal((await store.getConversation(room.id))!.last_seq, 30);
  });

  await t.test('audit', async (t) => {
    const a = await user('aud');
    const action = name('room.ban');
    await store.audit({ actorId: a.id, action, targetType: 'user', targetId: '42', details: { reason: 'spam' }, ip: '192.0.2.1' });
    await store.audit({ actorId: null, action });
    const rows = await query<{ actor_id: number | null; target_type: string | null; details: unknown; ip: string | null }>(
      'SELECT actor_id, target_type, details, ip FROM audit_log WHERE action = $1 ORDER BY id',
      [action],
    );
    t.same(rows, [
      { actor_id: a.id, target_type: 'user', details: { reason: 'spam' }, ip: '192.0.2.1' },
      { actor_id: null, target_type: null, details: {}, ip: null },
    ]);
  });
}
