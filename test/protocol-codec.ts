import t, { type Test } from 'tap';
import { Packr, pack, unpack } from 'msgpackr';
import { isChatError } from '../src/errors.js';
import {
  FrameError,
  PreEncoded,
  decodeFrame,
  encodeEvent,
  jsonEvent,
  preencodeJson,
  selectSubprotocol,
  type Envelope,
  type JsonEvent,
  type SubProtocol,
} from '../src/protocol/codec.js';
import { parseClientFrame } from '../src/protocol/client-ops.js';
import type { ServerEventDataMap, ServerEventType, WireMessage } from '../src/protocol/events.js';

const MAX = 64 * 1024;
// Decoding and encoding as the gateway and fan-out do: decodeFrame and encodeEvent, by sub-protocol.
const json = (frame: string | Uint8Array | ArrayBuffer, isBinary = false, max = MAX): Envelope =>
  decodeFrame('veza.json', frame, isBinary, max);
const mp = (frame: string | Uint8Array | ArrayBuffer, isBinary = true, max = MAX): Envelope =>
  decodeFrame('veza.msgpack', frame, isBinary, max);
const toJson = <K extends ServerEventType>(type: K, data: ServerEventDataMap[K], extra?: { reply_to?: string }): string =>
  encodeEvent('veza.json', type, data, extra) as string;
const toMsgpack = <K extends ServerEventType>(type: K, data: ServerEventDataMap[K], extra?: { reply_to?: string }): Uint8Array =>
  encodeEvent('veza.msgpack', type, data, extra) as Uint8Array;

function rejects(t: Test, fn: () => unknown, code: string, message?: RegExp, replyTo?: string): void {
  try {
    fn();
  } catch (e) {
    if (!isChatError(e)) {
      t.fail(`expected a ChatError, got ${String(e)}`);
      return;
    }
    t.equal(e.code, code, `${code}: ${e.message}`);
    if (message) t.match(e.message, message);
    if (replyTo !== undefined) t.equal(e instanceof FrameError ? e.replyTo : undefined, replyTo, 'the error answers the request');
    return;
  }
  t.fail('expected a throw');
}

/** MessagePack bytes from hex, spaces ignored. */
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** msgpack str header + bytes of an ASCII string (< 32 chars). */
const fixstr = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);

t.test('veza.json: the PROTOCOL envelope decodes from a string, a Buffer and an ArrayBuffer', async (t) => {
  const text = '{ "type": "send_message", "id": "c-17", "data": { "room_id": 123, "content": "Hello world!" } }';
  const want = { type: 'send_message', id: 'c-17', data: { room_id: 123, content: 'Hello world!' } };
  t.same(json(text), want);
  const buf = Buffer.from(text);
  t.same(json(buf), want);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  t.same(json(ab), want);
  t.same(json('{"type":"ping"}'), { type: 'ping' }, 'no data, no id');
  t.same(json('{"type":"ping","id":null,"data":null}'), { type: 'ping' }, 'null id and data count as absent');
  t.same(json(Buffer.from('{"type":"send_message","data":{"room_id":1,"content":"héllo 👋"}}')).data, { room_id: 1, content: 'héllo 👋' });
  const op = parseClientFrame(json(text));
  t.same(op, want, 'and validates as send_message');
});

