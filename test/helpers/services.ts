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
    t.skip(`${msg}; set it to run (see README)`);
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
