/**
 * A PGlite data directory ready to open, for tests that start `veza-chat start` (a child process)
 * on embedded storage: the child would otherwise run initdb and the migrations on its first start,
 * about 5 s of CPU, in tests about something else (a crash, readiness). Made once per PGlite
 * version and migrations (from pgliteTemplate(), so the same key) in the temporary directory, by
 * the real openPglite, and copied: a copy is a few hundred milliseconds of I/O.
 *
 * Tests about creating a database (test/cli.ts `migrate`, test/store-pglite-initdb.ts) keep fresh
 * directories.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPglite } from '../../src/store/pglite/pglite.js';
import { pgliteTemplate } from './store-suite.js';

let made: Promise<string> | undefined;

async function seed(): Promise<string> {
  const template = await pgliteTemplate();
  const key = createHash('sha256')
    .update(new Uint8Array(await template.arrayBuffer()))
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), `veza-pglite-seed-${key}`);
  if (existsSync(join(dir, 'pglite', 'PG_VERSION'))) return dir;
  // Made aside and renamed: a test file running alongside never copies half a directory.
  const work = `${dir}.${process.pid}.tmp`;
  rmSync(work, { recursive: true, force: true });
  const opened = await openPglite({ dataDir: work, template, fsync: false });
  await opened.close();
  try {
    renameSync(work, dir);
  } catch {
    // Another test file made it first: theirs is as good.
    rmSync(work, { recursive: true, force: true });
  }
  return dir;
}

/** Puts a migrated, empty PGlite database in `dataDir` (made if missing); returns `dataDir`. */
export async function seedPgliteDir(dataDir: string): Promise<string> {
  const from = await (made ??= seed());
  mkdirSync(dataDir, { recursive: true });
  cpSync(join(from, 'pglite'), join(dataDir, 'pglite'), { recursive: true });
  return dataDir;
}
