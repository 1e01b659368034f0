/**
 * Once a second, every socket of the front: a socket whose access token expired with no fresh
 * `authenticate`, or whose login session was revoked since the last sweep, is closed with 4401; a socket last pinged `heartbeatMs` ago is pinged (uWS closes
 * one that stays silent for its idle timeout). A socket at its backpressure limit has publishes
 * skipped by uWS: each such episode is counted, or with slowConsumer 'close' the socket is closed
 * (1008: it would not keep up). A timer per socket would cost memory on every idle one.
 */
import type { RevocationSet } from '../../auth/revocations.js';
import type { Config } from '../../config/schema.js';
import { CLOSE } from '../../errors.js';
import type { Conn } from './conn.js';
import type { Sockets } from './sockets.js';

/** How often sockets are checked. */
const SWEEP_MS = 1000;
/** Close code for a consumer that would not keep up (RFC 6455 1008, policy violation). */
const SLOW_CONSUMER_CLOSE = 1008;

export interface SweepStats {
  /** Sockets closed for not reading (slowConsumer 'close'). */
  slowConsumerCloses: number;
  /** Times a socket fell behind its backpressure limit and had publishes skipped ('skip'). */
  slowConsumerSkips: number;
  /** Sockets behind their limit at the last sweep. */
  lagging: number;
}

export class Sweeper {
  readonly stats: SweepStats = { slowConsumerCloses: 0, slowConsumerSkips: 0, lagging: 0 };
  readonly #config: Config;
  readonly #sockets: Sockets;
  readonly #clock: () => number;
  readonly #close: (conn: Conn, code: number, reason: string) => void;
  #timer: NodeJS.Timeout | null = null;
  readonly #revocations: RevocationSet | null;
  /** The revocation set's generation at the last sweep: sessions are looked up only when it moved. */
  #seenRevocations = 0;

  constructor(
    config: Config,
    sockets: Sockets,
    clock: () => number,
    close: (conn: Conn, code: number, reason: string) => void,
    revocations: RevocationSet | null = null,
  ) {
    this.#config = config;
    this.#sockets = sockets;
    this.#clock = clock;
    this.#close = close;
    this.#revocations = revocations;
    this.#seenRevocations = revocations?.generation ?? 0;
  }

  start(): void {
    this.#timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  sweep(): void {
    const limit = this.#config.limits.maxBackpressureBytes;
    const close = this.#config.limits.slowConsumer === 'close';
    const heartbeatMs = this.#config.ws.heartbeatMs;
    const now = this.#clock();
    let lagging = 0;
    // A session revoked since the last sweep, here or on another node (heard over Redis), closes
    // its sockets; a local revocation has closed them already through the user's actor.
    const generation = this.#revocations?.generation ?? 0;
    const revoked = generation !== this.#seenRevocations ? this.#revocations : null;
    this.#seenRevocations = generation;
    for (const conn of this.#sockets) {
      const ws = conn.ws;
      if (ws === null || conn.closed) continue;
      if (conn.user !== null && conn.expiresAt <= now) {
        this.#close(conn, CLOSE.UNAUTHENTICATED, 'token expired');
        continue;
      }
      if (revoked !== null && conn.authSession !== '' && revoked.isSessionRevoked(conn.authSession)) {
        this.#close(conn, CLOSE.UNAUTHENTICATED, 'session revoked');
        continue;
      }
      // Half a sweep early rather than a whole sweep late: the interval's ticks jitter by a few ms.
      if (now - conn.pingedAt >= heartbeatMs - SWEEP_MS / 2) {
        conn.pingedAt = now;
        ws.ping();
      }
      if (ws.getBufferedAmount() < limit) {
        conn.lagging = false;
        continue;
      }
      lagging++;
      if (close) {
        this.stats.slowConsumerCloses++;
        this.#close(conn, SLOW_CONSUMER_CLOSE, 'too slow: backpressure limit reached');
      } else if (!conn.lagging) {
        conn.lagging = true;
        this.stats.slowConsumerSkips++;
      }
    }
    this.stats.lagging = lagging;
  }
}
