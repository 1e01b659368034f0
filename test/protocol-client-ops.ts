import t, { type Test } from 'tap';
import { isChatError } from '../src/errors.js';
import {
  buildClientSchemas,
  dmPeerId,
  parseClientFrame,
  type ClientOp,
  type ClientSchemas,
} from '../src/protocol/client-ops.js';
import type { Envelope } from '../src/protocol/codec.js';

const UUID = '550e8400-e29b-41d4-a716-446655440000';

/** The code and details of the ChatError `fn` throws (fails the test when it does not throw one). */
function rejects(t: Test, fn: () => unknown, code: string, path?: string, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    if (!isChatError(e)) {
      t.fail(`expected a ChatError, got ${String(e)}`);
      return;
    }
    t.equal(e.code, code, `code ${code}: ${e.message}`);
    if (path !== undefined) {
      t.ok(
        e.details?.some((d) => d.path === path && (message === undefined || message.test(d.message))),
        `a detail at ${path}${message ? ` matching ${message}` : ''}: ${JSON.stringify(e.details)}`,
      );
    }
    return;
  }
  t.fail('expected a throw');
}

const parse = (type: string, data?: unknown, schemas?: ClientSchemas, id?: string): ClientOp => {
  const env: Envelope = { type };
  if (data !== undefined) env.data = data as Record<string, unknown>;
  if (id !== undefined) env.id = id;
  return parseClientFrame(env, schemas);
};

/** One valid example per operation (PROTOCOL.md's table and the seed's WebSocket examples), and its required fields. */
const VALID: Record<string, { data?: Record<string, unknown>; required: string[]; ids: string[] }> = {
  authenticate: { data: { token: 'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.x' }, required: ['token'], ids: [] },
  join_room: { data: { room_id: 123, user_id: 456 }, required: ['room_id'], ids: ['room_id', 'user_id'] },
  leave_room: { data: { room_id: 123 }, required: ['room_id'], ids: ['room_id'] },
  send_message: {
    data: { room_id: 123, content: 'Hello world!', parent_id: null, metadata: {} },
    required: ['room_id', 'content'],
    ids: ['room_id', 'parent_id'],
  },
  edit_message: { data: { message_id: 456, content: 'Hello again' }, required: ['message_id', 'content'], ids: ['message_id'] },
  delete_message: { data: { message_id: 456 }, required: ['message_id'], ids: ['message_id'] },
  create_dm: { data: { user1_id: 123, user2_id: 456 }, required: [], ids: ['user1_id', 'user2_id'] },
  send_dm: {
    data: { conversation_id: 789, content: 'Message privé', parent_id: null },
    required: ['conversation_id', 'content'],
    ids: ['conversation_id', 'parent_id'],
  },
  add_reaction: { data: { message_id: 123, emoji: '👍' }, required: ['message_id', 'emoji'], ids: ['message_id'] },
  remove_reaction: { data: { message_id: 123, emoji: '👍' }, required: ['message_id', 'emoji'], ids: ['message_id'] },
  pin_message: { data: { room_id: 123, message_id: 456 }, required: ['room_id', 'message_id'], ids: ['room_id', 'message_id'] },
  unpin_message: { data: { room_id: 123, message_id: 456 }, required: ['room_id', 'message_id'], ids: ['room_id', 'message_id'] },
  typing: { data: { conversation_id: 123, state: 'start' }, required: ['state'], ids: ['conversation_id'] },
  mark_read: { data: { conversation_id: 123, message_id: 456 }, required: ['conversation_id', 'message_id'], ids: ['conversation_id', 'message_id'] },
  fetch_history: { data: { conversation_id: 123, before: 456, limit: 20 }, required: ['conversation_id'], ids: ['conversation_id', 'before'] },
  resume: { data: { positions: { '123': 981, '7': 0 } }, required: ['positions'], ids: [] },
  set_presence: { data: { status: 'away' }, required: ['status'], ids: [] },
  ping: { required: [], ids: [] },
  kick_member: { data: { room_id: 1, user_id: 2, reason: 'spam' }, required: ['room_id', 'user_id'], ids: ['room_id', 'user_id'] },
  ban_member: { data: { room_id: 1, user_id: 2, duration_s: 3600, reason: null }, required: ['room_id', 'user_id'], ids: ['room_id', 'user_id'] },
  unban_member: { data: { room_id: 1, user_id: 2 }, required: ['room_id', 'user_id'], ids: ['room_id', 'user_id'] },
  // duration_s is required too (a mute always ends): checked below, as 12345 is a valid length.
  mute_member: { data: { room_id: 1, user_id: 2, duration_s: 60 }, required: ['room_id', 'user_id'], ids: ['room_id', 'user_id'] },
  unmute_member: { data: { room_id: 1, user_id: 2 }, required: ['room_id', 'user_id'], ids: ['room_id', 'user_id'] },
  set_member_role: { data: { room_id: 1, user_id: 2, role: 'moderator' }, required: ['room_id', 'user_id', 'role'], ids: ['room_id', 'user_id'] },
};

