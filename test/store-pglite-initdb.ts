/**
 * A new embedded database is created (initdb) in a thread of its own, so the node does not keep
 * initdb's WebAssembly memory for life (src/store/pglite-initdb.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { initdbApart } from '../src/store/pglite-initdb.js';
import { compiledNode } from './helpers/dist.js';

await t.test('a first start keeps the resident size of a later one', async (t) => {
  await compiledNode(); // dist/ is built and fresh: the child below runs it
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-initdb-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // In a process of its own, so nothing else of this one counts in its resident size.
  const script = `
    import { readFileSync } from 'node:fs';
    const { openPglite } = await import(${JSON.stringify(new URL('../dist/store/pglite.js', import.meta.url).href)});
    const opened = await openPglite({ dataDir: ${JSON.stringify(join(dataDir, 'data'))} });
    const users = (await opened.pool.query('SELECT count(*)::int AS n FROM users')).rows[0].n;
    const rssMb = Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    await opened.close();
    process.stdout.write(JSON.stringify({ rssMb, users }));`;
  const file = join(dataDir, 'probe.mjs');
  writeFileSync(file, script);
  // Plain node: without the test runner's TypeScript hooks (NODE_OPTIONS), which are not its to load.
  const { NODE_OPTIONS: _hooks, ...env } = process.env;
  const out = execFileSync(process.execPath, [file], { encoding: 'utf8', env: { ...env, VEZA_LOG_LEVEL: 'silent' } });
  const { rssMb, users } = JSON.parse(out.slice(out.lastIndexOf('{'))) as { rssMb: number; users: number };
  t.equal(users, 0, 'a migrated, working database');
  // initdb in the opening thread left ~780 MiB resident; in a thread of its own, ~430.
  t.ok(rssMb < 600, `resident after creating the database: ${rssMb.toFixed(0)} MiB`);
});

await t.test('a failed initdb says what and where', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'veza-initdb-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const notADir = join(dir, 'file');
  writeFileSync(notADir, 'not a directory');
  await t.rejects(initdbApart(notADir), { message: new RegExp(`creating the embedded database in ${notADir} failed`) });
});
