import { Packr, Unpackr } from 'msgpackr';
import { ChatError, type ErrorDetail } from '../errors.js';
import type { ServerEvent, ServerEventDataMap, ServerEventType } from './events.js';
import { envelopeOutline, scanMsgpack, type MsgpackProblem } from './msgpack-scan.js';

/**
 * Envelope codecs for the two WebSocket sub-protocols (PROTOCOL.md "WebSocket").
 *
 * Error codes, decided once for every frame:
 * - `payload_too_large`: the frame is over `maxBytes` (checked before anything else);
 * - `invalid_frame`: the envelope cannot be read as one: wrong frame kind for the sub-protocol
 *   (text for veza.json, binary for veza.msgpack), malformed JSON or MessagePack, MessagePack that
 *   is not plain JSON data outside `data`, an envelope that is not an object, a top-level key other
 *   than type/id/data, `type` not a non-empty string, `id` not a string of 1..64 chars, `data` not
 *   an object;
 * - `validation_failed` (client-ops.ts): the envelope is well formed but the request is not:
 *   an unknown `type`, or anything in `data`. A MessagePack value inside `data` that is not JSON
 *   data (bin, ext, an integer beyond 2^53, nesting past MSGPACK_MAX_DEPTH) is refused here,
 *   before msgpackr decodes it, but with this code too: it is what veza.json gives where JSON can
 *   carry the same content (a huge number, deep nesting).
 * Neither closes the socket here; what the connection does about repeated errors is the socket layer's.
 *
 * When the envelope's `id` could be read, the error is a FrameError carrying it as `replyTo`, so
 * the error frame still answers the request (`reply_to`).
 */

const SUBPROTOCOLS = ['veza.json', 'veza.msgpack'] as const;
export type SubProtocol = (typeof SUBPROTOCOLS)[number];
const DEFAULT_SUBPROTOCOL: SubProtocol = 'veza.json';

const ENVELOPE_ID_MAX_CHARS = 64;
const TYPE_MAX_CHARS = 64;
/** Containers nested in one MessagePack frame: the envelope, data, metadata (8 deep) and room to spare. */
const MSGPACK_MAX_DEPTH = 32;

/** A decoded client frame, before its operation is validated. `data` is absent when the frame had none (or null). */
export interface Envelope {
  type: string;
  id?: string;
  data?: Record<string, unknown>;
}

/**
 * A codec error that knows which request it answers, when the envelope's `id` was readable:
 * `invalid_frame`, or `validation_failed` for a MessagePack value in `data` the codec refuses.
 */
export class FrameError extends ChatError {
  readonly replyTo: string | undefined;
  constructor(
    message: string,
    replyTo?: string,
    details?: ErrorDetail[],
    code: 'invalid_frame' | 'validation_failed' = 'invalid_frame',
  ) {
    super(code, message, details === undefined ? {} : { details });
    this.name = 'FrameError';
    this.replyTo = replyTo;
  }
}

/** The bytes of a frame as the socket libraries hand them over (uWS: ArrayBuffer; ws: Buffer; tests: strings). */
export type FrameInput = string | ArrayBuffer | ArrayBufferView;