t.test('moderation operations: lengths, reasons and roles', async (t) => {
  rejects(t, () => parse('mute_member', { room_id: 1, user_id: 2 }), 'validation_failed', 'data.duration_s', /required/);
  for (const bad of [0, -5, 1.5, 365 * 86_400 + 1, '60']) {
    rejects(t, () => parse('mute_member', { room_id: 1, user_id: 2, duration_s: bad }), 'validation_failed', 'data.duration_s');
    rejects(t, () => parse('ban_member', { room_id: 1, user_id: 2, duration_s: bad }), 'validation_failed', 'data.duration_s');
  }
  t.same(parse('ban_member', { room_id: 1, user_id: 2 }).data, { room_id: 1, user_id: 2 }, 'a ban without a length is permanent');
  rejects(t, () => parse('kick_member', { room_id: 1, user_id: 2, reason: 'x'.repeat(501) }), 'validation_failed', 'data.reason');
  rejects(t, () => parse('set_member_role', { room_id: 1, user_id: 2, role: 'owner' }), 'validation_failed', 'data.role');
});

t.test('the table covers every operation of PROTOCOL.md', async (t) => {
  // The table as the gateway builds it from the configured limits.
  t.same(Object.keys(buildClientSchemas({ maxContentChars: 10_000 })).sort(), Object.keys(VALID).sort());
});

t.test('every operation: its valid example parses; missing, extra and mistyped fields are validation_failed', async (t) => {
  for (const [type, ex] of Object.entries(VALID)) {
    t.test(type, async (t) => {
      const op = parse(type, ex.data, undefined, 'c-17');
      t.equal(op.type, type);
      t.equal(op.id, 'c-17', 'the request id is kept');
      t.type(op.data, 'object');
      for (const key of ex.required) {
        const data = { ...ex.data };
        delete data[key];
        rejects(t, () => parse(type, data), 'validation_failed', `data.${key}`, /required/);
      }
      rejects(t, () => parse(type, { ...ex.data, bogus: 1 }), 'validation_failed', 'data.bogus', /unknown field/);
      for (const key of ex.ids) {
        for (const bad of [0, -1, 1.5, 2 ** 53, '12', true, {}]) {
          rejects(t, () => parse(type, { ...ex.data, [key]: bad }), 'validation_failed', `data.${key}`);
        }
      }
      for (const key of ex.required) {
        if (ex.ids.includes(key)) continue;
        rejects(t, () => parse(type, { ...ex.data, [key]: 12345 }), 'validation_failed', `data.${key}`);
      }
    });
  }
});