t.test('veza.json: malformed frames are invalid_frame', async (t) => {
  rejects(t, () => json('{"type":"ping"'), 'invalid_frame', /malformed JSON/);
  rejects(t, () => json(''), 'invalid_frame');
  rejects(t, () => json('{"type":"ping"} x'), 'invalid_frame');
  rejects(t, () => json(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 'invalid_frame', /UTF-8/);
  for (const v of ['[]', 'null', '1', '"ping"', 'true']) rejects(t, () => json(v), 'invalid_frame', /object/);
  rejects(t, () => json('{"data":{}}'), 'invalid_frame', /type/);
  rejects(t, () => json('{"type":""}'), 'invalid_frame', /type/);
  rejects(t, () => json('{"type":5}'), 'invalid_frame', /type/);
  rejects(t, () => json(`{"type":"${'x'.repeat(65)}"}`), 'invalid_frame', /type/);
});

t.test('envelope: id, extra keys, data', async (t) => {
  t.equal(json(`{"type":"ping","id":"${'i'.repeat(64)}"}`).id, 'i'.repeat(64), '64 chars is fine');
  rejects(t, () => json(`{"type":"ping","id":"${'i'.repeat(65)}"}`), 'invalid_frame', /id/, undefined);
  rejects(t, () => json('{"type":"ping","id":17}'), 'invalid_frame', /id/);
  rejects(t, () => json('{"type":"ping","id":""}'), 'invalid_frame', /id/);
  rejects(t, () => json('{"type":"ping","id":"c-1","extra":1}'), 'invalid_frame', /unknown envelope field "extra"/, 'c-1');
  rejects(t, () => json('{"type":"send_message","id":"c-2","room_id":1}'), 'invalid_frame', /go in data/, 'c-2');
  rejects(t, () => json('{"type":"ping","id":"c-3","__proto__":{}}'), 'invalid_frame', /__proto__/, 'c-3');
  rejects(t, () => json('{"id":"c-4","type":7}'), 'invalid_frame', /type/, 'c-4');
  for (const d of ['[]', '"x"', '3', 'true']) {
    rejects(t, () => json(`{"type":"ping","id":"c-5","data":${d}}`), 'invalid_frame', /data must be an object/, 'c-5');
  }
  const e = (() => {
    try {
      json('{"type":"ping","id":"c-6","x":1}');
    } catch (err) {
      return err;
    }
  })();
  t.ok(e instanceof FrameError && isChatError(e), 'a FrameError is a ChatError');
  t.same((e as FrameError).toWire(), {
    code: 'invalid_frame',
    message: 'unknown envelope field "x": operation fields go in data',
    details: [{ path: 'x', message: 'unknown envelope field' }],
  });
});

t.test('frame kind must match the sub-protocol', async (t) => {
  rejects(t, () => json(Buffer.from('{"type":"ping"}'), true), 'invalid_frame', /text frames/);
  rejects(t, () => mp(pack({ type: 'ping' }), false), 'invalid_frame', /binary frames/);
  rejects(t, () => mp('{"type":"ping"}', true), 'invalid_frame', /binary frames/);
});

t.test('size: payload_too_large over maxBytes, for both sub-protocols', async (t) => {
  const text = `{"type":"send_message","data":{"room_id":1,"content":"${'x'.repeat(100)}"}}`;
  const n = Buffer.byteLength(text);
  t.ok(json(text, false, n), 'exactly the limit');
  rejects(t, () => json(text, false, n - 1), 'payload_too_large');
  rejects(t, () => json(Buffer.from(text), false, n - 1), 'payload_too_large');
  // Multi-byte characters count in bytes, not UTF-16 units.
  const wide = `{"type":"send_message","data":{"room_id":1,"content":"${'é'.repeat(60)}"}}`;
  rejects(t, () => json(wide, false, wide.length + 10), 'payload_too_large');
  t.ok(json(wide, false, Buffer.byteLength(wide)));
  const bin = pack({ type: 'send_message', data: { room_id: 1, content: 'x'.repeat(100) } });
  t.ok(mp(bin, true, bin.length));
  rejects(t, () => mp(bin, true, bin.length - 1), 'payload_too_large');
  rejects(t, () => mp(bin, false, bin.length - 1), 'payload_too_large', undefined, undefined);
});

t.test('veza.msgpack: plain maps decode, from a Buffer and an ArrayBuffer', async (t) => {
  const env = { type: 'send_message', id: 'c-17', data: { room_id: 123, content: 'Hello world!', metadata: { f: 1.5, n: null, a: [true, false, -3] } } };
  const bytes = pack(env);
  t.same(mp(bytes), env);
  t.same(mp(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer), env);
  t.same(mp(new Packr({ useRecords: false, variableMapSize: true }).pack(env)), env, 'variable map sizes');
  // int64/uint64 within the safe range decode as numbers
  const big = Buffer.concat([hex('82'), fixstr('type'), fixstr('ping'), fixstr('data'), hex('82'), fixstr('a'), hex('cf 001fffffffffffff'), fixstr('b'), hex('d3 ffe0000000000001')]);
  t.same(mp(big).data, { a: Number.MAX_SAFE_INTEGER, b: -Number.MAX_SAFE_INTEGER });
  // str8 / str16 keys and values
  const s8 = Buffer.concat([hex('81'), hex('d9 04'), Buffer.from('type'), hex('da 0004'), Buffer.from('ping')]);
  t.same(mp(s8), { type: 'ping' });
  t.same(parseClientFrame(mp(bytes)).type, 'send_message');
});

t.test('veza.msgpack: bytes that are not MessagePack, or not an envelope, are invalid_frame', async (t) => {
  const withData = (hexData: string) => Buffer.concat([hex('82'), fixstr('type'), fixstr('ping'), fixstr('data'), hex(hexData)]);
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /truncated/],
    ['truncated map', hex('82 a4 74797065'), /truncated/],
    ['0xc1', hex('c1'), /invalid/],
    ['trailing bytes', Buffer.concat([pack({ type: 'ping' }), hex('c0')]), /trailing/],
    ['records extension', new Packr({ useRecords: true }).pack({ type: 'ping', data: {} }), /extension/],
    ['truncated str16 header', withData('81 a1 61 da 00'), /truncated/],
    ['truncated float64', withData('81 a1 61 cb 0000'), /truncated/],
    ['truncated uint32', withData('81 a1 61 ce 00'), /truncated/],
    ['invalid UTF-8', withData('81 a1 61 a2 c328'), /UTF-8/],
    ['lone surrogate as CESU-8', withData('81 a1 61 a3 eda080'), /UTF-8/],
    ['array claiming 2^32-1 items', withData('dd ffffffff'), /truncated/],
    ['map claiming 65535 entries', withData('de ffff 00'), /truncated/],
    ['string longer than the frame', withData('db 0000ffff 41'), /truncated/],
    ['top-level array', pack([1, 2]), /object/],
    ['top-level string', pack('ping'), /object/],
    ['top-level array holding a bin', pack([Buffer.from('x')]), /binary/],
    ['a bin in data, then the frame ends early', Buffer.concat([hex('83'), fixstr('type'), fixstr('ping'), fixstr('data'), hex('81 a1 62 c4 01 78'), fixstr('id')]), /binary/],
    // msgpackr packs a Set as an ext header followed by the array: to any other reader, bytes left over.
    ['Set with moreTypes', new Packr({ moreTypes: true, useRecords: false }).pack({ type: 'ping', id: 'c-1', data: { m: new Set([1]) } }), /extension/],
    ['a bin in data, then trailing bytes', Buffer.concat([pack({ type: 'ping', id: 'c-1', data: { b: Buffer.from('x') } }), hex('c0')]), /binary/],
  ];
  for (const [name, bytes, why] of cases) rejects(t, () => mp(bytes), 'invalid_frame', why);
  // The envelope rules are the same as veza.json's.
  rejects(t, () => mp(pack({ type: 'ping', id: 'x'.repeat(65) })), 'invalid_frame', /id/);
  rejects(t, () => mp(pack({ type: 'ping', id: 'c-9', more: 1 })), 'invalid_frame', /unknown envelope field/, 'c-9');
  rejects(t, () => mp(pack({ type: 'ping', id: 'c-9', data: [1] })), 'invalid_frame', /data/, 'c-9');
});

