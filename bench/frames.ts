/**
 * The bench's veza frames: what a cohort sends (join_room, send_message, authenticate), the fast
 * reading of what it receives, and veza's wire (`VezaWire`, wire.ts) built from them. The marker
 * and its reader (`MarkReader`) are shared with Socket.IO's wire (socketio-frames.ts).
 *
 * Every bench message's content starts with a marker carrying who sent it and when:
 * `~b:<sender>:<seq>:<sent µs>~` then padding to the payload size. The sent time is `nowUs()`,
 * the process-wide monotonic clock (clock.ts), so any thread of the load generator can compute
 * send→receive latency. A `send_message` with an `id` uses `s<sent µs>` as id, so the `ack`'s
 * `reply_to` gives the round trip without a lookup table.
 *
 * Reading is two-speed. The fast path recognises a `message` or `ack` envelope from its first
 * bytes (`{"type":"message"` in JSON, a map whose first key is `type` = `message` in MessagePack,
 * which is how JSON.stringify / msgpackr write our servers' envelopes) and scans the marker with
 * `Buffer.indexOf`, allocating nothing. Anything else (joined, error, envelopes written in
 * another key order) takes the slow path: a full decode.
 */
import { pack, unpack } from 'msgpackr';
import type { SendKind } from './cohort-messages.js';
import type { Decoded, Wire, WireConn, WireReader } from './wire.js';
import type { WsConnection } from './ws-client.js';

export type Codec = 'veza.json' | 'veza.msgpack';

export const MARK = '~b:';
const MARK_BUF = Buffer.from(MARK);
const COLON = 0x3a;
const TILDE = 0x7e;

/** The content of a bench message: marker, then `x` padding up to `payloadBytes` (if longer). */
export function benchContent(sender: number, seq: number, sentUs: number, padding: string): string {
  const head = `${MARK}${sender}:${seq}:${sentUs}~`;
  return padding.length > head.length ? head + padding.slice(head.length) : head;
}

export function sendMessageFrame(codec: Codec, roomId: number, content: string, id?: string, clientId?: string): string | Buffer {
  return sendFrame(codec, 'send_message', 'room_id', roomId, content, id, clientId);
}

/** `send_dm` to a direct conversation: the same frame with `conversation_id`. */
function sendDmFrame(codec: Codec, conversationId: number, content: string, id?: string, clientId?: string): string | Buffer {
  return sendFrame(codec, 'send_dm', 'conversation_id', conversationId, content, id, clientId);
}

function sendFrame(codec: Codec, type: string, key: string, target: number, content: string, id?: string, clientId?: string): string | Buffer {
  if (codec === 'veza.msgpack') {
    const data: Record<string, unknown> = { [key]: target, content };
    if (clientId !== undefined) data.client_id = clientId;
    const env: Record<string, unknown> = { type, data };
    if (id !== undefined) env.id = id;
    return pack(env);
  }
  // The content holds only [~:0-9x] and a client id only [0-9a-f-]: no JSON escaping needed.
  const cid = clientId === undefined ? '' : `,"client_id":"${clientId}"`;
  return id === undefined
    ? `{"type":"${type}","data":{"${key}":${target},"content":"${content}"${cid}}}`
    : `{"type":"${type}","id":"${id}","data":{"${key}":${target},"content":"${content}"${cid}}}`;
}

export function envelopeFrame(codec: Codec, type: string, data: Record<string, unknown>, id?: string): string | Buffer {
  const env: Record<string, unknown> = { type, data };
  if (id !== undefined) env.id = id;
  return codec === 'veza.msgpack' ? pack(env) : JSON.stringify(env);
}

export interface Envelope {
  type: string;
  id?: string;
  reply_to?: string;
  data?: Record<string, unknown>;
}

export function decodeEnvelope(codec: Codec, buf: Buffer, isBinary: boolean): Envelope | null {
  let v: unknown;
  try {
    v = isBinary || codec === 'veza.msgpack' ? unpack(buf) : JSON.parse(buf.toString('utf8'));
  } catch {
    // Counted by the caller as an undecodable frame; nothing to add here.
    return null;
  }
  if (v === null || typeof v !== 'object' || typeof (v as { type?: unknown }).type !== 'string') return null;
  return v as Envelope;
}

