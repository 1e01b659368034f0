import t, { type Test } from 'tap';
import { z } from 'zod';
import { ChatError, isChatError } from '../src/errors.js';
import { buildRestSchemas, idParam, pageQuery, parseRest } from '../src/protocol/rest.js';
import { zodToChatError } from '../src/protocol/zod-errors.js';

const schemas = buildRestSchemas({ auth: { minPasswordLength: 10 }, limits: { maxContentChars: 20 } });
const UUID = '550e8400-e29b-41d4-a716-446655440000';

function rejects(t: Test, schema: z.ZodType, input: unknown, path: string, message?: RegExp): void {
  try {
    parseRest(schema, input);
  } catch (e) {
    if (!isChatError(e)) {
      t.fail(`expected a ChatError, got ${String(e)}`);
      return;
    }
    t.equal(e.code, 'validation_failed', e.message);
    t.equal(e.status, 400);
    t.ok(
      e.details?.some((d) => d.path === path && (message === undefined || message.test(d.message))),
      `a detail at "${path}": ${JSON.stringify(e.details)}`,
    );
    return;
  }
  t.fail(`expected ${JSON.stringify(input)} to be refused`);
}

t.test('auth bodies', async (t) => {
  const reg = { username: 'alice_01.x-y', email: 'alice@example.com', password: 'correct horse' };
  t.same(parseRest(schemas.register, reg), reg);
  rejects(t, schemas.register, { ...reg, username: 'al' }, 'username');
  rejects(t, schemas.register, { ...reg, username: 'a'.repeat(51) }, 'username');
  rejects(t, schemas.register, { ...reg, username: 'alice bob' }, 'username', /letters/);
  rejects(t, schemas.register, { ...reg, username: 'alïce' }, 'username');
  rejects(t, schemas.register, { ...reg, email: 'not-an-email' }, 'email');
  rejects(t, schemas.register, { ...reg, password: 'short' }, 'password', /10/);
  rejects(t, schemas.register, { ...reg, role: 'admin' }, 'role', /unknown field/);
  rejects(t, schemas.register, { username: 'alice', email: 'a@b.io' }, 'password', /required/);
  t.ok(parseRest(buildRestSchemas({ auth: { minPasswordLength: 8 }, limits: { maxContentChars: 1 } }).register, { ...reg, password: '12345678' }), 'min from config');

  // The seed's login example.
  t.same(parseRest(schemas.login, { username: 'alice', password: 'secret123' }), { username: 'alice', password: 'secret123' });
  rejects(t, schemas.login, { username: 'alice' }, 'password');
  rejects(t, schemas.login, { username: 'alice', password: 'x', remember: true }, 'remember');
  t.ok(parseRest(schemas.refresh, { refresh_token: 'f4a2c8e1-8b5d-4c9e-9f2a-1e3d5c7b9a0f' }));
  rejects(t, schemas.refresh, { refresh_token: '' }, 'refresh_token');
  rejects(t, schemas.logout, {}, 'refresh_token');
  rejects(t, schemas.logout, [], '');
  rejects(t, schemas.logout, null, '');
});

t.test('rooms', async (t) => {
  t.same(parseRest(schemas.createRoom, { name: 'general' }), { name: 'general' });
  const full = { name: 'general', description: 'chat', is_public: false, max_members: 50 };
  t.same(parseRest(schemas.createRoom, full), full);
  t.ok(parseRest(schemas.createRoom, { name: 'x', description: null, is_public: null, max_members: null }));
  rejects(t, schemas.createRoom, { name: '' }, 'name');
  rejects(t, schemas.createRoom, { name: '   ' }, 'name', /blank/);
  rejects(t, schemas.createRoom, { name: 'x'.repeat(101) }, 'name');
  rejects(t, schemas.createRoom, { name: 'x', max_members: 1 }, 'max_members');
  rejects(t, schemas.createRoom, { name: 'x', max_members: 1.5 }, 'max_members');
  rejects(t, schemas.createRoom, { name: 'x', is_public: 'yes' }, 'is_public');
  rejects(t, schemas.createRoom, { name: 'x', owner_id: 1 }, 'owner_id');
  t.same(parseRest(schemas.updateRoom, { description: 'new' }), { description: 'new' });
  rejects(t, schemas.updateRoom, {}, '', /nothing to update/);
});

