/**
 * A new embedded database is created (initdb) in a thread of its own, so the node does not keep
 * initdb's WebAssembly memory for life (src/store/pglite-initdb.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openPglite } from '../src/store/pglite/pglite.js';
import { initdbApart, initdbPrefix } from '../src/store/pglite/initdb.js';
import { compiledNode } from './helpers/dist.js';

/**
 * A script that opens the embedded store from dist/ in `dataDir`, then runs `rest`, written to
 * `file` for a plain node process: one without the test runner's TypeScript hooks
 * (NODE_OPTIONS), which are not its to load.
 */
async function probe(file: string, dataDir: string, rest = ''): Promise<{ file: string; env: NodeJS.ProcessEnv }> {
  await compiledNode(); // dist/ is built and fresh
  writeFileSync(
    file,
    `const { openPglite } = await import(${JSON.stringify(new URL('../dist/src/store/pglite/pglite.js', import.meta.url).href)});
    const opened = await openPglite({ dataDir: ${JSON.stringify(dataDir)} });
    ${rest}`,
  );
  const { NODE_OPTIONS: _hooks, ...env } = process.env;
  return { file, env: { ...env, VEZA_LOG_LEVEL: 'silent' } };
}

await t.test('a first start keeps the resident size of a later one', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-initdb-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // In a process of its own, so nothing else of this one counts in its resident size.
  const { file, env } = await probe(
    join(dataDir, 'probe.mjs'),
    join(dataDir, 'data'),
    `const { readFileSync } = await import('node:fs');
    const users = (await opened.pool.query('SELECT count(*)::int AS n FROM users')).rows[0].n;
    const rssMb = Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    await opened.close();
    process.stdout.write(JSON.stringify({ rssMb, users }));`,
  );
  const out = execFileSync(process.execPath, [file], { encoding: 'utf8', env });
  const { rssMb, users } = JSON.parse(out.slice(out.lastIndexOf('{'))) as { rssMb: number; users: number };
  t.equal(users, 0, 'a migrated, working database');
  // initdb in the opening thread left ~780 MiB resident; in a thread of its own, ~430.
  t.ok(rssMb < 600, `resident after creating the database: ${rssMb.toFixed(0)} MiB`);
});

await t.test('a failed initdb says what and where', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'veza-initdb-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'file');
  writeFileSync(file, 'not a directory');
  const under = join(file, 'pglite');
  await t.rejects(initdbApart(under), { message: new RegExp(`creating the embedded database in ${under} failed`) });
});

await t.test('a first start killed during initdb leaves no half-made database: the next start creates it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-initdb-kill-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const { file, env } = await probe(join(tmpdir(), `veza-initdb-kill-${process.pid}.mjs`), dataDir);
  t.teardown(() => rmSync(file, { force: true }));
  const child = spawn(process.execPath, [file], { stdio: 'ignore', env });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Killed once initdb has started writing (PG_VERSION is among its first files), seconds before it ends.
  const work = () => readdirSync(dataDir).find((n) => n.startsWith(initdbPrefix(join(dataDir, 'pglite'))));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const w = work();
    if (w !== undefined && existsSync(join(dataDir, w, 'PG_VERSION'))) break;
    if (Date.now() > deadline) throw new Error('initdb never started');
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  await exited;
  t.notOk(existsSync(join(dataDir, 'pglite')), 'the database directory was never there half-made');
  t.ok(work(), 'only its work-in-progress sibling');

  const opened = await openPglite({ dataDir });
  try {
    t.same((await opened.pool.query('SELECT count(*)::int AS n FROM users')).rows, [{ n: 0 }], 'the next start creates and migrates it');
  } finally {
    await opened.close();
  }
  t.equal(work(), undefined, 'and removes the leftover');
});
