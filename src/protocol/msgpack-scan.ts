import { isUtf8 } from 'node:buffer';

/**
 * Why scanMsgpack refused a frame. `malformed`: the bytes are not MessagePack (truncated, the
 * unused 0xc1, trailing bytes, a string that is not UTF-8), so nothing in them can be trusted.
 * Otherwise they are MessagePack holding a value that is not JSON data (bin, ext, an integer
 * beyond 2^53, NaN, a key that is not a plain string, nesting past the limit): the envelope
 * around it may still be readable (see envelopeOutline), and so may the request's `id`.
 */
export interface MsgpackProblem {
  reason: string;
  malformed: boolean;
}

const malformed = (reason: string): MsgpackProblem => ({ reason, malformed: true });
const notJson = (reason: string): MsgpackProblem => ({ reason, malformed: false });

/**
 * A validating walk over MessagePack bytes, run before msgpackr sees them. msgpackr decodes far
 * more than JSON data: extension types become Dates, Sets, Maps, Errors (0x65 even picks a global
 * constructor by name), records and structured-clone references; `bin` becomes Buffers that view
 * the socket's memory; int64 becomes BigInt; `__proto__` keys are silently renamed. A client
 * envelope is JSON data packed as MessagePack, so this accepts exactly that: nil, booleans,
 * integers within ±(2^53-1), finite floats, valid UTF-8 strings, arrays, and maps whose keys are
 * strings other than "__proto__"; one value spanning the whole buffer, at most `maxDepth` deep.
 *
 * It is iterative (no recursion to overflow) and checks every declared length against the bytes
 * left, so a 5-byte header claiming 2^32 entries is refused before anything is allocated.
 * Returns null when the bytes are acceptable, else the first problem met.
 */