t.test('messages, DMs, read markers, reactions, pins', async (t) => {
  // The seed's REST example.
  const seed = { content: 'Hello from REST API!', parent_message_id: null, metadata: { source: 'mobile_app', version: '1.2.0' } };
  t.same(parseRest(schemas.postMessage, seed), seed);
  t.same(parseRest(schemas.postMessage, { content: 'hi', client_id: UUID.toUpperCase() }), { content: 'hi', client_id: UUID });
  rejects(t, schemas.postMessage, { content: 'x'.repeat(21) }, 'content', /too long/);
  rejects(t, schemas.postMessage, { content: 'a\0' }, 'content', /NUL/);
  rejects(t, schemas.postMessage, { content: 'hi', client_id: 'abc' }, 'client_id');
  rejects(t, schemas.postMessage, { content: 'hi', parent_id: 3 }, 'parent_id', /unknown field/);
  rejects(t, schemas.postMessage, { content: 'hi', parent_message_id: 0 }, 'parent_message_id');
  rejects(t, schemas.postMessage, { content: 'hi', metadata: { deep: { n: Infinity } } }, 'metadata.deep.n');
  t.same(parseRest(schemas.editMessage, { content: 'fixed' }), { content: 'fixed' });
  rejects(t, schemas.editMessage, { content: 'fixed', metadata: {} }, 'metadata');
  t.same(parseRest(schemas.createDm, { user_id: 2 }), { user_id: 2 });
  t.same(parseRest(schemas.createDm, { user1_id: 1, user2_id: 2 }), { user1_id: 1, user2_id: 2 }, "the seed's pair, as create_dm");
  rejects(t, schemas.createDm, { user1_id: 1 }, 'user2_id', /required/);
  rejects(t, schemas.createDm, { user_id: 2, user1_id: 1, user2_id: 2 }, 'user_id', /not both/);
  rejects(t, schemas.createDm, {}, 'user_id', /required/);
  t.same(parseRest(schemas.readMarker, { message_id: 9 }), { message_id: 9 });
  rejects(t, schemas.readMarker, { message_id: '9' }, 'message_id');
  t.same(parseRest(schemas.addReaction, { emoji: '🎉' }), { emoji: '🎉' });
  rejects(t, schemas.addReaction, { emoji: 'x'.repeat(33) }, 'emoji');
  t.same(parseRest(schemas.pin, { message_id: 4 }), { message_id: 4 });
  rejects(t, schemas.pin, { message_id: -4 }, 'message_id');
});

t.test('moderation', async (t) => {
  t.same(parseRest(schemas.ban, { user_id: 3 }), { user_id: 3 }, 'a ban without duration is permanent');
  t.same(parseRest(schemas.ban, { user_id: 3, reason: 'spam', duration_s: 3600 }), { user_id: 3, reason: 'spam', duration_s: 3600 });
  rejects(t, schemas.ban, { user_id: 3, duration_s: 0 }, 'duration_s');
  rejects(t, schemas.ban, { user_id: 3, reason: 'x'.repeat(501) }, 'reason');
  rejects(t, schemas.mute, { user_id: 3 }, 'duration_s', /required/);
  t.ok(parseRest(schemas.mute, { user_id: 3, duration_s: 60 }));
  t.ok(parseRest(schemas.kick, { user_id: 3 }));
  rejects(t, schemas.kick, { user_id: 3, duration_s: 5 }, 'duration_s');
});

t.test('path parameters and the page query', async (t) => {
  t.equal(parseRest(idParam, '123'), 123);
  for (const bad of ['0', '-1', '1.5', 'abc', '', '1e3', '99999999999999999', ' 1']) rejects(t, idParam, bad, '');
  t.same(parseRest(pageQuery, {}), { limit: 50 });
  t.same(parseRest(pageQuery, { before: '10', limit: '20' }), { before: 10, limit: 20 });
  t.same(parseRest(pageQuery, { after: '7' }), { after: 7, limit: 50 });
  t.same(parseRest(pageQuery, { after: '0' }), { after: 0, limit: 50 }, 'after 0: from the start');
  t.same(parseRest(pageQuery, { before: '', after: '', limit: '' }), { limit: 50 }, 'empty values are absent');
  rejects(t, pageQuery, { before: '10', after: '5' }, 'after', /together/);
  for (const limit of ['0', '101', 'abc', '-1', '2.5']) rejects(t, pageQuery, { limit }, 'limit');
  rejects(t, pageQuery, { before: '0' }, 'before');
  rejects(t, pageQuery, { limt: '10' }, 'limt', /unknown field/);
  rejects(t, pageQuery, { limit: ['1', '2'] }, 'limit');
});

t.test('zodToChatError', async (t) => {
  const r = z.strictObject({ a: z.int() }).safeParse({ a: 'x', b: 1, c: 2 });
  t.notOk(r.success);
  if (r.success) return;
  const e = zodToChatError(r.error);
  t.ok(e instanceof ChatError);
  t.equal(e.code, 'validation_failed');
  t.same(e.details?.map((d) => d.path), ['a', 'b', 'c']);
  t.match(e.message, /^invalid request: a: .*\(and 2 more\)$/);
  t.same(zodToChatError(r.error, 'data').details?.map((d) => d.path), ['data.a', 'data.b', 'data.c']);
  const arr = z.array(z.int()).safeParse([1, 'x']);
  if (!arr.success) t.equal(zodToChatError(arr.error, 'data.list').details?.[0]?.path, 'data.list[1]');
  const many = z.array(z.int()).safeParse(new Array(50).fill('x'));
  if (!many.success) t.equal(zodToChatError(many.error).details?.length, 20, 'details are capped');
});
