/**
 * Checkpoints for embedded PGlite. PGlite runs PostgreSQL as a single backend, without the
 * checkpointer process, and nothing else ever checkpoints while it is open: measured here, the
 * redo point stayed at the one initdb wrote while 1.2 GB of WAL piled up in 77 segment files
 * (max_wal_size did not trigger one). The disk fills at the write rate (about 5 MB of WAL a second
 * at 10,000 messages a second), and a restart after a crash replays everything since the
 * database was created (5.1 s for those 1.2 GB).
 *
 * So the thread that owns PGlite checkpoints it: every `checkEveryMs` it asks how much WAL was
 * written since the last checkpoint, through the store's own pool (so the probe and the
 * CHECKPOINT queue behind any COPY in progress, never interleave with it), and checkpoints when
 * that passes `walMb`, or when anything at all was written and the last checkpoint is older than
 * `maxAgeMs` (a quiet server's recovery stays short too). After a checkpoint PostgreSQL recycles
 * the segments before the new redo point, so pg_wal stays at a few segments.
 *
 * A checkpoint writes every dirty page and holds the store meanwhile: 30 ms for 64 MB of WAL
 * here. Smaller steps stall less each time but write more full-page images after each one.
 */
import type pg from 'pg';
import { log } from '../../log.js';
import { Periodic } from '../periodic.js';

export interface CheckpointOptions {
  /** Checkpoint once this much WAL (MiB) was written since the last one. */
  walMb: number;
  /** ...or once the last checkpoint is this old and anything was written since. */
  maxAgeMs: number;
  /** How often to look (ms). */
  checkEveryMs: number;
  /** After each checkpoint (tests, metrics). */
  onCheckpoint?: (info: { walMb: number; ms: number }) => void;
}

/** WAL since the last checkpoint below this (MiB) is that checkpoint's own record: nothing was written. */
const NOTHING_WRITTEN_MB = 1 / 64;

const PROBE = `
  SELECT (pg_current_wal_insert_lsn() - redo_lsn)::float8 / 1048576 AS wal_mb,
         extract(epoch FROM now() - checkpoint_time)::float8 * 1000 AS age_ms
    FROM pg_control_checkpoint()`;

export class PgliteCheckpointer {
  readonly #pool: pg.Pool;
  readonly #opts: CheckpointOptions;
  readonly #periodic: Periodic;

  constructor(pool: pg.Pool, opts: CheckpointOptions) {
    this.#pool = pool;
    this.#opts = opts;
    this.#periodic = new Periodic(() => this.check(), opts.checkEveryMs);
  }

  start(): void {
    this.#periodic.start();
  }

  /** Stops looking; waits for a check or checkpoint in progress. */
  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** One look, and a checkpoint if one is due. Failures are logged, never thrown: the next look retries. */
  async check(): Promise<void> {
    try {
      const r = await this.#pool.query<{ wal_mb: number; age_ms: number }>(PROBE);
      const { wal_mb: walMb, age_ms: ageMs } = r.rows[0]!;
      if (walMb < this.#opts.walMb && !(walMb > NOTHING_WRITTEN_MB && ageMs >= this.#opts.maxAgeMs)) return;
      const started = performance.now();
      await this.#pool.query('CHECKPOINT');
      const ms = performance.now() - started;
      log.debug('store: PGlite checkpoint', { walMb: Math.round(walMb), ms: Math.round(ms) });
      this.#opts.onCheckpoint?.({ walMb, ms });
    } catch (err) {
      log.warn('store: PGlite checkpoint failed; retrying at the next look', { err: err instanceof Error ? err : new Error(String(err)) });
    }
  }
}