/** The FrameError `fn` throws: its code and the request it answers. */
function frameError(fn: () => unknown): { code: string; replyTo: string | undefined; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof FrameError) return { code: e.code, replyTo: e.replyTo, message: e.message };
    if (isChatError(e)) return { code: e.code, replyTo: undefined, message: e.message };
    throw e;
  }
  throw new Error('expected a throw');
}

t.test('veza.msgpack: a value in data that is not JSON data is validation_failed, answering the request', async (t) => {
  // The envelope {type: "send_message", id: "c-1", data: {<key "a">: <value>}} around raw bytes.
  const withValue = (hexValue: string) =>
    Buffer.concat([hex('83'), fixstr('type'), fixstr('send_message'), fixstr('id'), fixstr('c-1'), fixstr('data'), hex('81 a1 61'), hex(hexValue)]);
  const withData = (data: unknown) => pack({ type: 'send_message', id: 'c-1', data });
  let nest: unknown = 1;
  for (let i = 0; i < 40; i++) nest = { a: nest };
  const cases: [string, Buffer, RegExp][] = [
    ['bin', withData({ room_id: 1, content: 'x', metadata: { b: Buffer.from('ab') } }), /binary/],
    ['bin8 in raw bytes', withValue('c4 02 6162'), /binary/],
    ['timestamp extension (a Date)', withData({ room_id: 1, content: 'x', metadata: { t: new Date(0) } }), /extension/],
    ['undefined (fixext 0)', withData({ u: undefined }), /extension/],
    ['Error (0x65)', withValue('d4 65 00'), /extension/],
    ['ext8', withValue('c7 01 05 00'), /extension/],
    ['nested 40 deep in metadata', withData({ room_id: 1, content: 'x', metadata: nest }), /deeper than 32/],
    ['33 levels deep', withValue('91'.repeat(31) + 'c0'), /deeper/],
    ['uint64 over 2^53', withValue('cf 0020000000000000'), /integer/],
    ['uint64 2^63 as room_id', new Packr({ useRecords: false, largeBigIntToFloat: false }).pack({ type: 'send_message', id: 'c-1', data: { room_id: 2n ** 63n, content: 'x' } }), /integer/],
    ['int64 under -2^53', withValue('d3 ffdfffffffffffff'), /integer/],
    ['NaN', withValue('cb 7ff8000000000000'), /NaN/],
    ['Infinity float32', withValue('ca 7f800000'), /NaN/],
    ['Map with integer keys', new Packr({ useRecords: false }).pack({ type: 'send_message', id: 'c-1', data: { m: new Map([[1, 2]]) } }), /keys must be strings/],
    ['map with an integer key', withValue('81 01 02'), /keys must be strings/],
    ['map with a nil key', withValue('81 c0 02'), /keys must be strings/],
    ['map with a map key', withValue('81 80 02'), /keys must be strings/],
    ['__proto__ key', withValue(`81 a9 ${Buffer.from('__proto__').toString('hex')} 80`), /__proto__/],
  ];
  for (const [name, bytes, why] of cases) {
    const e = frameError(() => mp(bytes));
    t.same({ code: e.code, replyTo: e.replyTo }, { code: 'validation_failed', replyTo: 'c-1' }, `${name}: ${e.message}`);
    t.match(e.message, why, name);
  }
  t.ok(mp(withValue('91'.repeat(30) + 'c0')), '32 levels (envelope, data, 30 arrays) are fine');
  // Wherever the id sits, and whatever the type: an unknown type is validation_failed as well.
  const late = Buffer.concat([hex('83'), fixstr('data'), hex('81 a1 62 c4 01 78'), fixstr('type'), fixstr('no_such_op'), fixstr('id'), fixstr('c-2')]);
  t.same(frameError(() => mp(late)), { code: 'validation_failed', replyTo: 'c-2', message: 'invalid data: binary values are not allowed' }, 'the id after data');
  const big16 = Buffer.concat([hex('de 0003'), fixstr('type'), hex('d9 04'), Buffer.from('ping'), fixstr('id'), hex('da 0003'), Buffer.from('c-3'), fixstr('data'), hex('81 a1 62 c4 01 78')]);
  t.same(frameError(() => mp(big16)), { code: 'validation_failed', replyTo: 'c-3', message: 'invalid data: binary values are not allowed' }, 'map16 envelope, str8 and str16 values');
  t.same(frameError(() => mp(pack({ type: 'ping', data: { b: Buffer.from('x') } }))).replyTo, undefined, 'no id, nothing to answer');
  // Past the refused value, every kind of MessagePack value is stepped over to reach the id.
  const values = [
    'c4 01 78', 'c5 0001 78', 'c6 00000001 78', // bin 8/16/32
    'd4 01 00', 'd5 01 0000', 'd6 01 00000000', `d7 01 ${'00'.repeat(8)}`, `d8 01 ${'00'.repeat(16)}`, // fixext
    'c7 01 01 00', 'c8 0001 01 00', 'c9 00000001 01 00', // ext 8/16/32
    'cc ff', 'cd ffff', 'ce ffffffff', 'cf 0000000000000001', 'd0 ff', 'd1 ffff', 'd2 ffffffff', 'd3 ffffffffffffffff',
    'ca 3f800000', 'cb 3ff0000000000000',
    '7f', 'e0', 'c0', 'c2', 'c3',
    'a1 78', 'd9 01 78', 'da 0001 78', 'db 00000001 78',
    '92 01 02', 'dc 0001 c0', 'dd 00000001 c3',
    '81 a1 61 c2', 'de 0001 a1 61 c2', 'df 00000001 a1 61 91 e0',
  ];
  const data = Buffer.concat([hex('de'), Buffer.from([0, values.length]), ...values.map((v, i) => Buffer.concat([fixstr(`k${i}`), hex(v)]))]);
  const everyKind = Buffer.concat([hex('83'), fixstr('type'), fixstr('ping'), fixstr('data'), data, fixstr('id'), fixstr('c-7')]);
  t.same(frameError(() => mp(everyKind)), { code: 'validation_failed', replyTo: 'c-7', message: 'invalid data: binary values are not allowed' }, 'every kind of value skipped');
});

