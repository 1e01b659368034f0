/**
 * MessagePack for the `veza.msgpack` sub-protocol: plain maps, arrays, strings, numbers, booleans
 * and nil, which is all the contract sends (no extension types, no binary). Written here instead of
 * importing msgpackr (the server's codec): the client library must load in a browser without a
 * bundler, and this subset is some 150 lines. test/client-msgpack.ts checks it against msgpackr.
 */

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  len = 0;

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

export function encode(value: unknown): Uint8Array {
  const w = new Writer();
  write(w, value, 0);
  return w.buf.slice(0, w.len);
}

function write(w: Writer, v: unknown, depth: number): void {
  if (depth > 32) throw new TypeError('msgpack: nesting deeper than 32 levels');
  if (v === null || v === undefined) return w.u8(0xc0);
  if (v === false) return w.u8(0xc2);
  if (v === true) return w.u8(0xc3);
  if (typeof v === 'number') return writeNumber(w, v);
  if (typeof v === 'string') {
    const b = utf8Encoder.encode(v);
    if (b.length < 32) w.u8(0xa0 | b.length);
    else if (b.length < 0x100) (w.u8(0xd9), w.u8(b.length));
    else if (b.length < 0x10000) (w.u8(0xda), w.u16(b.length));
    else (w.u8(0xdb), w.u32(b.length));
    return w.bytes(b);
  }
  if (Array.isArray(v)) {
    header(w, v.length, 0x90, 0xdc);
    for (const item of v) write(w, item, depth + 1);
    return;
  }
  if (typeof v === 'object') {
    // Fields that are undefined are left out, as JSON.stringify does.
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    header(w, entries.length, 0x80, 0xde);
    for (const [k, x] of entries) {
      write(w, k, depth + 1);
      write(w, x, depth + 1);
    }
    return;
  }
  throw new TypeError(`msgpack: cannot encode a ${typeof v}`);
}

function header(w: Writer, n: number, fix: number, code16: number): void {
  if (n < 16) w.u8(fix | n);
  else if (n < 0x10000) (w.u8(code16), w.u16(n));
  else (w.u8(code16 + 1), w.u32(n));
}

function writeNumber(w: Writer, n: number): void {
  if (Number.isSafeInteger(n)) {
    if (n >= 0) {
      if (n < 0x80) return w.u8(n);
      if (n < 0x100) return (w.u8(0xcc), w.u8(n));
      if (n < 0x10000) return (w.u8(0xcd), w.u16(n));
      if (n < 0x100000000) return (w.u8(0xce), w.u32(n));
      return (w.u8(0xcf), w.u32(Math.floor(n / 0x100000000)), w.u32(n >>> 0));
    }
    if (n >= -32) return w.u8(n & 0xff);
    if (n >= -0x80) return (w.u8(0xd0), w.u8(n & 0xff));
    if (n >= -0x8000) return (w.u8(0xd1), w.u16(n & 0xffff));
    if (n >= -0x80000000) return (w.u8(0xd2), w.u32(n >>> 0));
    // int64, two's complement over two 32-bit halves.
    const hi = Math.floor(n / 0x100000000);
    return (w.u8(0xd3), w.u32(hi >>> 0), w.u32(n >>> 0));
  }
  w.u8(0xcb);
  w.ensure(8);
  w.view.setFloat64(w.len, n);
  w.len += 8;
}

export function decode(input: Uint8Array | ArrayBuffer): unknown {
  const buf = input instanceof Uint8Array ? input : new Uint8Array(input);
  const r = { buf, view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), at: 0 };
  const value = read(r, 0);
  if (r.at !== buf.length) throw new RangeError('msgpack: trailing bytes after the value');
  return value;
}

interface Reader {
  buf: Uint8Array;
  view: DataView;
  at: number;
}

function need(r: Reader, n: number): number {
  const at = r.at;
  if (at + n > r.buf.length) throw new RangeError('msgpack: truncated input');
  r.at += n;
  return at;
}

function read(r: Reader, depth: number): unknown {
  if (depth > 32) throw new RangeError('msgpack: nesting deeper than 32 levels');
  const b = r.buf[need(r, 1)]!;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if ((b & 0xf0) === 0x80) return map(r, b & 0x0f, depth);
  if ((b & 0xf0) === 0x90) return array(r, b & 0x0f, depth);
  if ((b & 0xe0) === 0xa0) return str(r, b & 0x1f);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xca:
      return r.view.getFloat32(need(r, 4));
    case 0xcb:
      return r.view.getFloat64(need(r, 8));
    case 0xcc:
      return r.view.getUint8(need(r, 1));
    case 0xcd:
      return r.view.getUint16(need(r, 2));
    case 0xce:
      return r.view.getUint32(need(r, 4));
    case 0xcf:
      return safe(r.view.getBigUint64(need(r, 8)));
    case 0xd0:
      return r.view.getInt8(need(r, 1));
    case 0xd1:
      return r.view.getInt16(need(r, 2));
    case 0xd2:
      return r.view.getInt32(need(r, 4));
    case 0xd3:
      return safe(r.view.getBigInt64(need(r, 8)));
    case 0xd9:
      return str(r, r.view.getUint8(need(r, 1)));
    case 0xda:
      return str(r, r.view.getUint16(need(r, 2)));
    case 0xdb:
      return str(r, r.view.getUint32(need(r, 4)));
    case 0xdc:
      return array(r, r.view.getUint16(need(r, 2)), depth);
    case 0xdd:
      return array(r, r.view.getUint32(need(r, 4)), depth);
    case 0xde:
      return map(r, r.view.getUint16(need(r, 2)), depth);
    case 0xdf:
      return map(r, r.view.getUint32(need(r, 4)), depth);
    default:
      // bin (0xc4-0xc6), ext (0xc7-0xc9, 0xd4-0xd8) and 0xc1: not in the contract.
      throw new RangeError(`msgpack: unsupported type byte 0x${b.toString(16)}`);
  }
}

function safe(n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError('msgpack: integer beyond 2^53');
  }
  return Number(n);
}

function str(r: Reader, n: number): string {
  const at = need(r, n);
  return utf8Decoder.decode(r.buf.subarray(at, at + n));
}

function array(r: Reader, n: number, depth: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(read(r, depth + 1));
  return out;
}

function map(r: Reader, n: number, depth: number): Record<string, unknown> {
  // A null-prototype object: a `__proto__` key from the wire stays a plain key.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (let i = 0; i < n; i++) {
    const key = read(r, depth + 1);
    if (typeof key !== 'string' && typeof key !== 'number') throw new RangeError('msgpack: map key is not a string');
    out[String(key)] = read(r, depth + 1);
  }
  return out;
}
