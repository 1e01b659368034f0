/**
 * A lean RFC 6455 client for the load generator: its own framing over `net`, no `ws` on the hot
 * path.
 *
 * Allocation policy (why it looks the way it does):
 * - Reads go into one buffer per thread shared by every connection (`net` `onread`), so a read
 *   allocates nothing. A frame that lies whole inside a read is handed to `onMessage` as a view of
 *   that buffer: **the Buffer is only valid during the callback** (copy it to keep it), as in
 *   uWebSockets.js. Only frames split across reads, and fragmented messages, are copied into a
 *   per-connection buffer, allocated on first need (idle connections hold none).
 * - Sends build the frame in one `Buffer.allocUnsafe` (Node's pool for small frames), write the
 *   payload straight into it and mask it in place, 4 bytes at a time, with a fresh key per frame
 *   taken from a pool of random bytes refilled in bulk.
 *
 * Not supported, on purpose: TLS (`wss:`), extensions (permessage-deflate is never offered), and
 * UTF-8 validation of text frames unless `validateUtf8` is set (the bench trusts its server).
 */
import net from 'node:net';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { endianness } from 'node:os';
import { performance } from 'node:perf_hooks';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const MAX_HANDSHAKE_BYTES = 16 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';

export type WsErrorCode =
  /** TCP connect failed; `detail` is the errno code (ECONNREFUSED, EADDRNOTAVAIL, ...). */
  | 'connect_failed'
  /** No complete 101 response in time. */
  | 'handshake_timeout'
  /** The server answered the upgrade with another status; `detail` is the status (401, ...). */
  | 'handshake_status'
  /** Malformed response, wrong Sec-WebSocket-Accept, missing Upgrade/Connection, an extension. */
  | 'handshake_invalid'
  /** The server chose a sub-protocol we did not offer, or none while we offered some. */
  | 'protocol_mismatch'
  /** The socket closed before the handshake completed. */
  | 'closed_during_handshake'
  /** A frame broke RFC 6455 (masked server frame, bad opcode, RSV bits, bad control frame). */
  | 'protocol_error'
  /** A message longer than `maxPayload`. */
  | 'too_large'
  /** A text message that is not UTF-8 (only with `validateUtf8`). */
  | 'invalid_utf8'
  /** A socket error after the connection opened; `detail` is the errno code. */
  | 'socket_error';

export class WsClientError extends Error {
  readonly code: WsErrorCode;
  readonly detail: string | number | undefined;
  constructor(code: WsErrorCode, message: string, detail?: string | number) {
    super(message);
    this.name = 'WsClientError';
    this.code = code;
    this.detail = detail;
  }
  /** `code` or `code:detail`: the key under which the bench counts errors. */
  get key(): string {
    return this.detail === undefined ? this.code : `${this.code}:${this.detail}`;
  }
}