/** Extra top-level envelope fields of a server frame. */
interface EventExtra {
  reply_to?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Decoding

const utf8 = new TextDecoder('utf-8', { fatal: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

function toBytes(frame: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (frame instanceof Uint8Array) return frame;
  if (ArrayBuffer.isView(frame)) return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
  return new Uint8Array(frame);
}

function checkSize(frame: FrameInput, maxBytes: number): void {
  let size: number;
  if (typeof frame === 'string') {
    // UTF-8 takes 1..3 bytes per UTF-16 unit: measure only when the bounds do not decide.
    if (frame.length <= maxBytes / 3) return;
    size = frame.length > maxBytes ? frame.length : Buffer.byteLength(frame);
  } else {
    size = frame.byteLength;
  }
  if (size > maxBytes) throw new ChatError('payload_too_large', `frame too large: at most ${maxBytes} bytes`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Check the envelope shape (hand-written: it runs on every frame). */
function toEnvelope(value: unknown): Envelope {
  if (!isPlainObject(value)) throw new FrameError('the envelope must be an object');
  const rawId = value.id;
  let id: string | undefined;
  if (rawId !== undefined && rawId !== null) {
    if (typeof rawId !== 'string' || rawId.length === 0 || rawId.length > ENVELOPE_ID_MAX_CHARS) {
      throw new FrameError(`id must be a string of 1..${ENVELOPE_ID_MAX_CHARS} characters`, undefined, [
        { path: 'id', message: `expected a string of 1..${ENVELOPE_ID_MAX_CHARS} characters` },
      ]);
    }
    id = rawId;
  }
  for (const key in value) {
    if (key !== 'type' && key !== 'id' && key !== 'data') {
      const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
      throw new FrameError(`unknown envelope field "${shown}": operation fields go in data`, id, [
        { path: shown, message: 'unknown envelope field' },
      ]);
    }
  }
  const type = value.type;
  if (typeof type !== 'string' || type.length === 0 || type.length > TYPE_MAX_CHARS) {
    throw new FrameError(`type must be a string of 1..${TYPE_MAX_CHARS} characters`, id, [
      { path: 'type', message: type === undefined ? 'required' : `expected a string of 1..${TYPE_MAX_CHARS} characters` },
    ]);
  }
  const data = value.data;
  const out: Envelope = { type };
  if (id !== undefined) out.id = id;
  if (data !== undefined && data !== null) {
    if (!isPlainObject(data)) {
      throw new FrameError('data must be an object', id, [{ path: 'data', message: 'expected an object' }]);
    }
    out.data = data;
  }
  return out;
}

function decodeJson(frame: FrameInput, isBinary: boolean, maxBytes: number): Envelope {
  checkSize(frame, maxBytes);
  if (isBinary) throw new FrameError('veza.json takes text frames');
  let text: string;
  if (typeof frame === 'string') text = frame;
  else {
    try {
      text = utf8.decode(toBytes(frame));
    } catch (e) {
      throw new ChatError('invalid_frame', 'frame is not valid UTF-8', { cause: e });
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ChatError('invalid_frame', 'malformed JSON', { cause: e });
  }
  return toEnvelope(value);
}

/**
 * Throw the error for a frame scanMsgpack refused (the error path: normal frames are scanned
 * once and decoded once). Bytes that are not MessagePack are `invalid_frame`, as malformed JSON
 * is. A value that is not JSON data is judged where it sits, as veza.json judges the same frame:
 * the envelope's outline goes through toEnvelope, so a bad `id`, `type` or `data` or an unknown
 * top-level key is its `invalid_frame`; when the envelope holds, the value is inside `data`, which
 * is `validation_failed`. Either way the error answers the request when its `id` is valid.
 */
function refuseMsgpack(bytes: Uint8Array, problem: MsgpackProblem): never {
  const outline = problem.malformed ? null : envelopeOutline(bytes);
  if (outline === null) throw new ChatError('invalid_frame', `malformed MessagePack: ${problem.reason}`);
  const { id } = toEnvelope(outline);
  throw new FrameError(`invalid data: ${problem.reason}`, id, [{ path: 'data', message: problem.reason }], 'validation_failed');
}

function decodeMsgpack(frame: FrameInput, isBinary: boolean, maxBytes: number): Envelope {
  checkSize(frame, maxBytes);
  if (!isBinary || typeof frame === 'string') throw new FrameError('veza.msgpack takes binary frames');
  const bytes = toBytes(frame);
  const problem = scanMsgpack(bytes, MSGPACK_MAX_DEPTH);
  if (problem !== null) refuseMsgpack(bytes, problem);
  let value: unknown;
  try {
    // msgpackr caches a DataView on its source object: hand it a private view, not the caller's Buffer.
    value = unpackr.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new ChatError('invalid_frame', 'malformed MessagePack', { cause: e });
  }
  return toEnvelope(value);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Standard MessagePack maps (no records extension), so any client decoder reads them; undefined
 * properties are skipped, as JSON.stringify skips them, and undefined in arrays is nil (JSON: null).
 */
const packr = new Packr({ useRecords: false, skipValues: [undefined], encodeUndefinedAsNil: true } as ConstructorParameters<
  typeof Packr
>[0]);

/**
 * Key order as PROTOCOL.md writes it: type, reply_to, data. The envelope is concatenated around
 * one JSON.stringify of `data`: the type is quoted once per type and cached (event names are a
 * fixed set), so nothing is stringified twice.
 */
const quotedType = new Map<string, string>();
function jsonHead(type: string): string {
  let head = quotedType.get(type);
  if (head === undefined) {
    head = `{"type":${JSON.stringify(type)}`;
    if (quotedType.size < 256) quotedType.set(type, head);
  }
  return head;
}

function encodeJson(type: string, data: unknown, extra?: EventExtra): string {
  return jsonFrame(type, data === undefined ? undefined : JSON.stringify(data), extra);
}

/** The veza.json frame around `data` already in JSON text (undefined: no `data` member). */
function jsonFrame(type: string, dataJson: string | undefined, extra?: EventExtra): string {
  let s = jsonHead(type);
  if (extra?.reply_to !== undefined) s += `,"reply_to":${JSON.stringify(extra.reply_to)}`;
  if (dataJson !== undefined) s += `,"data":${dataJson}`;
  return s + '}';
}

/**
 * One MessagePack frame. The result is a view into msgpackr's shared output buffer: it stays
 * valid (later packs write after it), but copy it before transferring its ArrayBuffer to a thread.
 */
function encodeMsgpack(type: string, data: unknown, extra?: EventExtra): Buffer {
  const envelope: { type: string; reply_to?: string; data?: unknown } = { type };
  if (extra?.reply_to !== undefined) envelope.reply_to = extra.reply_to;
  if (data !== undefined) envelope.data = data;
  return packr.pack(envelope);
}

/** Copy into a Buffer that owns its ArrayBuffer (not msgpackr's shared one, not Node's pool). */
function owned(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

const utf8Encoder = new TextEncoder();
/** UTF-8 bytes in a Buffer of their own (Buffer.from(string) would slice Node's shared pool). */
function ownedUtf8(s: string): Buffer {
  const u8 = utf8Encoder.encode(s);
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/**
 * An event with its `data` already in JSON text: how a shard posts an event to the fronts. The
 * shard stringifies it once, however many fronts it goes to; a front then neither decodes the
 * object from the ring nor stringifies it again, and parses the text only for veza.msgpack
 * subscribers. Event data is JSON by definition (it is what veza.json sends), so nothing is lost.
 */
export interface JsonEvent {
  type: ServerEventType;
  /** JSON text of the event's `data`; absent when the event has none. */
  data?: string;
}

export function jsonEvent(event: ServerEvent): JsonEvent {
  return event.data === undefined ? { type: event.type } : { type: event.type, data: JSON.stringify(event.data) };
}

/**
 * One event serialised at most once per sub-protocol, for fan-out: every socket of the same
 * sub-protocol is sent the same bytes. Built from the event's data in JSON text (see JsonEvent);
 * the veza.msgpack form parses it only when a socket of that sub-protocol needs it. The buffers
 * own their memory, so they may cross threads.
 */
export class PreEncoded {
  readonly type: ServerEventType;
  readonly #dataJson: string | undefined;
  #json: Buffer | undefined;
  #msgpack: Buffer | undefined;

  constructor(event: JsonEvent) {
    this.type = event.type;
    this.#dataJson = event.data;
  }

  /** The veza.json frame as UTF-8 bytes (send as a text frame): encoded once, not once per socket. */
  get json(): Buffer {
    return (this.#json ??= ownedUtf8(jsonFrame(this.type, this.#dataJson)));
  }

  /** The veza.msgpack frame (send as a binary frame). */
  get msgpack(): Buffer {
    if (this.#msgpack === undefined) {
      const data = this.#dataJson === undefined ? undefined : (JSON.parse(this.#dataJson) as unknown);
      this.#msgpack = owned(encodeMsgpack(this.type, data));
    }
    return this.#msgpack;
  }

  /** The bytes for one sub-protocol. */
  for(protocol: SubProtocol): Buffer {
    return protocol === 'veza.msgpack' ? this.msgpack : this.json;
  }
}

/** The PreEncoded of an event a shard posted with its data in JSON text (see JsonEvent). */
export function preencodeJson(event: JsonEvent): PreEncoded {
  return new PreEncoded(event);
}

// ---------------------------------------------------------------------------------------------
// Per sub-protocol

/**
 * The sub-protocol to accept from a `Sec-WebSocket-Protocol` header: the first one offered that
 * we speak; veza.json when the client offered none. Null when the client offered only protocols
 * we do not speak: the upgrade should then be refused, since a client that asked for a
 * sub-protocol fails the handshake when none is selected.
 */
export function selectSubprotocol(header: string | undefined | null): SubProtocol | null {
  if (header === undefined || header === null || header.trim() === '') return DEFAULT_SUBPROTOCOL;
  for (const raw of header.split(',')) {
    const p = raw.trim();
    if (p === 'veza.json' || p === 'veza.msgpack') return p;
  }
  return null;
}

/**
 * Decode one client frame with the codec of `protocol`. `isBinary` is the frame's opcode;
 * `maxBytes` its size limit. The result holds no reference to `frame` (uWS frees it when the
 * handler returns).
 */
export function decodeFrame(protocol: SubProtocol, frame: FrameInput, isBinary: boolean, maxBytes: number): Envelope {
  return protocol === 'veza.msgpack' ? decodeMsgpack(frame, isBinary, maxBytes) : decodeJson(frame, isBinary, maxBytes);
}

/** One server frame with the codec of `protocol`: a string for veza.json, bytes for veza.msgpack. */
export function encodeEvent<K extends ServerEventType>(
  protocol: SubProtocol,
  type: K,
  data: ServerEventDataMap[K],
  extra?: EventExtra,
): string | Uint8Array {
  return protocol === 'veza.msgpack' ? encodeMsgpack(type, data, extra) : encodeJson(type, data, extra);
}
