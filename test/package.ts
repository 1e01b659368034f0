/**
 * What `npm pack` ships, and that it works once installed: the tarball holds the docs, the
 * licence, the migrations, bin and the built server and bench (no tests, no TypeScript sources),
 * and `veza-chat bench fanout`, run from that tarball installed in an empty directory, measures
 * veza against the uWS baseline. socket.io is a devDependency, so it is not there: the Socket.IO
 * reference says how to add it.
 *
 * The tarball is packed with --ignore-scripts from the dist/ already built (checked as new as the
 * sources), and installed with --prefer-offline from the npm cache `npm ci` filled.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDist } from './helpers/dist.js';
import { tempDirs } from './helpers/tmp.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const tmp = tempDirs(t, 'veza-package');
const socketIo = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['socket.io'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The environment without npm's own variables (`npx tap` sets npm_config_* for this package). */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: { ...cleanEnv(), VEZA_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', reject);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const version = spawnSync(npm, ['--version'], { encoding: 'utf8', env: cleanEnv() });
if (version.error || version.status !== 0) {
  t.test('the package, packed and installed', { skip: `npm is not available (${version.error?.message ?? `exit ${version.status}`}): cannot pack or install the package` }, () => {});
} else {
  checkDist();
  const packDir = tmp();
  const packed = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], root);
  const info = packed.code === 0 ? (JSON.parse(packed.out) as [{ filename: string; files: { path: string }[] }])[0] : null;
  const files = new Set(info?.files.map((f) => f.path) ?? []);

  t.test('npm pack ships the docs, licence, migrations, bin and dist, and no tests', async (t) => {
    t.equal(packed.code, 0, `npm pack succeeds ${packed.err}`);
    for (const f of ['README.md', 'LICENSE', 'package.json', 'docs/ARCHITECTURE.md', 'docs/PROTOCOL.md', 'bin/veza-chat.js', 'dist/src/cli/main.js', 'dist/src/server/start.js', 'ops/prometheus/veza-chat.rules.yml', 'ops/grafana/veza-chat.json', 'web/index.html', 'web/app.css', 'dist/src/web/app.js', 'dist/src/client/index.js', 'dist/src/client/index.d.ts']) {
      t.ok(files.has(f), `ships ${f}`);
    }
    for (const m of readdirSync(join(root, 'migrations'))) t.ok(files.has(`migrations/${m}`), `ships migrations/${m}`);
    // Every bench module, built: `veza-chat bench` runs them from dist/bench (threads, child servers).
    for (const m of readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.ts'))) {
      t.ok(files.has(`dist/bench/${m.replace(/\.ts$/, '.js')}`), `ships dist/bench/${m.replace(/\.ts$/, '.js')}`);
    }
    const unwanted = [...files].filter((f) => /^(test|src|bench)\//.test(f) || /(^|\/)test\//.test(f) || (/\.ts$/.test(f) && !/^dist\/src\/(client|web)\/\w+\.d\.ts$/.test(f)) || f.startsWith('dist/src/bench/'));
    t.same(unwanted, [], 'no tests, no TypeScript sources, no stale modules');
    const outside = [...files].filter((f) => !/^(README\.md|LICENSE|package\.json|bin\/|dist\/(src|bench)\/|docs\/|migrations\/|ops\/|web\/)/.test(f));
    t.same(outside, [], 'nothing else');
  });

  t.test('installed from the tarball in an empty directory, `veza-chat bench` runs', async (t) => {
    if (!info) return t.fail('no tarball to install');
    const dir = tmp();
    const tarball = join(packDir, info.filename);
    // npm 11 runs a dependency's scripts only once approved (allowScripts): approve veza-chat's, so
    // that a `prepare` npm ran here would show (it empties dist/, and tsc is not installed).
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'veza-install-check', private: true, allowScripts: { [`file:${tarball}`]: true } }));
    const installed = await run(npm, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], dir);
    t.equal(installed.code, 0, `npm install <tarball> succeeds ${installed.code === 0 ? '' : installed.err}`);
    t.notMatch(installed.out + installed.err, /^> veza-chat@\S+ prepare$/m, 'npm runs no `prepare` for a tarball (only for git and directory installs)');
    const pkg = join(dir, 'node_modules', 'veza-chat');
    t.ok(existsSync(join(pkg, 'dist/src/cli/main.js')) && existsSync(join(pkg, 'dist/bench/cohort-worker.js')), 'dist/ is the tarball\'s');
    t.notOk(existsSync(join(pkg, 'src')) || existsSync(join(pkg, 'tsconfig.json')), 'no sources to build from');
    // ws comes anyway: uws-js-unofficial depends on it (its JavaScript fallback).
    for (const dev of ['typescript', 'tap', 'socket.io', 'pino-pretty', 'playwright-core']) {
      t.notOk(existsSync(join(dir, 'node_modules', dev)), `${dev} is not installed with it`);
    }

    // The client library, as an application imports it (the package's `exports`).
    writeFileSync(join(dir, 'client-check.mjs'), "import { VezaClient, VezaError } from 'veza-chat/client';\nconst c = new VezaClient({ url: 'http://127.0.0.1:1', fetch: async () => ({ status: 200, text: async () => '' }) });\nconsole.log(typeof VezaClient, typeof VezaError, c.state);\n");
    const imported = await run(process.execPath, ['client-check.mjs'], dir);
    t.equal(imported.out.trim(), 'function function idle', `import { VezaClient } from 'veza-chat/client' works ${imported.err}`);

    const bin = join(dir, 'node_modules', '.bin', 'veza-chat');
    const small = ['--conns', '50', '--senders', '2', '--rate', '50', '--duration', '2', '--warmup', '1'];
    const bench = await run(bin, ['bench', 'fanout', ...small, '--compare-baseline', '--json'], dir, 180_000);
    t.equal(bench.code, 0, `bench fanout --compare-baseline exits 0 ${bench.code === 0 ? '' : bench.err.slice(-2000)}`);
    if (bench.code === 0) {
      const doc = JSON.parse(bench.out) as { results: { target: string; figures: { delivery_ratio: number | null; server: { cpu_us_per_delivery: number | null } } }[] };
      t.same(
        doc.results.map((r) => r.target),
        ['veza', 'uws-baseline'],
        'veza (started from the installed bin) and the uWS baseline (a child from dist/bench)',
      );
      for (const r of doc.results) t.ok((r.figures.delivery_ratio ?? 0) > 0.9, `${r.target} delivered (ratio ${r.figures.delivery_ratio})`);
    }

    const sio = await run(bin, ['bench', 'fanout', '--target', 'socketio', ...small], dir);
    t.equal(sio.code, 1, '--target socketio without socket.io: exit 1');
    t.ok(sio.err.includes(`the Socket.IO reference needs the socket.io package: npm install socket.io@${socketIo}`), `saying how to add it: ${sio.err}`);
    t.notMatch(sio.err, /\n\s+at /, 'no stack');
    const cmp = await run(bin, ['bench', 'fanout', '--compare-socketio', ...small], dir);
    t.equal(cmp.code, 1, '--compare-socketio without socket.io: exit 1, before anything starts');
    t.match(cmp.err, /needs the socket\.io package: npm install socket\.io@/, 'with the same message');
  });
}
