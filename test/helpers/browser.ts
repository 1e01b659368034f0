/**
 * Headless Chromium for the browser tests: Debian's `chromium` (/usr/bin/chromium) driven by
 * playwright-core (no browser download). Without the binary the tests skip with a clear message;
 * with VEZA_REQUIRE_SERVICES=1 (CI, whose .ci/run installs it) they fail instead.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go: git-ignored, kept after the run. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** A launched browser, closed at teardown; null after skipping (or failing) `t`. */
export async function launchChromium(t: Test): Promise<Browser | null> {
  if (!existsSync(CHROMIUM)) {
    const msg = `${CHROMIUM} is missing: this test needs Debian's chromium (apt-get install -y chromium)`;
    if (process.env.VEZA_REQUIRE_SERVICES === '1') t.fail(`${msg} (VEZA_REQUIRE_SERVICES=1)`);
    else t.skip(msg, () => {});
    return null;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Without the background-networking flags Chromium tries to reach Google's hosts, which this
    // machine's closed network refuses (/work/shared/ECOSYSTEM.md).
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  mkdirSync(ARTIFACTS, { recursive: true });
  return browser;
}

export const artifact = (name: string): string => join(ARTIFACTS, name);
