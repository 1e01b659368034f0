/**
 * Kill -9 during a burst of sends, restart, and count: every acknowledged message is stored exactly
 * once, and the conversation's seq has no gap. On embedded PGlite and on PostgreSQL, through the
 * real CLI (`veza-chat start`) in a child process. Then the same with SIGTERM: a graceful stop
 * with sends in flight loses no acknowledged message either, and logs no error.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { call } from './helpers/http.js';
import { openClient, type TestClient } from './helpers/live.js';
import { freshDatabase } from './helpers/services.js';
import { seedPgliteDir } from './helpers/pglite-seed.js';
import { tempDirs } from './helpers/tmp.js';

const bin = fileURLToPath(new URL('../bin/veza-chat.js', import.meta.url));

interface Server {
  proc: ChildProcess;
  url: string;
  /** What the server wrote on stderr so far (its logs, at warn and above). */
  stderr: () => string;
}

// The burst is far over the default 60 sends a minute, and over a socket's 100 frames a second
// (64 in flight, each ack sending the next: past the budget the sends are refused and the socket
// closed 4429 before the 150th ack, and the burst then waits for replies that never come).
const tmp = tempDirs(t, 'veza-crash');
const configFile = join(tmp(), 'veza.json');
writeFileSync(configFile, JSON.stringify({ limits: { perMinute: { send_message: 1_000_000 }, framesPerSecond: 1_000_000 } }));