/** Connection states, as in the browser's WebSocket.readyState. */
export const WsState = Object.freeze({ CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const);
export type WsState = (typeof WsState)[keyof typeof WsState];

export interface WsConnectOptions {
  /** `ws://host:port/path?query` */
  url: string | URL;
  /** Offered sub-protocols, in order of preference. */
  protocols?: readonly string[];
  /** Extra request headers (e.g. `Authorization`). */
  headers?: Readonly<Record<string, string>>;
  /** From the start of the TCP connect to the end of the 101 response. Default 15 s. */
  handshakeTimeoutMs?: number;
  /** Wait this long for the server's close frame after ours, then drop the socket. Default 3 s. */
  closeTimeoutMs?: number;
  /** Longest message accepted (all fragments together); longer closes with 1009. Default 64 MiB. */
  maxPayload?: number;
  validateUtf8?: boolean;
  /**
   * The upgrade is verified: called before any message is delivered and before `connect`'s
   * promise settles. A protocol that speaks first on the server's behalf (Socket.IO's open
   * packet, which may arrive in the same read as the 101) needs the connection here to answer
   * it; the promise's continuation runs too late for that.
   */
  onOpen?: (conn: WsConnection) => void;
  /** A message: `data` is only valid during the call (see the file comment). */
  onMessage?: (data: Buffer, isBinary: boolean) => void;
  /** After the TCP connection has closed, once per opened connection. */
  onClose?: (code: number, reason: string, wasClean: boolean) => void;
  /** A failure after the connection opened (before the handshake, the promise rejects instead). */
  onError?: (err: WsClientError) => void;
  /** A ping arrived; the pong has already been sent. */
  onPing?: (payload: Buffer) => void;
  onPong?: (payload: Buffer) => void;
  /** Acquire a handshake slot here first; see `ConnectLimiter`. */
  limiter?: ConnectLimiter;
}

/* ---------- per-thread shared state ---------- */

/** One read buffer for all connections of this thread: reads are dispatched one at a time. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

const MASK_POOL_SIZE = 16 * 1024;
const maskPool = Buffer.allocUnsafe(MASK_POOL_SIZE);
let maskPos = MASK_POOL_SIZE;

/** Copy 4 fresh random bytes into `dst` at `at`. */
function putMaskKey(dst: Buffer, at: number): void {
  if (maskPos + 4 > MASK_POOL_SIZE) {
    randomFillSync(maskPool);
    maskPos = 0;
  }
  dst[at] = maskPool[maskPos] as number;
  dst[at + 1] = maskPool[maskPos + 1] as number;
  dst[at + 2] = maskPool[maskPos + 2] as number;
  dst[at + 3] = maskPool[maskPos + 3] as number;
  maskPos += 4;
}

/**
 * XOR `buf[start, end)` with the 4-byte key at `buf[keyAt]`. Bytes up to a 4-byte boundary of the
 * underlying ArrayBuffer go one by one, then whole 32-bit words with the key rotated to match,
 * then the tail.
 */
export function maskInPlace(buf: Buffer, start: number, end: number, key: Uint8Array, keyAt = 0): void {
  let i = start;
  if (end - start >= 32) {
    const lead = (4 - ((buf.byteOffset + start) & 3)) & 3;
    for (; i < start + lead; i++) buf[i] = (buf[i] as number) ^ (key[keyAt + ((i - start) & 3)] as number);
    // The key rotated so that its byte for the first aligned position comes first.
    const r0 = key[keyAt + (lead & 3)] as number;
    const r1 = key[keyAt + ((lead + 1) & 3)] as number;
    const r2 = key[keyAt + ((lead + 2) & 3)] as number;
    const r3 = key[keyAt + ((lead + 3) & 3)] as number;
    const m = LITTLE_ENDIAN ? r0 | (r1 << 8) | (r2 << 16) | (r3 << 24) : (r0 << 24) | (r1 << 16) | (r2 << 8) | r3;
    const words = (end - i) >>> 2;
    const u32 = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) u32[w] = (u32[w] as number) ^ m;
    i += words * 4;
  }
  for (; i < end; i++) buf[i] = (buf[i] as number) ^ (key[keyAt + ((i - start) & 3)] as number);
}

/** A masked client frame holding `payload` (a string is written as UTF-8). */
export function encodeClientFrame(opcode: number, payload: string | Uint8Array, fin = true): Buffer {
  const len = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const at = hdr + 4;
  const f = Buffer.allocUnsafe(at + len);
  f[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) {
    f[1] = 0x80 | len;
  } else if (len < 65536) {
    f[1] = 0x80 | 126;
    f.writeUInt16BE(len, 2);
  } else {
    f[1] = 0x80 | 127;
    f.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    f.writeUInt32BE(len >>> 0, 6);
  }
  putMaskKey(f, hdr);
  if (typeof payload === 'string') f.write(payload, at, 'utf8');
  else f.set(payload, at);
  maskInPlace(f, at, at + len, f, hdr);
  return f;
}

/* ---------- bounded concurrency of pending handshakes ---------- */

/**
 * A counting semaphore for handshakes: opening thousands of connections at once overflows the
 * server's accept backlog (SYNs dropped, 1 s+ retransmits) and the handshake timers with it.
 */
