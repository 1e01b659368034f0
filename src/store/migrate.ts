import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { log } from '../log.js';
import { PACKAGE_ROOT } from '../paths.js';

/**
 * Schema migrations: numbered SQL files (`0001_init.sql`, ...) applied in order, each in its own
 * transaction, and recorded in `schema_migrations` with a checksum. A file that changed after it
 * was applied is refused: the database would no longer match what the file says.
 *
 * A file must not contain BEGIN/COMMIT, nor statements that cannot run in a transaction
 * (CREATE INDEX CONCURRENTLY).
 */

/**
 * The package's migrations folder. This file is src/store/migrate.ts or, built, dist/store/migrate.js:
 * the package root is two levels up from either.
 */
export const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'migrations');

/**
 * Session-level advisory lock key ("veza" in ASCII), held on one connection for the whole run:
 * nodes starting together queue here, and each finds the files the first one applied recorded.
 * PGlite supports advisory locks too (checked); there it is moot, one process owns the data
 * directory (./lock.ts).
 */
const MIGRATION_LOCK_KEY = 0x7665_7a61;

const FILE_NAME = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*)\.sql$/;

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  checksum: string;
  sql: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  applied_at: string;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: { version: number; name: string }[];
  /** Applied, but the file's checksum differs now: migrate refuses to run. */
  changed: { version: number; name: string }[];
  /** Applied, but no file has that version (a newer build migrated this database). */
  unknown: AppliedMigration[];
}

export class MigrationError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'MigrationError';
  }
}

/** The migration files of `dir`, sorted by version. Line endings do not change the checksum. */
export function readMigrations(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  const files: MigrationFile[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_NAME.exec(file);
    if (!m) throw new MigrationError(`${join(dir, file)}: a migration is named <number>_<name>.sql`);
    const sql = readFileSync(join(dir, file), 'utf8').replace(/\r\n/g, '\n');
    const checksum = createHash('sha256').update(sql).digest('hex');
    files.push({ version: Number(m[1]), name: m[2]!, file, checksum, sql });
  }
  files.sort((a, b) => a.version - b.version);
  for (let i = 1; i < files.length; i++) {
    if (files[i]!.version === files[i - 1]!.version) {
      throw new MigrationError(`two migrations have version ${files[i]!.version}: ${files[i - 1]!.file}, ${files[i]!.file}`);
    }
  }
  return files;
}

type Db = pg.Pool | pg.ClientBase;

async function withClient<T>(db: Db, fn: (c: pg.ClientBase) => Promise<T>): Promise<T> {
  if (!(db instanceof pg.Pool)) return fn(db);
  const c = await db.connect();
  let broken: Error | undefined;
  try {
    return await fn(c);
  } catch (e) {
    // A dropped connection must not go back to the pool. An SQL error leaves it usable.
    if (!(e instanceof MigrationError)) broken = e instanceof Error ? e : new Error(String(e));
    throw e;
  } finally {
    c.release(broken);
  }
}

const iso = (v: unknown): string => (v instanceof Date ? v : new Date(String(v))).toISOString();

async function readApplied(c: pg.ClientBase): Promise<AppliedMigration[]> {
  const exists = await c.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (exists.rows[0]?.t == null) return [];
  const r = await c.query<{ version: number; name: string; checksum: string; applied_at: unknown }>(
    'SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version',
  );
  return r.rows.map((row) => ({ ...row, applied_at: iso(row.applied_at) }));
}

function compare(files: MigrationFile[], applied: AppliedMigration[]): MigrationStatus & { todo: MigrationFile[] } {
  const byVersion = new Map(applied.map((a) => [a.version, a]));
  const known = new Set(files.map((f) => f.version));
  const todo: MigrationFile[] = [];
  const changed: { version: number; name: string }[] = [];
  for (const f of files) {
    const a = byVersion.get(f.version);
    if (!a) todo.push(f);
    else if (a.checksum !== f.checksum) changed.push({ version: f.version, name: f.name });
  }
  return {
    applied,
    pending: todo.map((f) => ({ version: f.version, name: f.name })),
    changed,
    unknown: applied.filter((a) => !known.has(a.version)),
    todo,
  };
}

/** Applied, pending, changed and unknown migrations. Reads only; takes no lock. */
export async function status(db: Db, dir: string = MIGRATIONS_DIR): Promise<MigrationStatus> {
  const files = readMigrations(dir);
  return withClient(db, async (c) => {
    const { todo: _todo, ...s } = compare(files, await readApplied(c));
    return s;
  });
}

/**
 * Applies the pending migrations of `dir`, in order, each in its own transaction, under the
 * advisory lock. Returns what this call applied (nothing when another node got there first).
 */
export async function migrate(db: Db, dir: string = MIGRATIONS_DIR): Promise<{ applied: { version: number; name: string }[] }> {
  const files = readMigrations(dir);
  return withClient(db, async (c) => {
    await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        checksum   TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
      const s = compare(files, await readApplied(c));
      if (s.changed.length > 0) {
        throw new MigrationError(
          `migration files changed after they were applied: ${s.changed.map((m) => `${m.version}_${m.name}`).join(', ')}; ` +
            'add a new migration instead of editing an applied one',
        );
      }
      if (s.unknown.length > 0) {
        log.warn('store: the database has migrations this build does not know (a newer build ran here)', {
          versions: s.unknown.map((m) => m.version),
        });
      }
      const applied: { version: number; name: string }[] = [];
      for (const f of s.todo) {
        const started = Date.now();
        await c.query('BEGIN');
        try {
          await c.query(f.sql);
          await c.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            f.version,
            f.name,
            f.checksum,
          ]);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK');
          throw new MigrationError(`migration ${f.file} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        applied.push({ version: f.version, name: f.name });
        log.info('store: migration applied', { version: f.version, name: f.name, ms: Date.now() - started });
      }
      return { applied };
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}
