import { isUtf8 } from 'node:buffer';

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
 * Returns null when the bytes are acceptable, else the reason.
 */
export function scanMsgpack(buf: Uint8Array, maxDepth: number): string | null {
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
    if (pos >= len) return 'truncated MessagePack';
    const b = buf[pos++] as number;

    // Strings (keys must be one).
    let strLen = -1;
    if (b >= 0xa0 && b <= 0xbf) strLen = b & 0x1f;
    else if (b === 0xd9) {
      if (pos + 1 > len) return 'truncated MessagePack';
      strLen = buf[pos] as number;
      pos += 1;
    } else if (b === 0xda) {
      if (pos + 2 > len) return 'truncated MessagePack';
      strLen = view.getUint16(pos);
      pos += 2;
    } else if (b === 0xdb) {
      if (pos + 4 > len) return 'truncated MessagePack';
      strLen = view.getUint32(pos);
      pos += 4;
    }
    if (strLen >= 0) {
      if (strLen > len - pos) return 'truncated MessagePack';
      const end = pos + strLen;
      if (isKey && strLen === 9 && isProtoKey(buf, pos)) return 'map key "__proto__" is not allowed';
      for (let i = pos; i < end; i++) {
        // ASCII runs need no check; from the first non-ASCII byte (a character boundary) on, ask simdutf.
        if ((buf[i] as number) >= 0x80) {
          if (!isUtf8(buf.subarray(i, end))) return 'string is not valid UTF-8';
          break;
        }
      }
      pos = end;
      continue;
    }
    if (isKey) return 'map keys must be strings';

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
          if (pos + 4 > len) return 'truncated MessagePack';
          if (!Number.isFinite(view.getFloat32(pos))) return 'NaN and Infinity are not JSON numbers';
          pos += 4;
          break;
        case 0xcb:
          if (pos + 8 > len) return 'truncated MessagePack';
          if (!Number.isFinite(view.getFloat64(pos))) return 'NaN and Infinity are not JSON numbers';
          pos += 8;
          break;
        case 0xcf:
        case 0xd3: {
          if (pos + 8 > len) return 'truncated MessagePack';
          const hi = b === 0xcf ? view.getUint32(pos) : view.getInt32(pos);
          // Exact for every value within 2^53; anything outside rounds to at least 2^53 in magnitude.
          if (!Number.isSafeInteger(hi * 0x1_0000_0000 + view.getUint32(pos + 4))) {
            return 'integer outside ±(2^53-1)';
          }
          pos += 8;
          break;
        }
        case 0xdc:
        case 0xde:
          if (pos + 2 > len) return 'truncated MessagePack';
          count = view.getUint16(pos) * (b === 0xde ? 2 : 1);
          map = b === 0xde;
          pos += 2;
          break;
        case 0xdd:
        case 0xdf:
          if (pos + 4 > len) return 'truncated MessagePack';
          count = view.getUint32(pos) * (b === 0xdf ? 2 : 1);
          map = b === 0xdf;
          pos += 4;
          break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
          return 'binary values are not allowed';
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          return 'extension types are not allowed';
        default: // 0xc1, never used
          return 'invalid MessagePack';
      }
      if (pos > len) return 'truncated MessagePack';
    }
    if (count >= 0) {
      if (count > len - pos) return 'truncated MessagePack'; // every item takes at least one byte
      if (depth + 1 > maxDepth) return `nested deeper than ${maxDepth} levels`;
      depth++;
      remaining[depth] = count;
      isMap[depth] = map;
    }
  }
  if (pos !== len) return 'trailing bytes after the MessagePack value';
  return null;
}

// "__proto__" as bytes.
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];
function isProtoKey(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < 9; i++) if (buf[at + i] !== PROTO[i]) return false;
  return true;
}