t.test('veza.msgpack: the same value judged where it sits, as veza.json judges the envelope', async (t) => {
  const bin = Buffer.from('x');
  // An id that is not valid answers nothing, as in veza.json.
  t.same(frameError(() => mp(pack({ type: 'ping', id: 'x'.repeat(65), data: { b: bin } }))), {
    code: 'invalid_frame',
    replyTo: undefined,
    message: 'id must be a string of 1..64 characters',
  });
  t.same(frameError(() => mp(pack({ type: 'ping', id: bin }))).replyTo, undefined, 'a bin id');
  t.same(frameError(() => mp(pack({ type: 'ping', id: new Date(0) }))).code, 'invalid_frame', 'an ext id');
  // Outside data, the envelope is what is wrong: invalid_frame, still answering the request.
  const env: [string, Buffer, RegExp][] = [
    ['a bin as data', pack({ type: 'ping', id: 'c-4', data: bin }), /data must be an object/],
    ['a bin in an unknown top-level field', pack({ type: 'ping', id: 'c-4', more: { b: bin } }), /unknown envelope field "more"/],
    ['an ext as type', pack({ type: new Date(0), id: 'c-4', data: {} }), /type/],
    ['no type', pack({ id: 'c-4', data: { b: bin } }), /type/],
    ['a top-level __proto__ key', Buffer.concat([hex('83'), fixstr('type'), fixstr('ping'), fixstr('id'), fixstr('c-4'), hex('a9'), Buffer.from('__proto__'), hex('80')]), /__proto__/],
  ];
  for (const [name, bytes, why] of env) {
    const e = frameError(() => mp(bytes));
    t.same({ code: e.code, replyTo: e.replyTo }, { code: 'invalid_frame', replyTo: 'c-4' }, `${name}: ${e.message}`);
    t.match(e.message, why, name);
  }
  // The code veza.json gives for the same request, where JSON can carry the value.
  let nest: unknown = 1;
  for (let i = 0; i < 40; i++) nest = { a: nest };
  const deep = { type: 'send_message', id: 'c-5', data: { room_id: 1, content: 'x', metadata: nest } };
  const viaJson = frameError(() => parseClientFrame(json(JSON.stringify(deep))));
  t.equal(viaJson.code, 'validation_failed', 'veza.json: validation_failed');
  t.equal(frameError(() => mp(pack(deep))).code, viaJson.code, 'veza.msgpack: the same code');
  const huge = '{"type":"send_message","id":"c-6","data":{"room_id":9223372036854775808,"content":"x"}}';
  t.equal(frameError(() => parseClientFrame(json(huge))).code, 'validation_failed', 'veza.json: validation_failed');
  const hugeMp = new Packr({ useRecords: false, largeBigIntToFloat: false }).pack({ type: 'send_message', id: 'c-6', data: { room_id: 2n ** 63n, content: 'x' } });
  t.same(frameError(() => mp(hugeMp)), { code: 'validation_failed', replyTo: 'c-6', message: 'invalid data: integer outside ±(2^53-1)' }, 'veza.msgpack: the same code');
});

