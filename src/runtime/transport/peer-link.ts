/**
 * One thread's connection to one peer thread: the ring it writes (to the peer) and the ring it
 * reads (from the peer), with envelopes packed by the codec. A link outlives its rings: when the
 * peer thread dies the supervisor says "peer down" (the rings are dropped with whatever was in
 * them), and when the new thread starts it says "peer up" with fresh rings.
 *
 * While the peer is down, sends are held (packed) in a bounded queue and written to the new ring
 * when the peer comes back, so a caller does not see a restart beyond a delay; the same
 * backpressure contract as RingWriter applies (`overflowLimit`, then refuse until drain).
 */
import type { Codec } from './codec.js';
import { Fifo } from './fifo.js';
import { Ring } from './ring.js';
import { RingReader } from './ring-reader.js';
import { RingWriter } from './ring-writer.js';
import { RuntimeError } from '../errors.js';
import type { Envelope } from './envelopes.js';

export interface PeerLinkOptions {
  peer: number;
  codec: Codec;
  maxEnvelopeBytes: number;
  overflowLimit: number;
  /** RingReader `napMs` for the ring from the peer (0: woken per record burst). */
  napMs?: number;
  /** An envelope arrived from the peer. */
  onEnvelope: (env: Envelope, peer: number) => void;
  /** Sends to this peer are refused until `onDrain`. */
  onPause: (peer: number) => void;
  onDrain: (peer: number) => void;
  /** A record failed to decode or its handler threw. */
  onError: (err: unknown, peer: number) => void;
  /**
   * A lost wake-up was rescued by a ring's watchdog (see ./wake-watch.ts): `inbound`, this thread
   * slept with envelopes waiting; `outbound`, it waited for space that was free.
   */
  onStall?: (side: 'inbound' | 'outbound', peer: number) => void;
}

export class PeerLink {
  readonly peer: number;
  readonly #opts: PeerLinkOptions;
  #writer: RingWriter | null = null;
  #reader: RingReader | null = null;
  /** Envelopes sent while the peer is down. */
  readonly #held = new Fifo<Uint8Array>();
  #writable = true;
  #readPaused = false;
  #outRing: Ring | null = null;
  #closed = false;

  constructor(opts: PeerLinkOptions) {
    this.peer = opts.peer;
    this.#opts = opts;
  }

  get up(): boolean {
    return this.#writer !== null;
  }

  /** False while sends are refused (see RingWriter). */
  get writable(): boolean {
    return this.#writable;
  }

  /** Envelopes waiting to enter the outgoing ring (overflow queue, or held while the peer is down). */
  get queued(): number {
    return this.#writer ? this.#writer.queued : this.#held.length;
  }

  /** The most envelopes ever queued on the current outgoing ring. */
  get maxQueued(): number {
    return this.#writer ? this.#writer.maxQueued : this.#held.length;
  }

  /** For metrics, read at a scrape: the outgoing ring's fill and queue, the incoming reader's wake-ups. */
  ringStats(): { used: number; capacity: number; queued: number; wakeups: number } {
    const ring = this.#outRing;
    return { used: ring?.availableRead() ?? 0, capacity: ring?.capacity ?? 0, queued: this.queued, wakeups: this.#reader?.stats.wakeups ?? 0 };
  }

  /** The peer (re)started: use these rings from now on. */
  attach(out: SharedArrayBuffer, inbound: SharedArrayBuffer): void {
    if (this.#closed) return;
    this.detach();
    const { codec, maxEnvelopeBytes, overflowLimit } = this.#opts;
    this.#outRing = new Ring(out);
    this.#writer = new RingWriter(this.#outRing, {
      maxRecordBytes: maxEnvelopeBytes,
      overflowLimit,
      onPause: () => this.#setWritable(false),
      onDrain: () => this.#setWritable(true),
      onStall: () => this.#opts.onStall?.('outbound', this.peer),
    });
    this.#reader = new RingReader(
      new Ring(inbound),
      (bytes, start, end) => this.#opts.onEnvelope(codec.unpack(bytes, start, end) as Envelope, this.peer),
      {
        maxRecordBytes: maxEnvelopeBytes,
        napMs: this.#opts.napMs ?? 0,
        onError: (err) => this.#opts.onError(err, this.peer),
        onStall: () => this.#opts.onStall?.('inbound', this.peer),
      },
    );
    if (this.#readPaused) this.#reader.pause();
    this.#reader.start();
    // What was held while the peer was down goes first, in order; it fits the writer's queue.
    for (let bytes = this.#held.shift(); bytes !== undefined; bytes = this.#held.shift()) this.#writer.write(bytes);
    this.#setWritable(this.#writer.writable);
  }

  /**
   * The peer is gone: drop both rings and what was queued for it (it can never be delivered to the
   * thread that died). Returns how many queued envelopes were dropped.
   */
  detach(): number {
    const dropped = this.#writer?.close() ?? 0;
    this.#reader?.close();
    this.#writer = null;
    this.#outRing = null;
    this.#reader = null;
    if (!this.#closed) this.#setWritable(this.#held.length < this.#opts.overflowLimit);
    return dropped;
  }

  /** This thread is leaving: stop everything. */
  close(): void {
    this.#closed = true;
    this.detach();
    this.#held.drain();
  }

  /**
   * Send an envelope. True: accepted (it will be delivered in order unless the peer dies first).
   * False: refused, the queue is full; wait for the link's drain. Throws RuntimeError
   * `envelope_too_large` when it packs larger than `maxEnvelopeBytes`.
   */
  send(env: Envelope): boolean {
    if (this.#closed) throw new RuntimeError('stopped', 'this thread is stopping');
    if (!this.#writable) return false;
    const bytes = this.#opts.codec.pack(env);
    if (this.#writer) return this.#writer.write(bytes);
    if (bytes.length > this.#opts.maxEnvelopeBytes) {
      // Same refusal as the writer's, so the outcome does not depend on whether the peer is up.
      this.#writerlessTooLarge(bytes.length);
    }
    this.#held.push(bytes);
    if (this.#held.length >= this.#opts.overflowLimit) this.#setWritable(false);
    return true;
  }

  /**
   * Send a reply: never refused (see RingWriter `force`). Dropped when the peer is down: the thread
   * that asked is gone, and its asks with it.
   */
  sendReply(env: Envelope): void {
    if (this.#closed || !this.#writer) return;
    this.#writer.write(this.#opts.codec.pack(env), true);
  }

  /** Stop reading from the peer (the records stay in its ring: backpressure on the peer). */
  pauseReading(): void {
    this.#readPaused = true;
    this.#reader?.pause();
  }

  resumeReading(): void {
    this.#readPaused = false;
    this.#reader?.resume();
  }

  #writerlessTooLarge(size: number): never {
    throw new RuntimeError(
      'envelope_too_large',
      `envelope of ${size} bytes exceeds the ring maximum of ${this.#opts.maxEnvelopeBytes} bytes (runtime.maxEnvelopeBytes)`,
    );
  }

  #setWritable(writable: boolean): void {
    if (writable === this.#writable) return;
    this.#writable = writable;
    if (writable) this.#opts.onDrain(this.peer);
    else this.#opts.onPause(this.peer);
  }
}
