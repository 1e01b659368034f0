/**
 * VACUUM and ANALYZE for embedded PGlite. PGlite runs PostgreSQL as a single backend without the
 * autovacuum launcher, so nothing ever vacuums or analyzes it. Three things follow, the last one
 * fatal:
 *
 * - dead rows of updated tables (users' last activity, refresh tokens, thread counts) are never
 *   reclaimed: tables and indexes grow without bound;
 * - the planner never gets statistics;
 * - transaction ids are never frozen: PostgreSQL stops accepting writes ("to avoid wraparound
 *   data loss") once the oldest database's `datfrozenxid` is about 2^31 transactions old. With
 *   group commit that is some 250 days of a steady 100 commits a second.
 *
 * `PgliteVacuumer` does autovacuum's job for the database PGlite opens: every `checkEveryMs` it
 * reads `pg_stat_user_tables` and vacuums or analyzes (one statement a look) the one table furthest
 * past autovacuum's default thresholds (inserts capped, see INSERT_MAX), through the store's pool
 * like every statement (so it queues behind a COPY, never interleaves with it); and it freezes the
 * whole database with `VACUUM (FREEZE)` once its `datfrozenxid` is `freezeAge` transactions old.
 * Counters live in memory: a restart starts them at zero.
 *
 * Every statement holds the store while it runs, so each is kept short: a vacuum scans only pages
 * changed since the table's last one (the visibility map skips the rest), and at most INSERT_MAX
 * new rows of them; an ANALYZE samples ANALYZE_STATISTICS_TARGET × 300 rows; and a look runs one
 * or the other, never both in one statement.
 *
 * The other databases (template0, template1) are not reachable from that session, and their age
 * grows with every transaction too: `freezeOtherDatabases` freezes them at start-up when they are
 * `freezeAge` old, each in a short-lived instance of its own (see ./pglite.ts).
 */
import type pg from 'pg';
import { log } from '../../log.js';
import { Periodic } from '../periodic.js';
import { runInThread } from './thread.js';
import { inTransaction } from '../transaction.js';

export interface VacuumOptions {
  /** How often to look (ms). */
  checkEveryMs: number;
  /** Freeze a database once its `datfrozenxid` is this many transactions old (autovacuum: 200M). */
  freezeAge: number;
  /** Analyze a table at most this often (ms); see ANALYZE_EVERY_MS, the default. */
  analyzeEveryMs: number;
  /** After each VACUUM or ANALYZE (tests, metrics). */
  onVacuum?: (info: VacuumDone) => void;
}

export interface VacuumDone {
  /** The table, or null for the whole database (a freeze). */
  table: string | null;
  statement: string;
  ms: number;
}

/** Autovacuum's defaults (postgresql.conf): base threshold plus a share of the table's rows. */
const VACUUM_BASE = 50;
const VACUUM_SCALE = 0.2;
const INSERT_BASE = 1000;
const INSERT_SCALE = 0.2;
/**
 * ...except that a table is vacuumed after this many inserts whatever its size: a vacuum holds the
 * store, and autovacuum's 20% of a table of messages would be a longer stall every time. Measured
 * here: VACUUM (FREEZE) of 20,000 new messages, 6 ms.
 */
const INSERT_MAX = 20_000;
const ANALYZE_BASE = 50;
const ANALYZE_SCALE = 0.1;
/**
 * `default_statistics_target` for the vacuumer's ANALYZE (PostgreSQL's default: 100). ANALYZE
 * samples 300 × this many rows, and a sample of 30,000 held the store 70–190 ms (a messages table
 * of 50,000 to 1,000,000 rows, measured here): under the rooms bench's 10,000 messages a second
 * that was an ANALYZE every 5 s and the whole of its p99 (27 ms without, 105–170 ms with). At 10:
 * 8–23 ms. What the planner loses is detail it has no use for here: every query of the store is
 * an index look-up by key or by (conversation, seq); the histograms keep 10 buckets, the
 * most-common-value lists 10 entries.
 */
export const ANALYZE_STATISTICS_TARGET = 10;
/**
 * A table is analyzed at most this often (autovacuum's own pace: `autovacuum_naptime`, 1 minute).
 * A young table under load is past ANALYZE's 10% threshold at every look, and its statistics
 * barely change from one look to the next.
 */
export const ANALYZE_EVERY_MS = 60_000;

interface TableStats {
  rel: string;
  live: number;
  dead: number;
  modified: number;
  inserted: number;
}

const STATS = `
  SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS rel,
         n_live_tup::float8 AS live, n_dead_tup::float8 AS dead,
         n_mod_since_analyze::float8 AS modified, n_ins_since_vacuum::float8 AS inserted
    FROM pg_stat_user_tables`;

const DB_AGE = 'SELECT age(datfrozenxid)::float8 AS age FROM pg_database WHERE datname = current_database()';