const message: WireMessage = {
  id: 456,
  uuid: '550e8400-e29b-41d4-a716-446655440000',
  conversation_id: 123,
  room_id: 123,
  seq: 981,
  author_id: 7,
  author: 'alice',
  content: 'Hello "quoted" \u2028 é 👋',
  message_type: 'text',
  parent_message_id: null,
  thread_count: 0,
  is_edited: false,
  edit_count: 0,
  is_pinned: false,
  metadata: {},
  client_id: null,
  created_at: '2026-01-15T10:30:00.000Z',
  edited_at: null,
  is_deleted: false,
  reactions: [],
};

t.test('encoding round-trips through both sub-protocols, with PROTOCOL key order', async (t) => {
  const s = toJson('message', message);
  t.equal(s, JSON.stringify({ type: 'message', data: message }), 'byte for byte what JSON.stringify of the envelope gives');
  t.same(JSON.parse(s), { type: 'message', data: message });
  t.equal(toJson('ack', { message_id: 1 }, { reply_to: 'c-17' }), '{"type":"ack","reply_to":"c-17","data":{"message_id":1}}');
  t.equal(toJson('pong', undefined), '{"type":"pong"}');
  t.equal(
    toJson('error', { code: 'rate_limited', message: 'slow down', retry_after_ms: 1200 }, { reply_to: 'id "q"' }),
    '{"type":"error","reply_to":"id \\"q\\"","data":{"code":"rate_limited","message":"slow down","retry_after_ms":1200}}',
  );
  t.equal(toJson('ack', {}, { reply_to: undefined }), '{"type":"ack","data":{}}');

  const b = toMsgpack('message', message);
  t.ok(b instanceof Uint8Array);
  t.same(unpack(b), { type: 'message', data: message });
  t.same(Object.keys(unpack(toMsgpack('ack', { a: 1 }, { reply_to: 'c-1' }))), ['type', 'reply_to', 'data']);
  t.same(unpack(toMsgpack('pong', undefined)), { type: 'pong' });
  // undefined properties are skipped like JSON.stringify skips them; the result is plain MessagePack (no extensions)
  const withUndef = { message_id: 1, gone: undefined, list: [1, undefined] };
  const packed = toMsgpack('ack', withUndef);
  t.same(unpack(packed), JSON.parse(toJson('ack', withUndef)));
  t.same(mp(Buffer.from(packed)), { type: 'ack', data: { message_id: 1, list: [1, null] } }, 'our own decoder accepts what we send');

  // a later encode does not overwrite an earlier result
  const first = Buffer.from(toMsgpack('ack', { n: 1 }));
  const kept = toMsgpack('ack', { n: 1 });
  for (let i = 0; i < 2000; i++) toMsgpack('ack', { n: i, pad: 'x'.repeat(100) });
  t.same(Buffer.from(kept), first);

  for (const p of ['veza.json', 'veza.msgpack'] as SubProtocol[]) {
    const out = encodeEvent(p, 'presence', { user_id: 1, status: 'away' });
    t.equal(typeof out === 'string', p === 'veza.json', `${p} output type`);
  }
});

