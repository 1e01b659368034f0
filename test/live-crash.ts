/**
 * Kill -9 during a burst of sends, restart, and count: every acknowledged message is stored exactly
 * once, and the conversation's seq has no gap. On embedded PGlite and on PostgreSQL, through the
 * real CLI (`veza-chat start`) in a child process.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { call } from './helpers/http.js';
import { openClient, type TestClient } from './helpers/live.js';
import { freshDatabase } from './helpers/services.js';

const bin = fileURLToPath(new URL('../bin/veza-chat.js', import.meta.url));

interface Server {
  proc: ChildProcess;
  url: string;
}

// The burst is far over the default 60 sends a minute.
const configDir = mkdtempSync(join(tmpdir(), 'veza-crash-config-'));
t.teardown(() => rmSync(configDir, { recursive: true, force: true }));
const configFile = join(configDir, 'veza.json');
writeFileSync(configFile, JSON.stringify({ limits: { perMinute: { send_message: 1_000_000 } } }));

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
  return { proc, url };
}

async function crashSuite(t: Test, args: string[], env: NodeJS.ProcessEnv) {
  let server = await start(args, env);
  t.teardown(() => {
    server.proc.kill('SIGKILL');
  });
  const username = `crash${process.pid}`;
  const password = 'correct horse battery';
  await call(server.url, 'POST', '/api/v1/auth/register', { body: { username, email: `${username}@x.test`, password } });
  const login = await call(server.url, 'POST', '/api/v1/auth/login', { body: { username, password } });
  const token = login.body.access_token as string;
  const roomId = (await call(server.url, 'POST', '/api/v1/rooms', { token, body: { name: 'burst' } })).body.id as number;
  const client: TestClient = await openClient(`${server.url.replace('http', 'ws')}/ws`, token);
  await client.ok('join_room', { room_id: roomId });

  // A burst: keep 64 sends in flight; once 150 are acknowledged, kill -9 with the rest in the air.
  const acked = new Map<string, { id: number; seq: number }>();
  const sent: string[] = [];
  let killed = false;
  const exited = once(server.proc, 'exit');
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const pump = () => {
      while (!killed && inFlight < 64) {
        const cid = randomUUID();
        sent.push(cid);
        inFlight++;
        client.request('send_message', { room_id: roomId, content: `m${sent.length}`, client_id: cid }).then(
          (r) => {
            inFlight--;
            if (r.type === 'ack') acked.set(cid, { id: r.data.id, seq: r.data.seq });
            if (!killed && (acked.size >= 150 || sent.length > 5000)) {
              killed = true;
              server.proc.kill('SIGKILL');
              resolve();
            } else pump();
          },
          () => inFlight--,
        );
      }
    };
    pump();
  });
  await exited;
  await client.waitClose(5000).catch(() => undefined);
  t.ok(acked.size > 0, `${acked.size} of ${sent.length} sends were acknowledged before the kill`);

  server = await start(args, env);
  const relogin = await call(server.url, 'POST', '/api/v1/auth/login', { body: { username, password } });
  const token2 = relogin.body.access_token as string;
  const stored: { id: number; seq: number; client_id: string }[] = [];
  let before: number | null = null;
  for (;;) {
    const page = await call(server.url, 'GET', `/api/v1/rooms/${roomId}/messages?limit=100${before ? `&before=${before}` : ''}`, { token: token2 });
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

import type { Test } from 'tap';

t.test('PGlite: kill -9 mid-burst keeps every acknowledged message exactly once', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-crash-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  await crashSuite(t, ['--data-dir', dataDir], {});
});

t.test('PostgreSQL: kill -9 mid-burst keeps every acknowledged message exactly once', async (t) => {
  const url = await freshDatabase(t);
  if (url === null) return;
  await crashSuite(t, ['--database-url', url], { JWT_SECRET: 'k'.repeat(48) });
});