export const KIND_OTHER = 0;
export const KIND_MESSAGE = 1;
export const KIND_ACK = 2;

function prefix(codec: Codec, type: string): Buffer {
  if (codec === 'veza.json') return Buffer.from(`{"type":"${type}"`);
  // The map header is skipped separately; then fixstr "type", fixstr <type>.
  return Buffer.concat([Buffer.from([0xa4]), Buffer.from('type'), Buffer.from([0xa0 | type.length]), Buffer.from(type)]);
}

/**
 * The part of a fast reader every wire shares: the bench marker in a message's content, and
 * decimal digits. The fields hold what the last successful read found.
 */
export abstract class MarkReader implements WireReader {
  /** For KIND_MESSAGE: the sender's index and sequence; for both kinds: sent time in µs. */
  sender = 0;
  seq = 0;
  sentUs = 0;
  /** The value of the digits `readUint` last read. */
  protected uint = 0;

  abstract read(buf: Buffer): number;

  /** The slow path's helper: parse a content string's marker into the fields. */
  readContent(content: string): boolean {
    if (!content.startsWith(MARK)) return false;
    return this.parseMark(Buffer.from(content.slice(0, 64)), MARK.length);
  }

  /** The marker after its `~b:` at `at`: `<sender>:<seq>:<sent µs>~`. */
  protected parseMark(buf: Buffer, at: number): boolean {
    let p = this.readUint(buf, at);
    if (p < 0 || buf[p] !== COLON) return false;
    this.sender = this.uint;
    p = this.readUint(buf, p + 1);
    if (p < 0 || buf[p] !== COLON) return false;
    this.seq = this.uint;
    p = this.readUint(buf, p + 1);
    if (p < 0 || buf[p] !== TILDE) return false;
    this.sentUs = this.uint;
    return true;
  }

  /**
   * Decimal digits at `at`: their value goes to `uint`; returns the index after them, or -1 when
   * there are none or their value is beyond what a double holds exactly (no bench number is, so
   * such digits are not ours).
   */
  protected readUint(buf: Buffer, at: number): number {
    let v = 0;
    let i = at;
    const n = buf.length;
    for (; i < n; i++) {
      const c = buf[i] as number;
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
    }
    if (i === at || i - at > 16 || v > Number.MAX_SAFE_INTEGER) return -1;
    this.uint = v;
    return i;
  }
}

/** Parses received veza frames; after `read` returns a kind, the fields hold its numbers. */
export class FrameReader extends MarkReader {
  readonly #codec: Codec;
  readonly #msgPrefix: Buffer;
  readonly #ackPrefix: Buffer;
  readonly #replyKey: Buffer;
  readonly #idKey: Buffer;
  readonly #convKey: Buffer;

  constructor(codec: Codec) {
    super();
    this.#codec = codec;
    const key = (k: string) => (codec === 'veza.msgpack' ? Buffer.from([0xa0 | k.length, ...Buffer.from(k)]) : Buffer.from(`"${k}":`));
    this.#idKey = key('id');
    this.#convKey = key('conversation_id');
    this.#msgPrefix = prefix(codec, 'message');
    this.#ackPrefix = prefix(codec, 'ack');
    this.#replyKey = codec === 'veza.msgpack' ? Buffer.from([0xa8, ...Buffer.from('reply_to')]) : Buffer.from('"reply_to":"');
  }

  /** `readIds`: the message's `id` and `conversation_id`. */
  messageId = 0;
  conversationId = 0;

  /**
   * After `read` returned KIND_MESSAGE on `buf`: its message's `id` and `conversation_id` into the
   * fields (the first `id` and `conversation_id` keys: the message object's, which come first in
   * its `data`, PROTOCOL.md's key order). Allocates nothing; false when they are not found.
   */
  readIds(buf: Buffer): boolean {
    const at = this.#msgPrefix.length;
    const id = this.#intAfter(buf, this.#idKey, at);
    if (id < 0) return false;
    const conv = this.#intAfter(buf, this.#convKey, at);
    if (conv < 0) return false;
    this.messageId = id;
    this.conversationId = conv;
    return true;
  }