export class ConnectLimiter {
  readonly max: number;
  #active = 0;
  #queue: Array<() => void> = [];
  constructor(max: number) {
    if (!(max >= 1)) throw new RangeError('ConnectLimiter max must be >= 1');
    this.max = max;
  }
  get active(): number {
    return this.#active;
  }
  get waiting(): number {
    return this.#queue.length;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.max) await new Promise<void>((resolve) => this.#queue.push(resolve));
    else this.#active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter, so #active never dips and over-admits.
      const next = this.#queue.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

/* ---------- the connection ---------- */

export class WsConnection {
  #state: WsState = WsState.CONNECTING;
  readonly #socket: net.Socket;
  readonly #opts: WsConnectOptions;
  readonly #maxPayload: number;
  readonly #expectedAccept: string;
  #protocol = '';
  /** Handshake bytes so far (only while CONNECTING). */
  #hs: Buffer | null = null;
  /** A frame split across reads: its bytes so far. */
  #pend: Buffer | null = null;
  #pendLen = 0;
  /** Fragmented message being assembled. */
  #frag: Buffer | null = null;
  #fragLen = 0;
  #fragOp = 0;
  #closeTimer: NodeJS.Timeout | null = null;
  #tcpConnected = false;
  #closeSent = false;
  #closeCode = 1006;
  #closeReason = '';
  #closeReceived = false;
  #error: WsClientError | null = null;
  #settle: ((err: WsClientError | null) => void) | null;
  readonly #began = performance.now();
  #handshakeMs = 0;

  /** Use `connect()`. */
  private constructor(opts: WsConnectOptions, settle: (err: WsClientError | null) => void) {
    this.#opts = opts;
    this.#settle = settle;
    this.#maxPayload = opts.maxPayload ?? 64 * 1024 * 1024;
    const url = typeof opts.url === 'string' ? new URL(opts.url) : opts.url;
    if (url.protocol !== 'ws:') throw new TypeError(`only ws: URLs are supported, got ${url.protocol}`);
    const key = randomBytes(16).toString('base64');
    this.#expectedAccept = createHash('sha1').update(key + GUID).digest('base64');
    const port = url.port === '' ? 80 : Number(url.port);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const request = buildRequest(url, key, opts.protocols ?? [], opts.headers ?? {});

    this.#socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          this.#onRead(buf as Buffer, n);
          return true;
        },
      },
    });
    this.#socket.once('connect', () => {
      this.#tcpConnected = true;
      this.#socket.write(request);
    });
    this.#socket.on('error', (e: NodeJS.ErrnoException) => this.#onSocketError(e));
    this.#socket.on('close', () => this.#onSocketClose());
  }

  /** Open a connection; resolves once the 101 response is verified. */
  static connect(opts: WsConnectOptions): Promise<WsConnection> {
    const open = () =>
      new Promise<WsConnection>((resolve, reject) => {
        const timeoutMs = opts.handshakeTimeoutMs ?? 15_000;
        let timer: NodeJS.Timeout | undefined;
        // The constructor never settles synchronously (socket events are async), so the timer
        // is always set before `settle` can clear it.
        const conn: WsConnection = new WsConnection(opts, (err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(conn);
        });
        timer = setTimeout(() => {
          conn.#failHandshake(new WsClientError('handshake_timeout', `no handshake within ${timeoutMs} ms`));
        }, timeoutMs);
      });
    return opts.limiter ? opts.limiter.run(open) : open();
  }

  get state(): WsState {
    return this.#state;
  }
  /** The sub-protocol the server chose ('' when none). */
  get protocol(): string {
    return this.#protocol;
  }
  /** Bytes queued in the socket, not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }
  get closeCode(): number {
    return this.#closeCode;
  }
  get closeReason(): string {
    return this.#closeReason;
  }
  /** From the TCP connect to the verified 101 (time waiting for a limiter slot excluded). */
  get handshakeMs(): number {
    return this.#handshakeMs;
  }
  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  /** Queue one message; false when the connection is not open. */
  send(data: string | Uint8Array, isBinary: boolean = typeof data !== 'string'): boolean {
    if (this.#state !== WsState.OPEN) return false;
    this.#socket.write(encodeClientFrame(isBinary ? OP_BINARY : OP_TEXT, data, true));
    return true;
  }

  /** One message as several frames (first: text/binary, then continuations). For server tests. */
  sendFragments(parts: ReadonlyArray<string | Uint8Array>, isBinary: boolean): boolean {
    if (this.#state !== WsState.OPEN || parts.length === 0) return false;
    parts.forEach((p, i) => {
      this.#socket.write(encodeClientFrame(i === 0 ? (isBinary ? OP_BINARY : OP_TEXT) : OP_CONT, p, i === parts.length - 1));
    });
    return true;
  }

  /** Send an already-built frame as is (tests of server validation). */
  sendRaw(frame: Uint8Array): boolean {
    if (this.#state !== WsState.OPEN) return false;
    this.#socket.write(frame);
    return true;
  }

  ping(payload: string | Uint8Array = ''): boolean {
    if (this.#state !== WsState.OPEN) return false;
    if ((typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length) > 125) {
      throw new RangeError('a ping payload is at most 125 bytes');
    }
    this.#socket.write(encodeClientFrame(OP_PING, payload, true));
    return true;
  }

  /** Start the closing handshake; `onClose` follows once the TCP connection is gone. */
  close(code = 1000, reason = ''): void {
    if (this.#state === WsState.CONNECTING) {
      this.#failHandshake(new WsClientError('closed_during_handshake', 'closed by the client before the handshake'));
      return;
    }
    if (this.#state !== WsState.OPEN) return;
    this.#state = WsState.CLOSING;
    this.#sendClose(code, reason);
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), this.#opts.closeTimeoutMs ?? 3000);
    this.#closeTimer.unref();
  }

  /** Drop the TCP connection without a closing handshake. */
  terminate(): void {
    this.#socket.destroy();
  }

  /* ----- reading ----- */

  #onRead(buf: Buffer, end: number): void {
    let off = 0;
    if (this.#state === WsState.CONNECTING) {
      this.#onHandshakeBytes(buf, end);
      return;
    }
    // After a failure (protocol error, too large) the rest of the stream is not trusted.
    if (this.#state === WsState.CLOSED || this.#error !== null) return;
    if (this.#pendLen > 0) {
      off = this.#fillPending(buf, 0, end);
      if (off < 0) return;
      const total = this.#pendNeed();
      if (this.#pendLen < total) return;
      const p = this.#pend as Buffer;
      this.#pendLen = 0;
      if (this.#frame(p, 0, total) <= 0) return;
      // A split frame of a large message leaves a large buffer behind: let it go.
      if (p.length > 256 * 1024) this.#pend = null;
    }
    this.#consume(buf, off, end);
  }

  /** Parse whole frames from `buf[off, end)`; stash an incomplete tail. */
  #consume(buf: Buffer, off: number, end: number): void {
    while (off < end) {
      const used = this.#frame(buf, off, end);
      if (used < 0) return;
      if (used === 0) {
        this.#stash(buf, off, end);
        return;
      }
      off += used;
    }
  }

  /**
   * One frame at `buf[off]`: the bytes it took, 0 when incomplete, -1 when the connection failed
   * or stopped reading.
   */
  #frame(buf: Buffer, off: number, end: number): number {
    const avail = end - off;
    if (avail < 2) return 0;
    const b0 = buf[off] as number;
    const b1 = buf[off + 1] as number;
    if (b1 & 0x80) return this.#fail(new WsClientError('protocol_error', 'the server masked a frame'), 1002);
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (avail < 4) return 0;
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) {
      if (avail < 10) return 0;
      const hi = buf.readUInt32BE(off + 2);
      if (hi > 0x1fffff) return this.#fail(new WsClientError('too_large', 'frame length beyond 2^53'), 1009);
      len = hi * 2 ** 32 + buf.readUInt32BE(off + 6);
      hdr = 10;
    }
    if (len > this.#maxPayload) return this.#fail(new WsClientError('too_large', `frame of ${len} bytes`), 1009);
    if (avail < hdr + len) return 0;
    return this.#dispatch(b0, buf, off + hdr, off + hdr + len) ? hdr + len : -1;
  }

  /** Handle a complete frame; false when reading must stop. */
  #dispatch(b0: number, buf: Buffer, start: number, stop: number): boolean {
    if (b0 & 0x70) return this.#fail(new WsClientError('protocol_error', 'RSV bits set without an extension'), 1002) > 0;
    const fin = (b0 & 0x80) !== 0;
    const op = b0 & 0x0f;
    if (this.#closeReceived) return false;
    switch (op) {
      case OP_TEXT:
      case OP_BINARY:
        if (this.#fragOp !== 0) {
          return this.#fail(new WsClientError('protocol_error', 'new message inside a fragmented one'), 1002) > 0;
        }
        if (fin) return this.#deliver(buf.subarray(start, stop), op === OP_BINARY);
        this.#fragOp = op;
        this.#fragLen = 0;
        this.#appendFragment(buf, start, stop);
        return true;
      case OP_CONT: {
        if (this.#fragOp === 0) return this.#fail(new WsClientError('protocol_error', 'continuation without a start'), 1002) > 0;
        if (this.#fragLen + (stop - start) > this.#maxPayload) {
          return this.#fail(new WsClientError('too_large', 'fragmented message too long'), 1009) > 0;
        }
        this.#appendFragment(buf, start, stop);
        if (!fin) return true;
        const isBinary = this.#fragOp === OP_BINARY;
        const msg = (this.#frag as Buffer).subarray(0, this.#fragLen);
        this.#fragOp = 0;
        this.#fragLen = 0;
        const ok = this.#deliver(msg, isBinary);
        if ((this.#frag as Buffer).length > 256 * 1024) this.#frag = null;
        return ok;
      }
      case OP_PING:
        if (!fin || stop - start > 125) return this.#fail(new WsClientError('protocol_error', 'bad ping frame'), 1002) > 0;
        if (this.#state === WsState.OPEN) this.#socket.write(encodeClientFrame(OP_PONG, buf.subarray(start, stop), true));
        this.#opts.onPing?.(buf.subarray(start, stop));
        return true;
      case OP_PONG:
        if (!fin || stop - start > 125) return this.#fail(new WsClientError('protocol_error', 'bad pong frame'), 1002) > 0;
        this.#opts.onPong?.(buf.subarray(start, stop));
        return true;
      case OP_CLOSE: {
        const n = stop - start;
        if (!fin || n === 1 || n > 125) return this.#fail(new WsClientError('protocol_error', 'bad close frame'), 1002) > 0;
        this.#closeReceived = true;
        this.#closeCode = n >= 2 ? buf.readUInt16BE(start) : 1005;
        this.#closeReason = n > 2 ? buf.toString('utf8', start + 2, stop) : '';
        if (this.#state === WsState.OPEN) {
          // The server started: echo its code, then let it close TCP first (RFC 6455 7.1.1);
          // end() is our half of that and needs no timer, the server's FIN follows.
          this.#state = WsState.CLOSING;
          this.#sendClose(n >= 2 ? this.#closeCode : -1, '');
        }
        this.#socket.end();
        return false;
      }
      default:
        return this.#fail(new WsClientError('protocol_error', `unknown opcode ${op}`), 1002) > 0;
    }
  }

  #deliver(data: Buffer, isBinary: boolean): boolean {
    if (!isBinary && this.#opts.validateUtf8 && !isUtf8(data)) {
      return this.#fail(new WsClientError('invalid_utf8', 'text message is not UTF-8'), 1007) > 0;
    }
    this.#opts.onMessage?.(data, isBinary);
    return this.#state !== WsState.CLOSED;
  }

  #appendFragment(buf: Buffer, start: number, stop: number): void {
    const n = stop - start;
    const need = this.#fragLen + n;
    let f = this.#frag;
    if (f === null || f.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, (f?.length ?? 0) * 2, 4096));
      if (f !== null) f.copy(grown, 0, 0, this.#fragLen);
      this.#frag = f = grown;
    }
    buf.copy(f, this.#fragLen, start, stop);
    this.#fragLen = need;
  }

  /**
   * Bytes the split frame needs in all, as far as its buffered bytes tell: the header length
   * while the header is incomplete, then header + payload. Complete when #pendLen reaches it.
   */
  #pendNeed(): number {
    const p = this.#pend as Buffer;
    const have = this.#pendLen;
    if (have < 2) return 2;
    const len7 = (p[1] as number) & 0x7f;
    if (len7 < 126) return 2 + len7;
    if (len7 === 126) return have < 4 ? 4 : 4 + p.readUInt16BE(2);
    return have < 10 ? 10 : 10 + p.readUInt32BE(2) * 2 ** 32 + p.readUInt32BE(6);
  }

  /**
   * Move bytes from `buf` into the split frame, never past its end (the rest of `buf` belongs to
   * later frames). The new offset, or -1 when the frame is refused as too large.
   */
  #fillPending(buf: Buffer, off: number, end: number): number {
    for (;;) {
      const need = this.#pendNeed();
      if (this.#pendLen >= need || off >= end) return off;
      if (need > this.#maxPayload + 10) return this.#fail(new WsClientError('too_large', `frame of ${need} bytes`), 1009);
      const take = Math.min(need - this.#pendLen, end - off);
      this.#ensurePending(this.#pendLen + take);
      buf.copy(this.#pend as Buffer, this.#pendLen, off, off + take);
      this.#pendLen += take;
      off += take;
    }
  }

  /** Keep an incomplete frame's first bytes (the pending buffer is empty here). */
  #stash(buf: Buffer, off: number, end: number): void {
    const n = end - off;
    this.#ensurePending(n);
    buf.copy(this.#pend as Buffer, 0, off, end);
    this.#pendLen = n;
    // Size the buffer once for the whole frame when the header already says how long it is.
    const need = this.#pendNeed();
    if (need > n && need <= this.#maxPayload + 10) this.#ensurePending(need);
  }

  #ensurePending(n: number): void {
    const p = this.#pend;
    if (p !== null && p.length >= n) return;
    const grown = Buffer.allocUnsafe(Math.max(n, (p?.length ?? 0) * 2, 1024));
    if (p !== null && this.#pendLen > 0) p.copy(grown, 0, 0, this.#pendLen);
    this.#pend = grown;
  }

  /* ----- handshake ----- */

  #onHandshakeBytes(buf: Buffer, end: number): void {
    const prev = this.#hs;
    const all = prev === null ? Buffer.from(buf.subarray(0, end)) : Buffer.concat([prev, buf.subarray(0, end)]);
    const at = all.indexOf('\r\n\r\n');
    if (at < 0) {
      if (all.length > MAX_HANDSHAKE_BYTES) this.#failHandshake(new WsClientError('handshake_invalid', 'response header too long'));
      else this.#hs = all;
      return;
    }
    this.#hs = null;
    const err = this.#checkResponse(all.toString('latin1', 0, at));
    if (err) {
      this.#failHandshake(err);
      return;
    }
    this.#state = WsState.OPEN;
    this.#handshakeMs = performance.now() - this.#began;
    this.#opts.onOpen?.(this);
    const settle = this.#settle;
    this.#settle = null;
    settle?.(null);
    // Frames may follow the 101 in the same read; `all` is our own copy, so no aliasing.
    if (at + 4 < all.length) this.#consume(all, at + 4, all.length);
  }

  #checkResponse(head: string): WsClientError | null {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) return new WsClientError('handshake_invalid', `bad status line: ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    if (status !== 101) return new WsClientError('handshake_status', `upgrade answered ${status}`, status);
    const h = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const c = line.indexOf(':');
      if (c <= 0) continue;
      h.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
    }
    if ((h.get('upgrade') ?? '').toLowerCase() !== 'websocket') {
      return new WsClientError('handshake_invalid', 'missing Upgrade: websocket');
    }
    if (!(h.get('connection') ?? '').toLowerCase().split(/\s*,\s*/).includes('upgrade')) {
      return new WsClientError('handshake_invalid', 'missing Connection: Upgrade');
    }
    if (h.get('sec-websocket-accept') !== this.#expectedAccept) {
      return new WsClientError('handshake_invalid', 'wrong Sec-WebSocket-Accept');
    }
    if (h.has('sec-websocket-extensions') && h.get('sec-websocket-extensions') !== '') {
      return new WsClientError('handshake_invalid', 'the server enabled an extension we did not offer');
    }
    const offered = this.#opts.protocols ?? [];
    const chosen = h.get('sec-websocket-protocol') ?? '';
    if (offered.length > 0 && !offered.includes(chosen)) {
      return new WsClientError(
        'protocol_mismatch',
        chosen === '' ? 'the server chose no sub-protocol' : `the server chose ${chosen}, not offered`,
        chosen || 'none',
      );
    }
    if (offered.length === 0 && chosen !== '') {
      return new WsClientError('protocol_mismatch', `the server chose ${chosen}, none offered`, chosen);
    }
    this.#protocol = chosen;
    return null;
  }

  #failHandshake(err: WsClientError): void {
    if (this.#state !== WsState.CONNECTING) return;
    this.#state = WsState.CLOSED;
    this.#error = err;
    const settle = this.#settle;
    this.#settle = null;
    this.#socket.destroy();
    settle?.(err);
  }

  /* ----- closing and failures ----- */

  /** code -1: a close frame without a body (echoing one that had none). */
  #sendClose(code: number, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    let body: Buffer;
    if (code < 0) {
      body = Buffer.alloc(0);
    } else {
      const r = Buffer.from(reason, 'utf8').subarray(0, 123);
      body = Buffer.allocUnsafe(2 + r.length);
      body.writeUInt16BE(code, 0);
      r.copy(body, 2);
    }
    this.#socket.write(encodeClientFrame(OP_CLOSE, body, true));
  }

  /** Fail the connection (RFC 6455 7.1.7): close frame with `code`, then drop. Returns -1. */
  #fail(err: WsClientError, code: number): number {
    if (this.#state === WsState.OPEN || this.#state === WsState.CLOSING) {
      this.#error = err;
      this.#closeCode = 1006;
      this.#sendClose(code, err.code);
      this.#socket.end();
      this.#state = WsState.CLOSING;
      this.#opts.onError?.(err);
      const t = setTimeout(() => this.#socket.destroy(), 1000);
      t.unref();
    }
    return -1;
  }

  #onSocketError(e: NodeJS.ErrnoException): void {
    if (this.#state === WsState.CONNECTING) {
      this.#failHandshake(
        this.#tcpConnected
          ? new WsClientError('closed_during_handshake', e.message, e.code)
          : new WsClientError('connect_failed', e.message, e.code ?? 'unknown'),
      );
      return;
    }
    if (this.#error === null) {
      this.#error = new WsClientError('socket_error', e.message, e.code ?? 'unknown');
      this.#opts.onError?.(this.#error);
    }
  }

  #onSocketClose(): void {
    if (this.#state === WsState.CONNECTING) {
      this.#failHandshake(new WsClientError('closed_during_handshake', 'the server closed before the handshake completed'));
      return;
    }
    if (this.#state === WsState.CLOSED) return;
    this.#state = WsState.CLOSED;
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    this.#pend = null;
    this.#frag = null;
    const clean = this.#closeReceived && this.#closeSent && this.#error === null;
    if (!this.#closeReceived) this.#closeCode = 1006;
    this.#opts.onClose?.(this.#closeCode, this.#closeReason, clean);
  }
}

function buildRequest(url: URL, key: string, protocols: readonly string[], headers: Readonly<Record<string, string>>): string {
  const lines = [
    `GET ${url.pathname || '/'}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
  ];
  if (protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocols.join(', ')}`);
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new TypeError(`header ${JSON.stringify(k)} holds a line break`);
    lines.push(`${k}: ${v}`);
  }
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Shorthand for `WsConnection.connect`. */
export const connect = (opts: WsConnectOptions): Promise<WsConnection> => WsConnection.connect(opts);

/**
 * Open `count` connections, at most `concurrency` handshakes at a time. Each slot of the result is
 * the connection or its error, so one refusal does not hide the others.
 */
export async function connectMany(
  count: number,
  optsFor: (i: number) => WsConnectOptions,
  { concurrency = 128, onProgress }: { concurrency?: number; onProgress?: (done: number, failed: number) => void } = {},
): Promise<Array<WsConnection | WsClientError>> {
  const limiter = new ConnectLimiter(concurrency);
  let done = 0;
  let failed = 0;
  const out = new Array<WsConnection | WsClientError>(count);
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      try {
        out[i] = await WsConnection.connect({ ...optsFor(i), limiter });
      } catch (e) {
        failed++;
        out[i] = e instanceof WsClientError ? e : new WsClientError('connect_failed', String(e), 'unknown');
      }
      done++;
      onProgress?.(done, failed);
    }),
  );
  return out;
}
