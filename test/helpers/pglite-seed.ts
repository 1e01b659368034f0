/**
 * A PGlite data directory ready to open, for tests whose node (in this process, or a child
 * `veza-chat start`) runs on embedded storage. A child would otherwise run initdb and the
 * migrations on its first start (about 5 s of CPU), and a node given pgliteTemplate() unpacks a
 * 40 MB snapshot inside WebAssembly (about 0.8 s of CPU a start), in tests about something else.
 * Made once per PGlite version and migrations (from pgliteTemplate(), so the same key) in the
 * temporary directory, by the real openPglite, and copied: a copy is plain file I/O.
 *
 * Tests about creating a database (test/cli.ts `migrate`, test/store-pglite-initdb.ts) keep fresh
 * directories.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  // Loaded only here: the store's modules cost every test process that finds the seed made.
  const { openPglite } = await import('../../src/store/pglite/pglite.js');
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
