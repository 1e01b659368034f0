import t from 'tap';
import { toWireMessage, toWireRoom, toWireUser, type ServerEvent, type ServerEventType } from '../src/protocol/events.js';
import { encodeEvent } from '../src/protocol/codec.js';
import type { Conversation, Message } from '../src/store/types.js';

const row: Message = {
  id: 456,
  uuid: '550e8400-e29b-41d4-a716-446655440000',
  conversation_id: 123,
  seq: 981,
  author_id: 7,
  content: 'Hello',
  message_type: 'text',
  parent_message_id: null,
  thread_count: 0,
  status: 'sent',
  is_edited: false,
  edit_count: 0,
  is_pinned: false,
  metadata: {},
  client_id: null,
  created_at: '2026-01-15T10:30:00.000Z',
  updated_at: '2026-01-15T10:31:00.000Z',
  edited_at: null,
  deleted_at: null,
};

/** PROTOCOL.md's message object, verbatim. */
const PROTOCOL_MESSAGE = `{ "id": 456, "uuid": "550e8400-e29b-41d4-a716-446655440000", "conversation_id": 123, "room_id": 123,
  "seq": 981, "author_id": 7, "author": "alice", "content": "Hello", "message_type": "text",
  "parent_message_id": null, "thread_count": 0, "is_edited": false, "edit_count": 0,
  "is_pinned": false, "metadata": {}, "client_id": null, "created_at": "2026-01-15T10:30:00.000Z",
  "edited_at": null, "is_deleted": false, "reactions": [] }`;

t.test('message object: exactly PROTOCOL.md for a room, without room_id for a DM', async (t) => {
  const room = toWireMessage(row, { type: 'public_room' }, 'alice');
  t.equal(JSON.stringify(room), JSON.stringify(JSON.parse(PROTOCOL_MESSAGE)), 'same keys, same order, same values');
  t.equal(JSON.stringify(toWireMessage(row, { type: 'private_room' }, 'alice')), JSON.stringify(room));

  const dm = toWireMessage(row, { type: 'direct_message' }, 'alice');
  t.notOk('room_id' in dm, 'no room_id key at all for a DM');
  const expected = JSON.parse(PROTOCOL_MESSAGE);
  delete expected.room_id;
  t.equal(JSON.stringify(dm), JSON.stringify(expected));

  t.notOk('status' in room || 'updated_at' in room || 'deleted_at' in room, 'row-only fields stay out');
  t.equal(
    encodeEvent('veza.json', 'message', room),
    `{"type":"message","data":${JSON.stringify(JSON.parse(PROTOCOL_MESSAGE))}}`,
    'the message event carries the object itself as data',
  );
});

t.test('message object: timestamps normalised to ISO, nullable fields null', async (t) => {
  const pgText = { ...row, created_at: '2026-01-15 10:30:00+00' };
  t.equal(toWireMessage(pgText, { type: 'public_room' }, 'a').created_at, '2026-01-15T10:30:00.000Z');
  const asDate = { ...row, created_at: new Date('2026-01-15T11:30:00+01:00') as unknown as string };
  t.equal(toWireMessage(asDate, { type: 'public_room' }, 'a').created_at, '2026-01-15T10:30:00.000Z');
  t.equal(toWireMessage({ ...row, created_at: '2026-01-15T10:30:00Z' }, { type: 'public_room' }, 'a').created_at, '2026-01-15T10:30:00.000Z');
  t.throws(() => toWireMessage({ ...row, created_at: 'yesterday' }, { type: 'public_room' }, 'a'), RangeError);
  const sparse = { ...row, metadata: null, client_id: undefined, parent_message_id: undefined } as unknown as Message;
  const w = toWireMessage(sparse, { type: 'direct_message' }, 'a');
  t.same([w.metadata, w.client_id, w.parent_message_id], [{}, null, null]);
});

t.test('room and user objects', async (t) => {
  const conv: Conversation = {
    id: 5,
    uuid: '6f1c1a50-0000-4000-8000-000000000000',
    name: 'general',
    description: null,
    type: 'public_room',
    is_public: true,
    owner_id: 1,
    max_members: null,
    last_seq: 42,
    created_at: '2026-01-15T10:30:00.000Z',
    updated_at: '2026-01-15T10:30:00.000Z',
  };
  t.same(toWireRoom(conv), conv);
  t.throws(() => toWireRoom({ ...conv, type: 'direct_message' }), TypeError);
  t.same(toWireUser({ id: 1, username: 'alice', role: 'user', email: 'a@x.io' } as never), { id: 1, username: 'alice', role: 'user' });
});

t.test('every server event of PROTOCOL.md is named', async (t) => {
  const protocol =
    'authenticated joined left message message_edited message_deleted reaction_added reaction_removed message_pinned ' +
    'message_unpinned typing read presence member_joined member_left member_updated dm_created room_updated room_deleted history resumed ack error pong';
  // A Record over ServerEventType: a missing or an unknown name fails the type check (TAP_TYPECHECK=1).
  const named: Record<ServerEventType, true> = {
    authenticated: true,
    joined: true,
    left: true,
    message: true,
    message_edited: true,
    message_deleted: true,
    reaction_added: true,
    reaction_removed: true,
    message_pinned: true,
    message_unpinned: true,
    typing: true,
    read: true,
    presence: true,
    member_joined: true,
    member_left: true,
    member_updated: true,
    dm_created: true,
    room_updated: true,
    room_deleted: true,
    history: true,
    resumed: true,
    ack: true,
    error: true,
    pong: true,
  };
  t.same(Object.keys(named).sort(), protocol.split(' ').sort());
  // The PROTOCOL examples type-check as ServerEvents (checked under TAP_TYPECHECK=1).
  const examples: ServerEvent[] = [
    {
      type: 'authenticated',
      data: { user: { id: 1, username: 'alice', role: 'user' }, session_id: 's', heartbeat_ms: 30000 },
    },
    { type: 'ack', reply_to: 'c-17', data: {} },
    { type: 'error', reply_to: 'c-17', data: { code: 'rate_limited', message: 'slow down', retry_after_ms: 500 } },
    { type: 'pong', data: undefined },
    { type: 'dm_created', data: { conversation_id: 9, user_ids: [1, 2], last_seq: 0, created: true } },
    { type: 'history', data: { conversation_id: 9, messages: [], has_more: false, next_cursor: null } },
    { type: 'resumed', data: { conversation_id: 9, recovered: true, from_seq: 3, to_seq: 7, live: true } },
    { type: 'presence', data: { user_id: 1, status: 'offline' } },
    { type: 'read', data: { conversation_id: 1, user_id: 2, message_id: 1 } },
    { type: 'room_deleted', data: { room_id: 1 } },
    {
      type: 'room_updated',
      data: {
        room: {
          id: 1,
          uuid: 'c1c5c1fa-9fdb-4055-9c55-799f7c06e4e1',
          name: 'lobby',
          description: 'Say hello',
          type: 'public_room',
          is_public: true,
          owner_id: 2,
          max_members: 500,
          last_seq: 3,
          created_at: '2026-12-04T19:33:01.001Z',
          updated_at: '2026-12-04T19:33:02.521Z',
        },
      },
    },
  ];
  t.equal(examples.length, 11);
});