async function start(args: string[], env: NodeJS.ProcessEnv): Promise<Server> {
  const proc = spawn(process.execPath, [bin, 'start', '--port', '0', '--fronts', '2', '--shards', '2', '--config', configFile, ...args], {
    env: { ...process.env, VEZA_LOG_LEVEL: 'warn', VEZA_SCRYPT_LOG_N: '10', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${err}`)));
  });
  return { proc, url, stderr: () => err };
}

/**
 * Keep 64 sends in flight; once 150 are acknowledged, `stop` the server with the rest in the air.
 * Resolves with every acknowledgement that came back, once the socket has closed.
 */
async function burst(client: TestClient, roomId: number, stop: () => void): Promise<{ acked: Map<string, { id: number; seq: number }>; sent: number }> {
  const acked = new Map<string, { id: number; seq: number }>();
  let sent = 0;
  let stopped = false;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (!stopped && inFlight < 64) {
        const cid = randomUUID();
        sent++;
        inFlight++;
        client.request('send_message', { room_id: roomId, content: `m${sent}`, client_id: cid }).then(
          (r) => {
            inFlight--;
            if (r.type === 'ack') acked.set(cid, { id: r.data.id, seq: r.data.seq });
            if (!stopped && (acked.size >= 150 || sent > 5000)) {
              stopped = true;
              stop();
              resolve();
            } else pump();
          },
          () => inFlight--,
        );
      }
    };
    pump();
  });
  await client.waitClose(15_000).catch(() => undefined);
  return { acked, sent };
}

/** The room's messages, read back through REST on `server`: each acknowledged one exactly once, as acknowledged, seq 1..n. */
async function checkStored(t: Test, server: Server, token: string, roomId: number, acked: Map<string, { id: number; seq: number }>) {
  const stored: { id: number; seq: number; client_id: string }[] = [];
  let before: number | null = null;
  for (;;) {
    const page = await call(server.url, 'GET', `/api/v1/rooms/${roomId}/messages?limit=100${before ? `&before=${before}` : ''}`, { token });
    stored.unshift(...page.body.messages);
    if (!page.body.has_more) break;
    before = page.body.next_cursor;
  }
  const byClient = new Map<string, number>();
  for (const m of stored) byClient.set(m.client_id, (byClient.get(m.client_id) ?? 0) + 1);
  let lost = 0;
  for (const [cid, ack] of acked) {
    const n = byClient.get(cid) ?? 0;
    if (n !== 1) lost++;
    const m = stored.find((x) => x.client_id === cid);
    if (m && (m.id !== ack.id || m.seq !== ack.seq)) lost++;
  }
  t.equal(lost, 0, 'every acknowledged message is stored exactly once, as acknowledged');
  t.ok([...byClient.values()].every((n) => n === 1), 'no message stored twice');
  t.same(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'seq 1..n with no gap');
  return stored;
}

/** A user with a room it has joined on `server`, and its socket. */
async function setUp(server: Server, username: string) {
  const password = 'correct horse battery';
  await call(server.url, 'POST', '/api/v1/auth/register', { body: { username, email: `${username}@x.test`, password } });
  const login = await call(server.url, 'POST', '/api/v1/auth/login', { body: { username, password } });
  const token = login.body.access_token as string;
  const roomId = (await call(server.url, 'POST', '/api/v1/rooms', { token, body: { name: 'burst' } })).body.id as number;
  const client: TestClient = await openClient(`${server.url.replace('http', 'ws')}/ws`, token);
  await client.ok('join_room', { room_id: roomId });
  const relogin = async (s: Server) => (await call(s.url, 'POST', '/api/v1/auth/login', { body: { username, password } })).body.access_token as string;
  return { token, roomId, client, relogin };
}

async function crashSuite(t: Test, args: string[], env: NodeJS.ProcessEnv) {
  let server = await start(args, env);
  t.teardown(() => {
    server.proc.kill('SIGKILL');
  });
  const { roomId, client, relogin } = await setUp(server, `crash${process.pid}`);
  const exited = once(server.proc, 'exit');
  const { acked, sent } = await burst(client, roomId, () => server.proc.kill('SIGKILL'));
  await exited;
  t.ok(acked.size > 0, `${acked.size} of ${sent} sends were acknowledged before the kill`);

  server = await start(args, env);
  const token2 = await relogin(server);
  const stored = await checkStored(t, server, token2, roomId, acked);

  // The restarted node goes on from there.
  const c2 = await openClient(`${server.url.replace('http', 'ws')}/ws`, token2);
  await c2.ok('join_room', { room_id: roomId });
  const after = await c2.ok('send_message', { room_id: roomId, content: 'after restart' });
  t.equal(after.seq, stored.length + 1, 'the sequence continues after the restart');
  // A retry of an acknowledged message after the restart is answered with the stored one.
  const [someCid, someAck] = [...acked.entries()][0]!;
  const retry = await c2.ok('send_message', { room_id: roomId, content: 'retry', client_id: someCid });
  t.equal(retry.id, someAck.id, 'a retry after the restart finds the stored message');
  const goingAway = c2.waitClose(15_000);
  server.proc.kill('SIGTERM');
  t.equal((await goingAway).code, 1001, 'clients are closed with 1001 (going away)');
  const [code] = await once(server.proc, 'exit');
  t.equal(code, 0, 'SIGTERM stops gracefully');
}

/** SIGTERM with sends in flight: clients closed with 1001, exit 0, no error logged, no acknowledged message lost. */
async function stopSuite(t: Test, args: string[], env: NodeJS.ProcessEnv) {
  let server = await start(args, env);
  t.teardown(() => {
    server.proc.kill('SIGKILL');
  });
  const { roomId, client, relogin } = await setUp(server, `stop${process.pid}`);
  const exited = once(server.proc, 'exit');
  const { acked, sent } = await burst(client, roomId, () => server.proc.kill('SIGTERM'));
  t.equal(client.closed?.code, 1001, 'the client is closed with 1001 (going away)');
  const [code] = await exited;
  t.equal(code, 0, 'exit 0');
  t.ok(acked.size >= 150, `${acked.size} of ${sent} sends were acknowledged`);
  const errors = server.stderr().split('\n').filter((l) => l.includes('"level":"error"'));
  t.same(errors, [], 'nothing logged as an error: operations the stop cut short are expected');

  server = await start(args, env);
  await checkStored(t, server, await relogin(server), roomId, acked);
}

// Each suite on embedded PGlite (a fresh data directory) and on PostgreSQL (a fresh database).
for (const [what, suite] of [
  ['kill -9 mid-burst keeps every acknowledged message exactly once', crashSuite],
  ['SIGTERM mid-burst stops cleanly and keeps every acknowledged message exactly once', stopSuite],
] as const) {
  // A migrated database copied in: the first start's initdb (seconds of CPU) is not what this tests.
  t.test(`PGlite: ${what}`, async (t) => suite(t, ['--data-dir', await seedPgliteDir(tmp())], {}));
  t.test(`PostgreSQL: ${what}`, async (t) => {
    const url = await freshDatabase(t);
    if (url === null) return;
    await suite(t, ['--database-url', url], { JWT_SECRET: 'k'.repeat(48) });
  });
}
