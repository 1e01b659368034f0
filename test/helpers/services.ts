/**
 * External services for tests. With VEZA_TEST_DATABASE_URL / VEZA_TEST_REDIS_URL unset (a newcomer's
 * laptop) the tests that need them skip with a clear message; with VEZA_REQUIRE_SERVICES=1 (CI) a
 * missing service fails the run instead.
 */
import type { Test } from 'tap';

const required = process.env.VEZA_REQUIRE_SERVICES === '1';

function need(t: Test, name: string, value: string | undefined): string | null {
  if (value) return value;
  const msg = `${name} is not set: this test needs a real service`;
  if (required) {
    t.fail(`${msg} (VEZA_REQUIRE_SERVICES=1)`);
  } else {
    // A skipped subtest carries the reason into the report, where a newcomer sees it.
    t.skip(`${msg}; set it to run (see README)`, () => {});
  }
  return null;
}

/** The PostgreSQL URL for tests, or null after skipping (or failing) `t`. */
export function postgresUrl(t: Test): string | null {
  return need(t, 'VEZA_TEST_DATABASE_URL', process.env.VEZA_TEST_DATABASE_URL);
}

export function redisUrl(t: Test): string | null {
  return need(t, 'VEZA_TEST_REDIS_URL', process.env.VEZA_TEST_REDIS_URL);
}

/**
 * A database of its own for one test file: created from VEZA_TEST_DATABASE_URL's server and dropped
 * at teardown, so test files running in parallel never see each other's rows.
 */
export async function freshDatabase(t: Test, opts: { dropAtTeardown?: boolean } = {}): Promise<string | null> {
  const made = await makeDatabase(t);
  if (made === null) return null;
  if (opts.dropAtTeardown !== false) t.teardown(made.drop);
  return made.url;
}

/** A fresh database and the function that drops it, for callers that must order their teardown. */
export async function makeDatabase(t: Test): Promise<{ url: string; drop: () => Promise<void> } | null> {
  const base = postgresUrl(t);
  if (base === null) return null;
  const { default: pg } = await import('pg');
  const name = `veza_t_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const drop = async () => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      // A pool's end() resolves before the server has seen its connections go; FORCE would kill
      // them under a pool that may still listen. Give them a moment, and force only at the last.
      for (let i = 0; i < 50; i++) {
        const { rows } = await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if (rows[0].n === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
  const url = new URL(base);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop };
}