  /** The non-negative integer right after the first `key` from `from`, or -1. */
  #intAfter(buf: Buffer, key: Buffer, from: number): number {
    const k = buf.indexOf(key, from);
    if (k < 0) return -1;
    const p = k + key.length;
    if (this.#codec === 'veza.json') return this.readUint(buf, p) < 0 ? -1 : this.uint;
    // MessagePack: positive fixint, uint8, uint16, uint32 (ids are below 2^32 in any bench).
    const b = buf[p];
    if (b === undefined) return -1;
    if (b < 0x80) return b;
    if (b === 0xcc && p + 1 < buf.length) return buf[p + 1] as number;
    if (b === 0xcd && p + 2 < buf.length) return buf.readUInt16BE(p + 1);
    if (b === 0xce && p + 4 < buf.length) return buf.readUInt32BE(p + 1);
    return -1;
  }

  /** KIND_MESSAGE / KIND_ACK for bench frames (fields set), else KIND_OTHER. Allocates nothing. */
  read(buf: Buffer): number {
    let skip = 0;
    if (this.#codec === 'veza.msgpack') {
      // The map header: fixmap (1 byte), map16 (3, what msgpackr writes) or map32 (5).
      const b = buf[0] as number;
      if ((b & 0xf0) === 0x80) skip = 1;
      else if (b === 0xde) skip = 3;
      else if (b === 0xdf) skip = 5;
      else return KIND_OTHER;
    }
    if (startsWith(buf, this.#msgPrefix, skip)) {
      const at = buf.indexOf(MARK_BUF, skip + this.#msgPrefix.length);
      return at >= 0 && this.parseMark(buf, at + MARK_BUF.length) ? KIND_MESSAGE : KIND_OTHER;
    }
    if (startsWith(buf, this.#ackPrefix, skip)) {
      let at = buf.indexOf(this.#replyKey, skip + this.#ackPrefix.length);
      if (at < 0) return KIND_OTHER;
      at += this.#replyKey.length;
      if (this.#codec === 'veza.msgpack') at++; // the id's fixstr header
      if (buf[at] !== 0x73 /* s */) return KIND_OTHER;
      const end = this.readUint(buf, at + 1);
      if (end < 0) return KIND_OTHER;
      this.sentUs = this.uint;
      return KIND_ACK;
    }
    return KIND_OTHER;
  }
}

export function startsWith(buf: Buffer, pre: Buffer, at: number): boolean {
  if (buf.length < at + pre.length) return false;
  for (let i = 0; i < pre.length; i++) if (buf[at + i] !== pre[i]) return false;
  return true;
}

/* ---------- veza's wire ---------- */

/** veza needs no per-connection protocol state: one object serves every connection. */
class VezaConn implements WireConn {
  readonly #codec: Codec;
  constructor(codec: Codec) {
    this.#codec = codec;
  }
  opened(_ws: WsConnection): void {
    // Nothing to say first: the client speaks first on veza's wire.
  }
  ready(_timeoutMs: number): Promise<string | null> {
    return Promise.resolve(null);
  }
  closed(_code: number): void {
    // No handshake of its own to abandon.
  }
  decode(buf: Buffer, isBinary: boolean): Decoded {
    const env = decodeEnvelope(this.#codec, buf, isBinary);
    return env === null ? { kind: 'invalid', key: 'client:undecodable_frame' } : { kind: 'envelope', env };
  }
}

/** veza's envelopes (PROTOCOL.md), JSON or MessagePack (wire.ts). */
export class VezaWire implements Wire {
  readonly name = 'veza';
  readonly protocols: readonly string[];
  readonly tokenInConnect = false;
  readonly reader: FrameReader;
  readonly #codec: Codec;
  readonly #conn: VezaConn;

  constructor(codec: Codec) {
    this.#codec = codec;
    this.protocols = [codec];
    this.reader = new FrameReader(codec);
    this.#conn = new VezaConn(codec);
  }
  op(type: string, data: Record<string, unknown>, id?: string): string | Buffer {
    return envelopeFrame(this.#codec, type, data, id);
  }
  message(kind: SendKind, target: number, content: string, id?: string, clientId?: string): string | Buffer {
    return kind === 'dm'
      ? sendDmFrame(this.#codec, target, content, id, clientId)
      : sendMessageFrame(this.#codec, target, content, id, clientId);
  }
  conn(_token: string | undefined): WireConn {
    return this.#conn;
  }
}