t.test('envelope-level: unknown type, prototype keys, data absent', async (t) => {
  rejects(t, () => parse('send_messages', {}), 'validation_failed', 'type');
  rejects(t, () => parse('toString', {}), 'validation_failed', 'type');
  rejects(t, () => parse('__proto__', {}), 'validation_failed', 'type');
  t.same(parse('ping'), { type: 'ping', data: {} }, 'ping without data');
  t.same(parse('ping', {}), { type: 'ping', data: {} });
  rejects(t, () => parse('ping', { x: 1 }), 'validation_failed', 'data.x');
  rejects(t, () => parse('leave_room'), 'validation_failed', 'data.room_id', /required/);
  const err = (() => {
    try {
      parse('send_message', { room_id: 'x', content: '', extra: 1 });
    } catch (e) {
      return e;
    }
  })();
  t.ok(isChatError(err));
  if (isChatError(err)) {
    t.equal(err.status, 400);
    t.match(err.message, /^invalid send_message: data\.room_id: .* \(and 2 more\)$/);
    t.same(err.toWire().details?.map((d) => d.path), ['data.room_id', 'data.content', 'data.extra']);
  }
});

t.test('content: length in code points from limits, NUL, lone surrogates, blank', async (t) => {
  const s = buildClientSchemas({ maxContentChars: 10 });
  const send = (content: unknown) => parse('send_message', { room_id: 1, content }, s);
  t.equal((send('x'.repeat(10)).data as { content: string }).content, 'x'.repeat(10), 'exactly the limit');
  rejects(t, () => send('x'.repeat(11)), 'validation_failed', 'data.content', /too long/);
  t.ok(send('😀'.repeat(10)), 'ten emoji are ten characters (twenty UTF-16 units)');
  rejects(t, () => send('😀'.repeat(11)), 'validation_failed', 'data.content', /too long/);
  rejects(t, () => send('a\u0000b'), 'validation_failed', 'data.content', /NUL/);
  rejects(t, () => send('a\uD800b'), 'validation_failed', 'data.content', /surrogate/);
  rejects(t, () => send('\uDC00'), 'validation_failed', 'data.content', /surrogate/);
  rejects(t, () => send(''), 'validation_failed', 'data.content', /empty/);
  rejects(t, () => send(' \n\t '), 'validation_failed', 'data.content', /empty/);
  t.equal((send('  code\n').data as { content: string }).content, '  code\n', 'stored as sent, not trimmed');
  rejects(t, () => send(42), 'validation_failed', 'data.content');
  rejects(t, () => parse('edit_message', { message_id: 1, content: 'x'.repeat(11) }, s), 'validation_failed', 'data.content');
  rejects(t, () => parse('send_dm', { conversation_id: 1, content: '\0' }, s), 'validation_failed', 'data.content');
  // The default table follows the configuration default (10 000).
  t.ok(parse('send_message', { room_id: 1, content: 'x'.repeat(10_000) }));
  rejects(t, () => parse('send_message', { room_id: 1, content: 'x'.repeat(10_001) }), 'validation_failed', 'data.content');
});

t.test('send_message / send_dm optional fields', async (t) => {
  const op = parse('send_message', { room_id: 1, content: 'hi', parent_id: 9, metadata: { a: [1, 'b', null, true] }, client_id: UUID.toUpperCase() });
  t.same(op.data, { room_id: 1, content: 'hi', parent_id: 9, metadata: { a: [1, 'b', null, true] }, client_id: UUID }, 'client_id lower-cased');
  t.ok(parse('send_message', { room_id: 1, content: 'hi', parent_id: null, metadata: null, client_id: null }), 'null is absent');
  for (const bad of ['not-a-uuid', UUID.slice(1), `${UUID}0`, 'zzzzzzzz-e29b-41d4-a716-446655440000', 7]) {
    rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', client_id: bad }), 'validation_failed', 'data.client_id');
  }
  for (const bad of [[], 'x', 3]) {
    rejects(t, () => parse('send_dm', { conversation_id: 1, content: 'hi', metadata: bad }), 'validation_failed', 'data.metadata');
  }
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 8; i++) deep = { n: deep };
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: deep }), 'validation_failed', 'data.metadata.n.n.n.n.n.n.n.n', /deeper/);
  t.ok(parse('send_message', { room_id: 1, content: 'hi', metadata: (deep.n as Record<string, unknown>) }), 'eight levels are fine');
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: { big: 'x'.repeat(16 * 1024) } }), 'validation_failed', 'data.metadata', /too large/);
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: { many: new Array(1001).fill(0) } }), 'validation_failed', 'data.metadata', /too many/);
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: JSON.parse('{"__proto__":{"admin":true}}') }), 'validation_failed', 'data.metadata.__proto__');
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: { d: new Date() } }), 'validation_failed', 'data.metadata.d');
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: { n: Number.NaN } }), 'validation_failed', 'data.metadata.n');
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: { u: undefined } }), 'validation_failed', 'data.metadata.u');
  // jsonb cannot hold NUL: one such message would fail every message of its commit batch.
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: { s: ['ok', 'a\u0000b'] } }), 'validation_failed', 'data.metadata.s[1]', /NUL/);
  rejects(t, () => parse('send_message', { room_id: 1, content: 'hi', metadata: { 'k\u0000': 1 } }), 'validation_failed', 'data.metadata.k\u0000', /NUL/);
});

