/**
 * `veza-chat start` as an operator runs it: it prints one line once it accepts connections, and
 * exits non-zero with a clear message when it cannot start.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDirs } from './helpers/tmp.js';

const bin = fileURLToPath(new URL('../bin/veza-chat.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: { ...process.env, VEZA_LOG_LEVEL: 'error', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

const dataDir = tempDirs(t, 'veza-cli-start');

t.test('a port already taken: non-zero exit naming the address', async (t) => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  t.teardown(() => srv.close());
  const r = await run(['start', '--port', String(port), '--data-dir', dataDir()]);
  t.not(r.code, 0);
  t.match(r.err, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
  t.equal(r.out, '', 'no "listening" line');
  t.notMatch(r.err, /unexpected error|\n\s+at /, 'an operator mistake, not a bug: no stack');
  t.equal(r.code, 1);
});

t.test('a data directory that is a file, or held by a running node: the reason, no stack', async (t) => {
  const file = join(dataDir(), 'not-a-dir');
  writeFileSync(file, 'x');
  for (const args of [['start', '--port', '0'], ['migrate', 'up'], ['user', 'create', '--username', 'someone', '--email', 's@x.test', '--password', 'long enough']]) {
    const r = await run([...args, '--data-dir', file]);
    t.equal(r.code, 1, `${args[0]}: exit 1`);
    t.match(r.err, /ENOTDIR|EEXIST/, `${args[0]}: the system's reason`);
    t.notMatch(r.err, /unexpected error|\n\s+at /, `${args[0]}: no stack`);
  }
  // A node holds this one: start refuses with the holder, exit 3 (as the other commands do).
  const held = dataDir();
  const node = spawn(process.execPath, [bin, 'start', '--port', '0', '--data-dir', held], {
    env: { ...process.env, VEZA_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => node.kill('SIGKILL'));
  await new Promise<void>((resolve) => node.stdout.on('data', (d) => /listening on/.test(String(d)) && resolve()));
  const second = await run(['start', '--port', '0', '--data-dir', held]);
  t.equal(second.code, 3);
  t.match(second.err, new RegExp(`in use by process ${node.pid}`));
  t.notMatch(second.err, /unexpected error|\n\s+at /, 'no stack');
  node.kill('SIGTERM');
  await new Promise((r) => node.once('exit', r));
});

t.test('an unreachable database: non-zero exit saying so', async (t) => {
  const r = await run(['start', '--port', '0', '--database-url', 'postgres://postgres@127.0.0.1:1/nope', '--data-dir', dataDir()], {
    JWT_SECRET: 'z'.repeat(40),
  });
  t.not(r.code, 0);
  t.match(r.err, /cannot open the database/);
});

t.test('bad configuration: non-zero exit naming the key', async (t) => {
  const r = await run(['start', '--port', '99999', '--data-dir', dataDir()]);
  t.not(r.code, 0);
  t.match(r.err, /--port.*99999.*0 to 65535/, 'the flag is checked before anything starts');
  const cfg = join(dataDir(), 'bad.json');
  writeFileSync(cfg, JSON.stringify({ ws: { heartbeatMs: 'soon' } }));
  const f = await run(['start', '--config', cfg, '--data-dir', dataDir()]);
  t.not(f.code, 0);
  t.match(f.err, /ws\.heartbeatMs/);
  const short = await run(['start', '--port', '0', '--database-url', 'postgres://postgres@127.0.0.1:5432/test', '--data-dir', dataDir()], { JWT_SECRET: 'short' });
  t.not(short.code, 0);
  t.match(short.err, /at least 32 bytes/);
});