/**
 * The statement to run next, for the table most past its threshold (by ratio), or null when none
 * is: its vacuum or its ANALYZE, whichever is further past (the other waits for the next look,
 * so no look holds the store for both). Tables in `analyzedLately` are not analyzed again yet.
 * Vacuuming freezes what it visits: rows are frozen a little at a time, so the database-wide
 * freeze every `freezeAge` transactions finds nearly every page frozen already and holds the store
 * briefly, not for a scan of every message.
 */
export function nextMaintenance(
  tables: readonly TableStats[],
  analyzedLately: ReadonlySet<string> = new Set(),
): { table: string; statement: string } | null {
  let best: { table: string; statement: string; over: number } | null = null;
  for (const t of tables) {
    const vacuum = Math.max(
      t.dead / (VACUUM_BASE + VACUUM_SCALE * t.live),
      t.inserted / Math.min(INSERT_BASE + INSERT_SCALE * t.live, INSERT_MAX),
    );
    const analyze = analyzedLately.has(t.rel) ? 0 : t.modified / (ANALYZE_BASE + ANALYZE_SCALE * t.live);
    const over = Math.max(vacuum, analyze);
    if (over <= 1 || (best !== null && over <= best.over)) continue;
    const statement = vacuum >= analyze ? `VACUUM (FREEZE) ${t.rel}` : `ANALYZE ${t.rel}`;
    best = { table: t.rel, statement, over };
  }
  return best && { table: best.table, statement: best.statement };
}

export class PgliteVacuumer {
  readonly #pool: pg.Pool;
  readonly #opts: VacuumOptions;
  readonly #periodic: Periodic;
  /** When each table was last analyzed here (performance.now()). */
  readonly #analyzedAt = new Map<string, number>();

  constructor(pool: pg.Pool, opts: VacuumOptions) {
    this.#pool = pool;
    this.#opts = opts;
    this.#periodic = new Periodic(() => this.check(), opts.checkEveryMs);
  }

  start(): void {
    this.#periodic.start();
  }

  /** Stops looking; waits for a look or a vacuum in progress. */
  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** One look, and at most one statement. Failures are logged, never thrown: the next look retries. */
  async check(): Promise<VacuumDone | null> {
    try {
      const age = (await this.#pool.query<{ age: number }>(DB_AGE)).rows[0]?.age ?? 0;
      if (age >= this.#opts.freezeAge) return await this.#run(null, 'VACUUM (FREEZE)');
      const now = performance.now();
      const lately = new Set<string>();
      for (const [rel, at] of this.#analyzedAt) if (now - at < this.#opts.analyzeEveryMs) lately.add(rel);
      const next = nextMaintenance((await this.#pool.query<TableStats>(STATS)).rows, lately);
      return next === null ? null : await this.#run(next.table, next.statement);
    } catch (err) {
      log.warn('store: PGlite vacuum failed; retrying at the next look', { err: err instanceof Error ? err : new Error(String(err)) });
      return null;
    }
  }

  async #run(table: string | null, statement: string): Promise<VacuumDone> {
    const started = performance.now();
    if (statement.startsWith('ANALYZE ') && table !== null) {
      await this.#analyze(statement);
      this.#analyzedAt.set(table, performance.now());
    } else await this.#pool.query(statement);
    const done = { table, statement, ms: performance.now() - started };
    log.debug('store: PGlite maintenance', { statement, ms: Math.round(done.ms) });
    this.#opts.onVacuum?.(done);
    return done;
  }

  /** ANALYZE with a sample of ANALYZE_STATISTICS_TARGET × 300 rows, set for its transaction only. */
  #analyze(statement: string): Promise<void> {
    return inTransaction(this.#pool, async (c) => {
      await c.query(`SET LOCAL default_statistics_target = ${ANALYZE_STATISTICS_TARGET}`);
      await c.query(statement);
    });
  }
}

/** Databases other than the session's whose `datfrozenxid` is at least `minAge` old. */
export async function staleDatabases(
  query: (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>,
  minAge: number,
): Promise<string[]> {
  const r = await query(
    'SELECT datname FROM pg_database WHERE datname <> current_database() AND age(datfrozenxid)::bigint >= $1::bigint ORDER BY datname',
    [minAge],
  );
  return (r.rows as { datname: string }[]).map((row) => row.datname);
}

/**
 * `VACUUM (FREEZE)` in each of `databases` of the PGlite directory `dir`, one short-lived instance
 * each, in a thread of its own (./pglite-vacuum-worker.ts) so its WebAssembly memory goes with it.
 * No other instance may have `dir` open: the caller holds the lock and has closed its own.
 */
export async function freezeOtherDatabases(dir: string, databases: readonly string[], opts: { fsync: boolean }): Promise<void> {
  if (databases.length === 0) return;
  const error = await runInThread('vacuum-worker', { dir, databases, fsync: opts.fsync });
  if (error !== undefined) throw new Error(`store: freezing ${databases.join(', ')} in ${dir} failed: ${error}`);
}