t.test('create_dm: user_id or the seed pair, and the peer', async (t) => {
  const one = parse('create_dm', { user_id: 5 });
  const pair = parse('create_dm', { user1_id: 3, user2_id: 5 });
  if (one.type !== 'create_dm' || pair.type !== 'create_dm') throw new Error('unreachable');
  t.equal(dmPeerId(one.data, 3), 5);
  t.equal(dmPeerId(pair.data, 3), 5);
  t.equal(dmPeerId(pair.data, 5), 3);
  t.throws(() => dmPeerId(pair.data, 4), { code: 'forbidden' });
  rejects(t, () => parse('create_dm', {}), 'validation_failed', 'data.user_id', /required/);
  rejects(t, () => parse('create_dm', { user1_id: 3 }), 'validation_failed', 'data.user2_id');
  rejects(t, () => parse('create_dm', { user2_id: 3 }), 'validation_failed', 'data.user1_id');
  rejects(t, () => parse('create_dm', { user_id: 5, user1_id: 3, user2_id: 5 }), 'validation_failed', 'data.user_id', /not both/);
});

t.test('reactions: an emoji is one emoji grapheme, never text', async (t) => {
  for (const ok of ['👍', '👨‍👩‍👧‍👦', '🏳️‍🌈', '👍🏽', '🧑🏾‍💻', '🇫🇷', '🏴󠁧󠁢󠁥󠁮󠁧󠁿', '1️⃣', '❤️']) {
    t.equal((parse('add_reaction', { message_id: 1, emoji: ok }).data as { emoji: string }).emoji, ok, ok);
  }
  for (const bad of ['', ' ', 'a', 'a b', ':thumbsup:', '+1', '👍👍', '👍 ', 'x'.repeat(33), '\u0000', '\n', '\uD83D', '\u200D', 1, null]) {
    rejects(t, () => parse('remove_reaction', { message_id: 1, emoji: bad }), 'validation_failed', 'data.emoji');
  }
});

t.test('typing: conversation_id or room_id, normalised to conversation_id', async (t) => {
  t.same(parse('typing', { room_id: 4, state: 'stop' }).data, { conversation_id: 4, state: 'stop' });
  t.same(parse('typing', { conversation_id: 4, state: 'start' }).data, { conversation_id: 4, state: 'start' });
  rejects(t, () => parse('typing', { state: 'start' }), 'validation_failed', 'data.conversation_id');
  rejects(t, () => parse('typing', { conversation_id: 4, room_id: 4, state: 'start' }), 'validation_failed', 'data.room_id');
  rejects(t, () => parse('typing', { conversation_id: 4, state: 'typing' }), 'validation_failed', 'data.state');
});