export function scanMsgpack(buf: Uint8Array, maxDepth: number): MsgpackProblem | null {
  const len = buf.length;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // remaining[d]: items still expected in the container at depth d (a map counts keys and values).
  const remaining: number[] = [1];
  const isMap: boolean[] = [false];
  let depth = 0;
  let pos = 0;

  for (;;) {
    while (depth >= 0 && remaining[depth] === 0) depth--;
    if (depth < 0) break;
    const left = remaining[depth] as number;
    // In a map the items alternate key, value, counting down from an even number.
    const isKey = isMap[depth] === true && (left & 1) === 0;
    remaining[depth] = left - 1;
    if (pos >= len) return malformed('truncated MessagePack');
    const b = buf[pos++] as number;

    // Strings (keys must be one).
    let strLen = -1;
    if (b >= 0xa0 && b <= 0xbf) strLen = b & 0x1f;
    else if (b === 0xd9) {
      if (pos + 1 > len) return malformed('truncated MessagePack');
      strLen = buf[pos] as number;
      pos += 1;
    } else if (b === 0xda) {
      if (pos + 2 > len) return malformed('truncated MessagePack');
      strLen = view.getUint16(pos);
      pos += 2;
    } else if (b === 0xdb) {
      if (pos + 4 > len) return malformed('truncated MessagePack');
      strLen = view.getUint32(pos);
      pos += 4;
    }
    if (strLen >= 0) {
      if (strLen > len - pos) return malformed('truncated MessagePack');
      const end = pos + strLen;
      if (isKey && strLen === 9 && isProtoKey(buf, pos)) return notJson('map key "__proto__" is not allowed');
      for (let i = pos; i < end; i++) {
        // ASCII runs need no check; from the first non-ASCII byte (a character boundary) on, ask simdutf.
        if ((buf[i] as number) >= 0x80) {
          if (!isUtf8(buf.subarray(i, end))) return malformed('string is not valid UTF-8');
          break;
        }
      }
      pos = end;
      continue;
    }
    if (isKey) return notJson('map keys must be strings');

    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue; // fixint, nil, bool
    let count = -1;
    let map = false;
    if (b >= 0x80 && b <= 0x8f) {
      count = (b & 0x0f) * 2;
      map = true;
    } else if (b >= 0x90 && b <= 0x9f) {
      count = b & 0x0f;
    } else {
      switch (b) {
        case 0xcc:
        case 0xd0:
          pos += 1;
          break;
        case 0xcd:
        case 0xd1:
          pos += 2;
          break;
        case 0xce:
        case 0xd2:
          pos += 4;
          break;
        case 0xca:
          if (pos + 4 > len) return malformed('truncated MessagePack');
          if (!Number.isFinite(view.getFloat32(pos))) return notJson('NaN and Infinity are not JSON numbers');
          pos += 4;
          break;
        case 0xcb:
          if (pos + 8 > len) return malformed('truncated MessagePack');
          if (!Number.isFinite(view.getFloat64(pos))) return notJson('NaN and Infinity are not JSON numbers');
          pos += 8;
          break;
        case 0xcf:
        case 0xd3: {
          if (pos + 8 > len) return malformed('truncated MessagePack');
          const hi = b === 0xcf ? view.getUint32(pos) : view.getInt32(pos);
          // Exact for every value within 2^53; anything outside rounds to at least 2^53 in magnitude.
          if (!Number.isSafeInteger(hi * 0x1_0000_0000 + view.getUint32(pos + 4))) {
            return notJson('integer outside ±(2^53-1)');
          }
          pos += 8;
          break;
        }
        case 0xdc:
        case 0xde:
          if (pos + 2 > len) return malformed('truncated MessagePack');
          count = view.getUint16(pos) * (b === 0xde ? 2 : 1);
          map = b === 0xde;
          pos += 2;
          break;
        case 0xdd:
        case 0xdf:
          if (pos + 4 > len) return malformed('truncated MessagePack');
          count = view.getUint32(pos) * (b === 0xdf ? 2 : 1);
          map = b === 0xdf;
          pos += 4;
          break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
          return notJson('binary values are not allowed');
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          return notJson('extension types are not allowed');
        default: // 0xc1, never used
          return malformed('invalid MessagePack');
      }
      if (pos > len) return malformed('truncated MessagePack');
    }
    if (count >= 0) {
      if (count > len - pos) return malformed('truncated MessagePack'); // every item takes at least one byte
      if (depth + 1 > maxDepth) return notJson(`nested deeper than ${maxDepth} levels`);
      depth++;
      remaining[depth] = count;
      isMap[depth] = map;
    }
  }
  if (pos !== len) return malformed('trailing bytes after the MessagePack value');
  return null;
}

// "__proto__" as bytes.
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];
function isProtoKey(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < 9; i++) if (buf[at + i] !== PROTO[i]) return false;
  return true;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** envelopeOutline's stand-in for a value that is neither nil, a string nor a map. */
const OTHER = Symbol('a value other than nil, a string or a map');

/**
 * The top level of an envelope that scanMsgpack refused for a value that is not JSON data (the
 * error path only): every key with its value reduced to what the envelope checks look at — nil
 * as null, a string as itself, a map as `{}`, anything else as a symbol — so that toEnvelope can
 * tell whether the envelope holds and which request the error answers, while nothing decodes the
 * refused value. Null when the bytes are not one map of UTF-8 string keys spanning the buffer.
 * Lengths are checked against the bytes left, as in scanMsgpack; nested values are only skipped,
 * so their depth costs no stack.
 */
