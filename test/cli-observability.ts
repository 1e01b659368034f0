/**
 * Issue 18 through the real CLI: `veza-chat start` in a child process (2 fronts, 2 shards; on
 * PostgreSQL when VEZA_TEST_DATABASE_URL is set, else embedded PGlite) with secrets in its
 * configuration, debug logs and /metrics on an internal address. After WebSocket and REST traffic:
 * /metrics is only on the internal address; `status --json` gives the live figures; `top` runs in
 * a pty (util-linux `script`), shows them, refreshes, and ends on Ctrl-C; and no log line of the
 * whole run (start to stop) holds a secret, a password or a token. Then the logger alone: fields
 * and values redacted, in JSON and in the pretty form.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { call } from './helpers/http.js';
import { openClient, type TestClient } from './helpers/live.js';
import { parseExposition } from './helpers/prom-text.js';
import { freshDatabase } from './helpers/services.js';
import { tempDirs } from './helpers/tmp.js';

const bin = fileURLToPath(new URL('../bin/veza-chat.js', import.meta.url));
const root = fileURLToPath(new URL('../', import.meta.url));
const JWT_SECRET = 'jwt-secret-that-must-never-be-logged-0123456789abcdef';
const ADMIN = 'admin-token-that-must-never-be-logged-42';
const PASSWORD = 'password that must never be logged';

interface Server {
  proc: ChildProcess;
  url: string;
  metricsUrl: string;
  stderr: () => string;
}

const tmp = tempDirs(t, 'veza-obs');

async function start(): Promise<Server> {
  const dir = tmp();
  const database = process.env.VEZA_TEST_DATABASE_URL ? { url: await freshDatabase(t) } : {};
  const configFile = join(dir, 'veza.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: join(dir, 'data'),
      database,
      server: { port: 0, fronts: 2, shards: 2 },
      auth: { jwtSecret: JWT_SECRET, scryptLogN: 10 },
      admin: { token: ADMIN },
      log: { level: 'debug' },
      metrics: { listen: '127.0.0.1:0' },
      runtime: { cpuThreads: 1 },
    }),
  );
  const proc = spawn(process.execPath, [bin, 'start', '--config', configFile], {
    env: { ...process.env, VEZA_LOG_LEVEL: '', VEZA_ADMIN_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const { url, metricsUrl } = await new Promise<{ url: string; metricsUrl: string }>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)[\s\S]*metrics on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, metricsUrl: m[2]! });
    });
    proc.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${err}`)));
  });
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  return { proc, url, metricsUrl, stderr: () => err };
}

/** Run the CLI to completion (no admin token in its environment unless given). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: { ...process.env, VEZA_ADMIN_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) => resolve({ code, out, err }));
  });
}

t.test('a live node: metrics on the internal address, status, top in a pty, and no secret in any log line', async (t) => {
  const server = await start();
  const register = async (name: string) => {
    const username = `${name}${process.pid % 1000}`;
    const reg = await call(server.url, 'POST', '/api/v1/auth/register', { body: { username, email: `${username}@example.test`, password: PASSWORD } });
    t.equal(reg.status, 201, `register ${name}`);
    const login = await call(server.url, 'POST', '/api/v1/auth/login', { body: { username, password: PASSWORD } });
    t.equal(login.status, 200);
    return { id: reg.body.user.id as number, token: login.body.access_token as string, refresh: login.body.refresh_token as string };
  };
  const [alice, bob] = [await register('alice'), await register('bob')];
  const refreshed = await call(server.url, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: bob.refresh } });
  t.equal(refreshed.status, 200, 'a refresh, so the new pair is in flight too');
  t.equal((await call(server.url, 'POST', '/api/v1/auth/login', { body: { username: `alice${process.pid % 1000}`, password: `${PASSWORD}!` } })).status, 401);
  const roomId = (await call(server.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name: 'obs', is_public: true } })).body.id as number;
  t.equal((await call(server.url, 'POST', `/api/v1/rooms/${roomId}/join`, { token: bob.token })).status, 200);

  const wsUrl = `${server.url.replace('http', 'ws')}/ws`;
  const clients: TestClient[] = [];
  for (let i = 0; i < 3; i++) clients.push(await openClient(wsUrl, alice.token));
  clients.push(await openClient(wsUrl, refreshed.body.access_token));
  for (let i = 0; i < 6; i++) await clients[i % 3]!.ok('send_message', { room_id: roomId, content: `message ${i}` });
  t.equal((await call(server.url, 'POST', `/api/v1/rooms/${roomId}/messages`, { token: bob.token, body: { content: 'by rest' } })).status, 201);

  // /metrics: not on the public port, on the internal address.
  t.equal((await call(server.url, 'GET', '/metrics')).status, 404, 'not served on the main port when metrics.listen is set');
  const scraped = await fetch(server.metricsUrl);
  t.equal(scraped.status, 200);
  const m = parseExposition(await scraped.text());
  t.equal(m.sum('chat_messages_received_total', { type: 'room' }), 7, 'six over WebSocket, one over REST');
  t.equal(m.sum('chat_messages_sent_total', { type: 'room' }), 7);
  t.equal(m.sum('chat_message_processing_duration_seconds_count', { operation: 'send_message' }), 6);
  t.equal(m.sum('chat_websocket_connections_active'), 4);
  t.equal(m.sum('chat_auth_requests_total', { method: 'login', status: 'success' }), 2);
  t.equal(m.sum('chat_auth_requests_total', { method: 'login', status: 'failure' }), 1);
  t.equal(m.sum('chat_auth_requests_total', { method: 'refresh', status: 'success' }), 1);

  // status --json, its token refused or missing.
  const status = await cli(['status', '--json', '--url', server.url, '--token', ADMIN]);
  t.equal(status.code, 0, `status exits 0 ${status.err}`);
  const s = JSON.parse(status.out);
  t.equal(s.connections.active, 4, 'status: the open sockets');
  t.equal(s.connections.opened, 4);
  t.same(s.threads.map((x: { thread: string }) => x.thread), ['main', 'front-0', 'front-1', 'shard-0', 'shard-1']);
  t.ok(s.threads.every((x: { up: boolean }) => x.up), 'every thread up');
  t.ok(s.actors.total > 0, 'actors active');
  t.equal(s.restarts.total, 0);
  t.type(s.ring.max_occupancy, 'number');
  t.type(s.messages_per_second.received, 'number');
  const plain = await cli(['status', '--url', server.url], { VEZA_ADMIN_TOKEN: ADMIN });
  t.equal(plain.code, 0, 'the token from VEZA_ADMIN_TOKEN');
  t.match(plain.out, /connections 4 open/);
  t.match(plain.out, /shard-1/);
  const none = await cli(['status', '--url', server.url]);
  t.equal(none.code, 1);
  t.match(none.err, /no admin token/);
  const wrong = await cli(['status', '--url', server.url, '--token', 'not-the-admin-token']);
  t.equal(wrong.code, 1);
  t.match(wrong.err, /answered 401/);

  // top in a pty: live figures, refreshed, ended by Ctrl-C (raw mode reads it as a key).
  const top = spawn('script', ['-qfc', `${process.execPath} ${bin} top --url ${server.url} --token ${ADMIN} --interval 1`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TERM: 'xterm' },
  });
  let screen = '';
  const refreshes = new Promise<void>((resolve) => {
    top.stdout.on('data', (d) => {
      screen += d;
      if ((screen.match(/connections \d+ open/g) ?? []).length >= 2) resolve();
    });
  });
  const topExit = once(top, 'exit');
  await refreshes;
  // A fifth socket between refreshes: top shows it.
  clients.push(await openClient(wsUrl, bob.token));
  const seen = screen.length;
  await new Promise<void>((resolve) => {
    const check = () => (/connections 5 open/.test(screen.slice(seen)) ? resolve() : setTimeout(check, 100));
    check();
  });
  top.stdin.write('\u0003');
  const [code] = (await topExit) as [number | null];
  t.equal(code, 0, 'top ends on Ctrl-C with 0');
  t.match(screen, /\u001b\[2J/, 'it redraws the screen');
  t.match(screen, /THREAD +UP +LOOP%/);
  t.match(screen, /front-1 +yes/);
  t.match(screen.slice(seen), /connections 5 open/, 'the live figure changed');

  // Stop, then read every line the server logged.
  for (const c of clients) c.close();
  server.proc.kill('SIGTERM');
  const [exitCode] = (await once(server.proc, 'exit')) as [number | null];
  t.equal(exitCode, 0, 'stops gracefully');
  const lines = server.stderr().split('\n').filter((l) => l.length > 0);
  t.ok(lines.length >= 5, `${lines.length} log lines`);
  const parsed = lines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return null;
    }
  });
  t.same(lines.filter((_, i) => parsed[i] === null), [], 'every line is JSON');
  t.ok(parsed.every((p) => p && typeof p.level === 'string' && typeof p.time === 'string' && typeof p.thread === 'string' && typeof p.msg === 'string'), 'level, time, thread and msg in every line');
  t.ok(new Set(parsed.map((p) => p?.thread)).size >= 3, 'lines from several threads');
  const secrets = { JWT_SECRET, ADMIN, PASSWORD, aliceToken: alice.token, bobRefresh: bob.refresh, newRefresh: refreshed.body.refresh_token as string };
  for (const [name, value] of Object.entries(secrets)) {
    t.same(lines.filter((l) => l.includes(value)), [], `${name} appears in no log line`);
  }
});

t.test('the logger: fields and configured values redacted, in JSON and pretty', async (t) => {
  const script = `
    const { configureLogging, createLogger } = await import(${JSON.stringify(join(root, 'dist/src/log.js'))});
    for (const pretty of [false, true]) {
      configureLogging({ level: 'debug', pretty, redact: ['extra.hidden'], secrets: [${JSON.stringify(JWT_SECRET)}] });
      const log = createLogger({ role: 'test' }).child({ user_id: 7 });
      log.info('login', { password: 'pw-1', token: 'tok-1', headers: { authorization: 'Bearer tok-2' }, extra: { hidden: 'cfg-1', shown: 'ok' } });
      log.error('failed', { err: new Error('bad secret ' + ${JSON.stringify(JWT_SECRET)}), note: 'has ' + ${JSON.stringify(JWT_SECRET)} });
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const [json, pretty] = [r.stderr.split('\n').filter((l) => l.startsWith('{')), r.stderr.split('\n').filter((l) => !l.startsWith('{'))];
  t.equal(json.length, 2, 'two JSON lines');
  const first = JSON.parse(json[0]!);
  t.same(
    { password: first.password, token: first.token, auth: first.headers.authorization, hidden: first.extra.hidden, shown: first.extra.shown, user: first.user_id, role: first.role, thread: first.thread, level: first.level },
    { password: '[Redacted]', token: '[Redacted]', auth: '[Redacted]', hidden: '[Redacted]', shown: 'ok', user: 7, role: 'test', thread: 'main', level: 'info' },
  );
  const second = JSON.parse(json[1]!);
  t.equal(second.err.message, 'bad secret [Redacted]', 'a secret inside an error message');
  t.equal(second.note, 'has [Redacted]');
  t.equal(second.level, 'error');
  t.match(pretty.join('\n'), /INFO.*\[main\] login/, 'pretty: level, thread and message on one line');
  for (const v of [JWT_SECRET, 'pw-1', 'tok-1', 'tok-2', 'cfg-1']) t.notOk(r.stderr.includes(v), `${v} never printed`);
});