t.test('fetch_history: limit 1..100 default 50, before xor after', async (t) => {
  t.same(parse('fetch_history', { conversation_id: 1 }).data, { conversation_id: 1, limit: 50 });
  t.same(parse('fetch_history', { conversation_id: 1, after: 7, limit: 100, before: null }).data, { conversation_id: 1, after: 7, limit: 100 });
  t.same(parse('fetch_history', { conversation_id: 1, limit: 1 }).data, { conversation_id: 1, limit: 1 });
  for (const limit of [0, 101, -5, 2.5, '10']) {
    rejects(t, () => parse('fetch_history', { conversation_id: 1, limit }), 'validation_failed', 'data.limit');
  }
  rejects(t, () => parse('fetch_history', { conversation_id: 1, before: 5, after: 2 }), 'validation_failed', 'data.after', /together/);
  t.same(parse('fetch_history', { conversation_id: 1, after: 0 }).data, { conversation_id: 1, after: 0, limit: 50 }, 'after 0: from the start');
  rejects(t, () => parse('fetch_history', { conversation_id: 1, after: -1 }), 'validation_failed', 'data.after');
  rejects(t, () => parse('fetch_history', { conversation_id: 1, before: 0 }), 'validation_failed', 'data.before');
});

t.test('resume: positions of conversation id → last seq', async (t) => {
  const op = parse('resume', { positions: { '12': 3, '7': 0 } });
  t.same(op.data, { positions: [{ conversation_id: 7, last_seq: 0 }, { conversation_id: 12, last_seq: 3 }] });
  t.same(parse('resume', { positions: {} }).data, { positions: [] }, 'nothing to resume is fine');
  for (const bad of [{ '0': 1 }, { x: 1 }, { '-1': 1 }, { '01': 1 }, { '1.5': 1 }, { '99999999999999999': 1 }]) {
    rejects(t, () => parse('resume', { positions: bad }), 'validation_failed', `data.positions.${Object.keys(bad)[0]}`);
  }
  for (const seq of [-1, 1.5, '3', null, 2 ** 53]) {
    rejects(t, () => parse('resume', { positions: { '5': seq } }), 'validation_failed', 'data.positions.5');
  }
  rejects(t, () => parse('resume', { positions: [1, 2] }), 'validation_failed', 'data.positions');
  const many: Record<string, number> = {};
  for (let i = 1; i <= 200; i++) many[String(i)] = i;
  t.equal((parse('resume', { positions: many }).data as { positions: unknown[] }).positions.length, 200);
  many['201'] = 1;
  rejects(t, () => parse('resume', { positions: many }), 'validation_failed', 'data.positions', /too many/);
});

t.test('set_presence, authenticate, join_room', async (t) => {
  rejects(t, () => parse('set_presence', { status: 'offline' }), 'validation_failed', 'data.status', /* offline is the server's to say */);
  rejects(t, () => parse('authenticate', { token: '' }), 'validation_failed', 'data.token');
  rejects(t, () => parse('authenticate', { token: 'x'.repeat(8193) }), 'validation_failed', 'data.token');
  t.same(parse('join_room', { room_id: 1 }).data, { room_id: 1 }, 'user_id is optional');
});

t.test('ClientOp is a discriminated union on type', async (t) => {
  const op = parse('send_message', { room_id: 1, content: 'x' });
  if (op.type !== 'send_message') throw new Error('unreachable');
  const room: number = op.data.room_id;
  const text: string = op.data.content;
  const parent: number | null | undefined = op.data.parent_id;
  t.equal(room + text.length, 2);
  t.equal(parent, undefined);
  const h = parse('fetch_history', { conversation_id: 3 });
  if (h.type !== 'fetch_history') throw new Error('unreachable');
  const limit: number = h.data.limit;
  t.equal(limit, 50);
  const r = parse('resume', { positions: { '3': 1 } });
  if (r.type !== 'resume') throw new Error('unreachable');
  const first: { conversation_id: number; last_seq: number } | undefined = r.data.positions[0];
  t.same(first, { conversation_id: 3, last_seq: 1 });
});