export function envelopeOutline(buf: Uint8Array): Record<string, unknown> | null {
  const len = buf.length;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b0 = buf[0];
  let entries: number;
  let pos: number;
  if (b0 !== undefined && b0 >= 0x80 && b0 <= 0x8f) [entries, pos] = [b0 & 0x0f, 1];
  else if (b0 === 0xde && len >= 3) [entries, pos] = [view.getUint16(1), 3];
  else if (b0 === 0xdf && len >= 5) [entries, pos] = [view.getUint32(1), 5];
  else return null;
  // No prototype: a "__proto__" key stays an own key, which toEnvelope refuses like any unknown one.
  const out = Object.create(null) as Record<string, unknown>;
  for (; entries > 0; entries--) {
    const keyEnd = skipValue(buf, view, pos);
    const key = keyEnd < 0 ? null : readString(buf, pos, keyEnd);
    if (key === null) return null;
    const end = skipValue(buf, view, keyEnd);
    if (end < 0) return null;
    const b = buf[keyEnd] as number;
    let value: unknown;
    if (b === 0xc0) value = null;
    else if (strHeaderBytes(b) > 0) {
      value = readString(buf, keyEnd, end);
      if (value === null) return null;
    } else value = (b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf ? {} : OTHER;
    out[key] = value;
    pos = end;
  }
  return pos === len ? out : null;
}

/** Bytes of a str header, by its first byte; 0 when the value is not a string. */
function strHeaderBytes(b: number): number {
  if (b >= 0xa0 && b <= 0xbf) return 1;
  return b === 0xd9 ? 2 : b === 0xda ? 3 : b === 0xdb ? 5 : 0;
}

/** The string spanning [start, end), or null when the value there is not a UTF-8 string. */
function readString(buf: Uint8Array, start: number, end: number): string | null {
  const header = strHeaderBytes(buf[start] as number);
  if (header === 0) return null;
  try {
    return utf8.decode(buf.subarray(start + header, end));
  } catch {
    return null;
  }
}

/**
 * The offset just past the value at `pos`, whatever it holds, or -1 when the bytes end first or
 * hold 0xc1. A count of the items still to skip stands in for scanMsgpack's stack; as there, a
 * count beyond the bytes left is refused before it is looped over.
 */
function skipValue(buf: Uint8Array, view: DataView, pos: number): number {
  const len = buf.length;
  let items = 1;
  while (items > 0) {
    items--;
    if (pos >= len) return -1;
    const b = buf[pos++] as number;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue; // fixint, nil, bool
    // Bytes after the header: a str, bin or ext payload (ext with its type byte), or a number.
    let skip = 0;
    if (b <= 0x8f) items += (b & 0x0f) * 2;
    else if (b <= 0x9f) items += b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else {
      const lengthBytes = LENGTH_BYTES.get(b);
      if (lengthBytes !== undefined) {
        if (pos + lengthBytes > len) return -1;
        const n = lengthBytes === 1 ? (buf[pos] as number) : lengthBytes === 2 ? view.getUint16(pos) : view.getUint32(pos);
        pos += lengthBytes;
        if (b === 0xdc || b === 0xdd) items += n;
        else if (b === 0xde || b === 0xdf) items += n * 2;
        else skip = b >= 0xc7 && b <= 0xc9 ? n + 1 : n;
      } else {
        const fixed = FIXED_BYTES.get(b);
        if (fixed === undefined) return -1; // 0xc1
        skip = fixed;
      }
    }
    pos += skip;
    if (items > len - pos) return -1; // past the end, or more items than bytes left (each takes one)
  }
  return pos;
}

/** Headers followed by a length (bin, ext, str) or a count (array, map): the bytes it takes. */
const LENGTH_BYTES = new Map([
  [0xc4, 1], [0xc5, 2], [0xc6, 4], // bin
  [0xc7, 1], [0xc8, 2], [0xc9, 4], // ext
  [0xd9, 1], [0xda, 2], [0xdb, 4], // str
  [0xdc, 2], [0xdd, 4], // array
  [0xde, 2], [0xdf, 4], // map
]);

/** Headers followed by a fixed number of bytes: numbers, and fixext with its type byte. */
const FIXED_BYTES = new Map([
  [0xca, 4], [0xcb, 8], [0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8],
  [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8],
  [0xd4, 2], [0xd5, 3], [0xd6, 5], [0xd7, 9], [0xd8, 17],
]);
