/**
 * Ready means every front listens. A client that waits for either sign of readiness (the
 * "listening" line on stdout, or a first 200 from GET /health on a known port) and then opens many
 * connections at once must see every one of them answered: none reset, none closed unanswered.
 * With several fronts this once failed in most start-ups: the main thread held the port with a
 * listen socket of its own (SO_REUSEPORT, like the fronts') until every front was ready, and a
 * front already answered /health while that socket still took its share of new connections, then
 * reset them when it closed.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { seedPgliteDir } from './helpers/pglite-seed.js';
import { tempDirs } from './helpers/tmp.js';

const bin = fileURLToPath(new URL('../bin/veza-chat.js', import.meta.url));
const dataDirs = tempDirs(t, 'veza-start-ready');

const STARTS = 4;
const REQUESTS = 100;
const UPGRADES = 10;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** GET /health on a fresh connection: 'ok' for a 200, else what happened (an error code, a status). */
function health(port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `status ${res.statusCode}`));
      res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
  });
}

/** A WebSocket upgrade without a token: 'ok' when the server answers it with a status line (401 here), else what happened. */
function upgrade(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let settled = false;
    const done = (r: string) => {
      if (settled) return;
      settled = true;
      s.destroy();
      resolve(r);
    };
    s.setTimeout(5000, () => done('timeout'));
    s.on('connect', () =>
      s.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    s.on('data', (d) => {
      got += String(d);
      if (got.includes('\r\n')) done(/^HTTP\/1\.1 \d{3}/.test(got) ? 'ok' : `said ${JSON.stringify(got.split('\r\n')[0])}`);
    });
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('close', () => done('closed unanswered'));
  });
}

t.test(`--fronts 2, ${STARTS} start-ups: everything sent at the first sign of readiness is answered`, async (t) => {
  // One data directory holding a migrated database: no start-up pays for initdb (seconds of CPU,
  // and readiness is about the fronts, not the store).
  const dir = await seedPgliteDir(dataDirs());
  for (let i = 1; i <= STARTS; i++) {
    const port = await freePort();
    const node = spawn(process.execPath, [bin, 'start', '--fronts', '2', '--port', String(port), '--data-dir', dir], {
      env: { ...process.env, VEZA_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    node.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => node.once('exit', (code) => resolve(code)));
    try {
      // Whichever comes first: the announce, or a /health poll (every ~5 ms) answered 200.
      let ready = false;
      const announced = new Promise<string>((resolve) => {
        let out = '';
        node.stdout.on('data', (d) => {
          out += d;
          if (/listening on http:\/\//.test(out)) resolve('the listening line');
        });
      });
      const polled = (async () => {
        while (!ready) {
          if ((await health(port, 1000)) === 'ok') return 'GET /health';
          await new Promise((r) => setTimeout(r, 5));
        }
        return '';
      })();
      const died = exited.then((code) => {
        throw new Error(`the node exited with ${code} before it was ready: ${err}`);
      });
      const sign = await Promise.race([announced, polled, died]);
      ready = true;
      const results = await Promise.all([
        ...Array.from({ length: REQUESTS }, () => health(port)),
        ...Array.from({ length: UPGRADES }, () => upgrade(port)),
      ]);
      const failed: Record<string, number> = {};
      for (const r of results) if (r !== 'ok') failed[r] = (failed[r] ?? 0) + 1;
      t.same(failed, {}, `start-up ${i}: ${REQUESTS} requests and ${UPGRADES} upgrades sent at ${sign} are all answered`);
      // The announce comes too (and with it the signal handlers: the SIGTERM below is a graceful stop).
      await Promise.race([announced, died]);
    } finally {
      node.kill('SIGTERM');
      const code = await exited;
      t.equal(code, 0, `start-up ${i}: a clean stop`);
    }
  }
});
