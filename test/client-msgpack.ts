/**
 * The client's own MessagePack subset (src/client/msgpack.ts, browser-safe) against msgpackr, the
 * server's codec: each decodes what the other encodes, for every shape the contract sends, and
 * the refusals the contract names (integers beyond 2^53, binary, extensions, deep nesting).
 */
import t from 'tap';
import { Packr } from 'msgpackr';
import { decode, encode } from '../src/client/msgpack.js';

const server = new Packr({ useRecords: false, mapsAsObjects: true });

const values: unknown[] = [
  { type: 'ping', id: 'p1' },
  { type: 'ack', reply_to: 'p1', data: {} },
  0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER,
  0.5, -1.25, 1e300, true, false, null,
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(200), 'y'.repeat(70_000), '👨‍👩‍👧‍👦 <img src=x onerror=alert(1)>',
  Array.from({ length: 20 }, (_, i) => i),
  Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  { type: 'message', data: { id: 4, seq: 3, room_id: 1, content: 'Hello world!', parent_message_id: null, metadata: { mentions: [1, 3] }, reactions: [{ emoji: '👍🏽', count: 2, reacted: true }] } },
];

t.test('the contract\'s example frame, byte for byte', async (t) => {
  t.same(Buffer.from(encode({ type: 'ping', id: 'p1' })).toString('hex'), '82a474797065a470696e67a26964a27031');
  t.same(decode(Buffer.from('83a474797065a361636ba87265706c795f746fa27031a46461746180', 'hex')), { type: 'ack', reply_to: 'p1', data: {} });
});

t.test('round trips with msgpackr both ways', async (t) => {
  for (const v of values) {
    t.same(server.unpack(Buffer.from(encode(v))), v, `msgpackr reads ours: ${JSON.stringify(v).slice(0, 40)}`);
    t.same(decode(server.pack(v)), v, `we read msgpackr's: ${JSON.stringify(v).slice(0, 40)}`);
  }
  // Float32 from another encoder.
  t.equal(decode(Buffer.from('ca3fc00000', 'hex')), 1.5);
});

t.test('refuses what the contract refuses', async (t) => {
  t.throws(() => decode(Buffer.from('cf0020000000000001', 'hex')), /2\^53/, 'uint64 beyond 2^53');
  t.throws(() => decode(Buffer.from('c40161', 'hex')), /unsupported/, 'bin');
  t.throws(() => decode(Buffer.from('d40101', 'hex')), /unsupported/, 'fixext');
  t.throws(() => decode(Buffer.from('a5616263', 'hex')), /truncated/, 'truncated string');
  t.throws(() => decode(Buffer.from('c0c0', 'hex')), /trailing/, 'two values');
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  t.throws(() => encode(deep), /32 levels/, 'encoding nesting deeper than 32');
  t.throws(() => decode(server.pack(deep)), /32 levels/, 'decoding nesting deeper than 32');
  const proto = decode(server.pack({ ['__proto__']: { polluted: true } })) as Record<string, unknown>;
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'a __proto__ key pollutes nothing');
  t.ok(Object.hasOwn(proto, '__proto__'), 'and stays a plain key');
});