t.test('jsonEvent + preencodeJson (what shards post): the same bytes as encodeEvent, computed once, owning their memory', async (t) => {
  const events = [
    { type: 'message', data: message },
    { type: 'message', data: { ...message, content: 'é \u2028 "quoted" \\ \n 🙂', metadata: { nested: [1, null, { a: 'b' }] } } },
    { type: 'member_left', data: { room_id: 3, user_id: 4, reason: 'left' } },
    { type: 'typing', data: { conversation_id: 1, user_id: 2, username: 'bob', state: 'start' } },
    { type: 'pong', data: undefined },
  ] as const;
  for (const ev of events) {
    const posted = jsonEvent(ev);
    t.equal(typeof (posted.data ?? ''), 'string', `${ev.type}: data crosses as JSON text`);
    // What the ring does to a post: msgpack there and back.
    const arrived = unpack(pack(posted)) as JsonEvent;
    const pre = preencodeJson(arrived);
    t.ok(pre instanceof PreEncoded);
    t.same(pre.json, Buffer.from(toJson(ev.type, ev.data), 'utf8'), `${ev.type}: json`);
    t.same(pre.msgpack, Buffer.from(toMsgpack(ev.type, ev.data)), `${ev.type}: msgpack`);
    t.equal(pre.json, pre.json, 'computed once');
    t.equal(pre.msgpack, pre.msgpack, 'computed once');
    t.equal(pre.for('veza.json'), pre.json);
    t.equal(pre.for('veza.msgpack'), pre.msgpack);
    t.equal(pre.msgpack.buffer.byteLength, pre.msgpack.byteLength, 'msgpack owns its ArrayBuffer');
    t.equal(pre.json.buffer.byteLength, pre.json.byteLength, 'json owns its ArrayBuffer');
    t.same(JSON.parse(pre.json.toString('utf8')), unpack(pre.msgpack), 'both say the same thing');
  }
  // msgpack first (a front with only veza.msgpack subscribers), then json.
  const pre = preencodeJson(jsonEvent(events[1]));
  t.same(unpack(pre.msgpack), { type: 'message', data: events[1].data });
  t.same(JSON.parse(pre.json.toString('utf8')), { type: 'message', data: events[1].data });
});

t.test('sub-protocol negotiation', async (t) => {
  t.equal(selectSubprotocol(undefined), 'veza.json');
  t.equal(selectSubprotocol(''), 'veza.json');
  t.equal(selectSubprotocol('veza.msgpack'), 'veza.msgpack');
  t.equal(selectSubprotocol('chat, veza.msgpack , veza.json'), 'veza.msgpack');
  t.equal(selectSubprotocol('veza.json,veza.msgpack'), 'veza.json');
  t.equal(selectSubprotocol('mqtt, wamp'), null);
  t.equal(decodeFrame('veza.msgpack', pack({ type: 'ping' }), true, MAX).type, 'ping');
  t.equal(decodeFrame('veza.json', '{"type":"ping"}', false, MAX).type, 'ping');
});
