/**
 * The client library (src/client) against a real node: real worker threads, real sockets over
 * loopback, the `ws` package as its WebSocket. The network in between is a TCP relay of this file
 * that can cut every connection at once, as a network drop does (the client sees 1006).
 *
 * - every event once and in order across drops while another client keeps sending, on each
 *   backend and on both sub-protocols, and a send cut by a drop stored once (client_id);
 * - a DM created while the client is offline, and one announced (`dm_created`) before a drop,
 *   with messages sent while it is offline: every one reaches the application once, in order,
 *   and no `gap`; `create_dm`'s ack, `dm_created` and `POST /dm` carry `last_seq` and `created`;
 * - a server restart (stop, start again on the same port and data directory);
 * - an access token that expires: renewed on the open socket before expiry, or, when the client
 *   does not renew, the server closes with 4401 and the client refreshes, reconnects and resumes;
 * - the web client's static files: content types, the Content-Security-Policy, no traversal.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { VezaClient, type ClientEvents, type Message, type WebSocketConstructor } from '../src/client/index.js';
import { loadConfig } from '../src/config/index.js';
import { next, relay } from './helpers/client.js';
import { compiledNode } from './helpers/dist.js';
import { startLive } from './helpers/live.js';
import { seedPgliteDir } from './helpers/pglite-seed.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const FAST = { initialDelayMs: 50, maxDelayMs: 400 };

function client(url: string, opts: Partial<ConstructorParameters<typeof VezaClient>[0]> = {}): VezaClient {
  return new VezaClient({ url, WebSocket: WS, reconnect: FAST, pingIntervalMs: 0, ...opts });
}

/** Every `message` event of `c`, in delivery order, and a way to wait for a count. */
function collect(c: VezaClient, roomId: number) {
  const got: Message[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  c.on('message', (m) => {
    if (m.conversation_id !== roomId) return;
    got.push(m);
    for (const w of waiters.filter((w) => got.length >= w.n)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  return {
    got,
    until(n: number, timeoutMs = 20_000): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${got.length} of ${n} messages within ${timeoutMs} ms; last seq ${got.at(-1)?.seq}`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

let users = 0;
/** A new user, registered and logged in through `url`, connected. */
async function loggedIn(t: Test, url: string, name: string, opts: Partial<ConstructorParameters<typeof VezaClient>[0]> = {}): Promise<VezaClient> {
  const username = `${name}${process.pid % 1000}x${++users}`;
  const c = client(url, opts);
  await c.register(username, `${username}@example.test`, 'correct horse battery');
  await c.login(username, 'correct horse battery');
  const auth = await c.connect();
  if (auth.user.username !== username || !auth.session_id || !(auth.heartbeat_ms > 0)) throw new Error(`connect() resolved with ${JSON.stringify(auth)}`);
  t.teardown(() => c.close());
  return c;
}

function inOrder(t: Test, got: Message[], n: number, what: string): void {
  t.same(got.map((m) => m.seq), Array.from({ length: n }, (_, i) => i + 1), `${what}: seq 1..${n}, each once, in order`);
  t.equal(new Set(got.map((m) => m.id)).size, got.length, `${what}: no message twice`);
}

async function drops(t: Test, node: { url: string; port: number }, protocols: readonly ('json' | 'msgpack')[]): Promise<void> {
  const net = await relay(t, node.port);
  for (const protocol of protocols) {
    const sender = await loggedIn(t, node.url, 'sender', { protocol: protocol === 'json' ? 'msgpack' : 'json' });
    const room = await sender.createRoom({ name: `drops-${protocol}` });
    await sender.join(room.id);
    const reader = await loggedIn(t, net.url, 'reader', { protocol });
    await reader.join(room.id);
    const seen = collect(reader, room.id);
    // A DM too: its live events reach a socket from authentication on, so after a reconnection
    // some arrive before the resume's replay, and the client must hold them until it catches up.
    const dm = await sender.createDm(reader.user!.id);
    const dmSeen = collect(reader, dm.conversation_id);
    const reconnects: number[] = [];
    reader.on('state', (s) => s.state === 'open' && reconnects.push(s.attempt));
    const replayed: number[] = [];
    reader.on('resumed', (r) => r.conversation_id === room.id && replayed.push(r.to_seq - r.from_seq + 1));

    const N = 120;
    const sending = (async () => {
      for (let i = 1; i <= N; i++) {
        await sender.sendMessage(room.id, `m${i}`);
        if (i % 2 === 0) await sender.sendDm(dm.conversation_id, `d${i / 2}`);
      }
    })();
    // Cut the reader's network three times while the messages flow; the last cut with a send
    // of its own in flight, which must be stored once however often it is sent.
    let own: Promise<unknown> = Promise.resolve();
    for (const at of [20, 55, 90]) {
      await seen.until(at);
      if (at === 90) own = reader.sendMessage(room.id, 'mine, once', { clientId: '0f8fad5b-d9cb-469f-a165-70867728950e' });
      t.ok(net.cut(300) >= 1, `cut the reader's connection after ${at} messages, for 300 ms`);
    }
    await sending;
    const ack = (await own) as { seq: number };
    await seen.until(N + 1);
    inOrder(t, seen.got, N + 1, protocol);
    t.same(
      seen.got.filter((m) => m.author !== reader.user!.username).map((m) => m.content),
      Array.from({ length: N }, (_, i) => `m${i + 1}`),
      `${protocol}: the sender's messages in the order sent`,
    );
    await dmSeen.until(N / 2);
    inOrder(t, dmSeen.got, N / 2, `${protocol} DM`);
    t.same(dmSeen.got.map((m) => m.content), Array.from({ length: N / 2 }, (_, i) => `d${i + 1}`), `${protocol}: the DM's messages in the order sent`);
    t.equal(seen.got.filter((m) => m.content === 'mine, once').length, 1, `${protocol}: the send cut by a drop is stored and seen once`);
    t.equal(seen.got.find((m) => m.content === 'mine, once')?.seq, ack.seq, `${protocol}: its ack names the stored message`);
    t.ok(reconnects.length >= 3, `${protocol}: reconnected after each cut (${reconnects.length})`);
    t.ok(replayed.some((n) => n > 0), `${protocol}: a resume replayed missed events (${replayed.join(', ')})`);
    const history = await sender.fetchHistory(room.id, { after: 0, limit: 100 });
    const rest = await sender.fetchHistory(room.id, { after: history.next_cursor ?? 0, limit: 100 });
    t.equal(history.messages.length + rest.messages.length, N + 1, `${protocol}: the room holds exactly ${N + 1} messages`);
    t.equal(reader.positions()[String(room.id)], N + 1, `${protocol}: the position the next resume sends`);
    reader.close();
    sender.close();
  }
}

/**
 * One embedded node for the PGlite tests, on a port of its own so that it can be started again
 * there (the restart test, last). Access tokens live 3 s: every client renews several times.
 */
t.test('pglite', async (t) => {
  const { startNode } = await compiledNode();
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-client-'));
  const config = loadConfig({
    env: {},
    flags: {
      dataDir,
      server: { port, fronts: 2, shards: 2 },
      auth: { scryptLogN: 10, accessTtlS: 3 },
      runtime: { cpuThreads: 1 },
      log: { level: 'error' },
      limits: { perMinute: { send_message: 100_000, join_room: 1000 } },
    },
  });
  await seedPgliteDir(dataDir);
  let node = await startNode(config, { signals: false, announce: false });
  t.teardown(async () => {
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const url = node.url;

  t.test('every event once and in order across drops while another client keeps sending', (t) => drops(t, { url, port }, ['json', 'msgpack']));

  t.test('access tokens that expire (auth.accessTtlS 3)', async (t) => {
    const sender = await loggedIn(t, url, 'talker');
    const room = await sender.createRoom({ name: 'expiry' });
    await sender.join(room.id);

    // Renewed: the client refreshes before expiry and renews the socket's authentication in place.
    const renewing = await loggedIn(t, url, 'renewer');
    await renewing.join(room.id);
    const session = renewing.sessionId;
    const states: string[] = [];
    renewing.on('state', (s) => states.push(s.state));
    const renewingSeen = collect(renewing, room.id);
    const tokensBefore = renewing.tokens!.access_token;

    // Not renewed: the server closes at expiry (4401 token expired); the client refreshes,
    // reconnects and resumes, while the sender goes on.
    const lapsing = await loggedIn(t, url, 'lapser', { autoRefresh: false });
    await lapsing.join(room.id);
    const lapsingSeen = collect(lapsing, room.id);
    let closed: ClientEvents['state'] | null = null;
    const expired = next(lapsing, 'state', (s) => s.state === 'reconnecting', 8000).then((s) => (closed = s));
    let sent = 0;
    while (closed === null) {
      await sender.sendMessage(room.id, `tick ${++sent}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await expired;
    const c = closed as ClientEvents['state'];
    t.equal(c.code, 4401, 'the server closed the lapsing socket with 4401');
    t.equal(c.reason, 'token expired');
    for (let i = 0; i < 5; i++) await sender.sendMessage(room.id, `tick ${++sent}`);
    await next(lapsing, 'state', (s) => s.state === 'open');
    for (let i = 0; i < 5; i++) await sender.sendMessage(room.id, `tick ${++sent}`);
    await lapsingSeen.until(sent);
    await renewingSeen.until(sent);
    inOrder(t, lapsingSeen.got, sent, 'the client whose token lapsed');
    inOrder(t, renewingSeen.got, sent, 'the client that renewed');
    t.not(renewing.tokens!.access_token, tokensBefore, 'the renewing client holds a new access token');
    t.same(states, [], 'the renewing client never lost its connection');
    t.equal(renewing.sessionId, session, 'and kept its session');
  });

  t.test('DMs created or announced while the client is offline: every message once, in order, no gap', async (t) => {
    const net = await relay(t, port);
    /** Cut `c`'s link and refuse it until online(): `c` is reconnecting, and hears nothing. */
    const offline = async (t: Test, c: VezaClient) => {
      const down = next(c, 'state', (s) => s.state === 'reconnecting');
      t.ok(net.cut(Infinity) >= 1, "cut the absent user's connection");
      await down;
    };
    const online = async (c: VezaClient) => {
      const up = next(c, 'state', (s) => s.state === 'open');
      net.restore();
      await up;
    };
    /** Messages 1..3 sent while `a` was away, 4 once it is back: `a` must see 1..4, once each, no gap. */
    const check = async (t: Test, a: VezaClient, seen: ReturnType<typeof collect>, gaps: ClientEvents['gap'][], what: string) => {
      await seen.until(4, 10_000).catch((e: Error) => t.fail(e.message));
      inOrder(t, seen.got, 4, what);
      t.same(seen.got.map((m) => m.content), ['away 1', 'away 2', 'away 3', 'back 4'], `${what}: what was sent, in order`);
      t.same(gaps, [], `${what}: no gap reported (all of it could be replayed)`);
      t.equal(a.positions()[String(seen.got[0]?.conversation_id)], 4, `${what}: followed, at its last seq`);
    };

    t.test('created while offline: found after the reconnection and replayed from its start', async (t) => {
      const a = await loggedIn(t, net.url, 'absent');
      const b = await loggedIn(t, url, 'initiator');
      const gaps: ClientEvents['gap'][] = [];
      a.on('gap', (g) => gaps.push(g));
      await offline(t, a);
      const dm = await b.createDm(a.user!.id);
      t.same(dm, { conversation_id: dm.conversation_id, user_ids: [a.user!.id, b.user!.id].sort((x, y) => x - y), last_seq: 0, created: true }, 'the ack: a new DM, nothing in it');
      const seen = collect(a, dm.conversation_id);
      for (let i = 1; i <= 3; i++) await b.sendDm(dm.conversation_id, `away ${i}`);
      await online(a);
      await b.sendDm(dm.conversation_id, 'back 4');
      await check(t, a, seen, gaps, 'a DM created while offline');
    });

    t.test('announced by dm_created, then written to while offline: resumed from the announcement', async (t) => {
      const a = await loggedIn(t, net.url, 'absent');
      const b = await loggedIn(t, url, 'initiator');
      const gaps: ClientEvents['gap'][] = [];
      a.on('gap', (g) => gaps.push(g));
      const announced = next(a, 'dm_created', (d) => d.user_ids.includes(b.user!.id));
      const dm = await b.createDm(a.user!.id);
      t.same(await announced, { conversation_id: dm.conversation_id, user_ids: dm.user_ids, last_seq: 0, created: true }, 'dm_created: a new DM, nothing in it');
      const seen = collect(a, dm.conversation_id);
      await offline(t, a);
      for (let i = 1; i <= 3; i++) await b.sendDm(dm.conversation_id, `away ${i}`);
      await online(a);
      await b.sendDm(dm.conversation_id, 'back 4');
      await check(t, a, seen, gaps, 'a DM announced, then written to while offline');

      // The pair again: the DM exists, and each answer says where it stands.
      const again = next(a, 'dm_created', (d) => d.conversation_id === dm.conversation_id);
      const existing = { conversation_id: dm.conversation_id, user_ids: dm.user_ids, last_seq: 4, created: false };
      t.same(await b.createDm(a.user!.id), existing, 'create_dm again: the ack');
      t.same(await again, existing, 'dm_created again');
      t.same(await a.rest('POST', '/dm', { user_id: b.user!.id }), existing, 'POST /dm from the other side');
      t.equal(seen.got.length, 4, 'and no message delivered twice by any of it');
    });
  });

  t.test("the web client's files at /: types, Content-Security-Policy, nothing else", async (t) => {
    const get = (path: string, method = 'GET') =>
      // node:http, not fetch: fetch would normalise `..` away before sending.
      new Promise<{ status: number; type: string | undefined; csp: string | undefined; text: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, method }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], csp: res.headers['content-security-policy'] as string | undefined, text }));
        });
        req.on('error', reject).end();
      });
    const page = await get('/');
    t.equal(page.status, 200);
    t.equal(page.type, 'text/html; charset=utf-8');
    t.match(page.csp, /default-src 'none'/);
    t.match(page.csp, /script-src 'self'/);
    t.notMatch(page.csp, /unsafe-inline|unsafe-eval/, 'no inline scripts or eval');
    t.match(page.text, /<script type="module" src="\/web\/app.js">/);
    t.equal((await get('/app.css')).type, 'text/css; charset=utf-8');
    const app = await get('/web/app.js');
    t.equal(app.type, 'text/javascript; charset=utf-8');
    t.match(app.text, /from '\.\.\/client\/index\.js'/, 'the page imports the client library');
    t.equal((await get('/client/index.js')).type, 'text/javascript; charset=utf-8');
    t.equal((await get('/client/client.js')).status, 200);
    for (const path of ['/web/../../package.json', '/web/..%2F..%2Fpackage.json', '/client/..%2Fserver%2Ffront.js', '/client/../../src/server/front.ts', '/web/%2e%2e', '/web/app.ts', '/client/index.d.ts', '/package.json', '/web/', '/client/nope.js', '/web/app.js.map']) {
      t.equal((await get(path)).status, 404, `${path}: 404`);
    }
    t.equal((await get('/', 'POST')).status, 405, 'POST / is 405');
  });

  t.test('a server restart: the client reconnects and resumes; nothing lost or doubled', async (t) => {
    const sender = await loggedIn(t, url, 'writer');
    const reader = await loggedIn(t, url, 'watcher', { protocol: 'msgpack' });
    const room = await sender.createRoom({ name: 'restart' });
    await sender.join(room.id);
    await reader.join(room.id);
    const seen = collect(reader, room.id);
    for (let i = 1; i <= 10; i++) await sender.sendMessage(room.id, `before ${i}`);
    await seen.until(10);

    const down = next(reader, 'state', (s) => s.state === 'reconnecting');
    await node.stop();
    const lost = await down;
    t.ok(lost.code === 1001 || lost.code === 1006, `the stop closed the reader (${lost.code} ${lost.reason ?? ''})`);
    // While the server is down, a send waits for the connection (and keeps its client_id).
    const queued = sender.sendMessage(room.id, 'sent while down');
    node = await startNode(config, { signals: false, announce: false });
    await queued;
    for (let i = 1; i <= 10; i++) await sender.sendMessage(room.id, `after ${i}`);
    await seen.until(21);
    inOrder(t, seen.got, 21, 'across the restart');
    t.same(seen.got.slice(10).map((m) => m.content), ['sent while down', ...Array.from({ length: 10 }, (_, i) => `after ${i + 1}`)], 'what was sent after the stop, in order');
    t.equal(reader.state, 'open');
  });
});

t.test('postgres: every event once and in order across drops while another client keeps sending', async (t) => {
  const live = await startLive(t, 'postgres', { limits: { perMinute: { send_message: 100_000, join_room: 1000 } } });
  if (!live) return;
  // One sub-protocol here: the sequencer and resume do not depend on the backend; the store does.
  await drops(t, { url: live.url, port: live.node.port }, ['msgpack']);
});
