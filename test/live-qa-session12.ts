/**
 * What the QA of session 12 found in the client library (src/client), each against a real node
 * (PGlite, worker threads, the `ws` package), with the TCP relay of ./helpers/client.ts to cut the
 * client's network and a `fetch` of the test's own to hold or fail its `GET /dm` listings (a slow
 * or failing network for REST, as an application may give the client):
 *
 * - a DM created while the client was offline, with a newer DM announced (`dm_created`) while the
 *   listing that should find it was in flight, and that listing dropped, failed, or raced by a
 *   second `create_dm` of the offline DM: the newer id raised the client's DM mark past the
 *   offline DM, which was then never listed (or was followed from its `last_seq`), and its first
 *   messages never reached the application, without a `gap`;
 * - a listing that fails while live events of an offline DM are held: they started it at the
 *   first held event, and what came before it was lost;
 * - logging in as another user on the same client: the first user's followed rooms were resumed
 *   for the second (a public room they never joined replayed to them) and their DM mark kept;
 * - a `resume` refused as a whole (`rate_limited`: the user's `resume` budget): it was never asked
 *   again, so the rooms it named stayed unsubscribed and silent, without a `gap`, until the next drop;
 * - a close for flooding (4429): the client reconnected within 250 ms and sent the requests that
 *   were on the wire again, into an empty budget, and was closed again, many times a second.
 */
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { VezaClient, type ClientEvents, type FetchLike, type Message, type WebSocketConstructor } from '../src/client/index.js';
import { next, relay } from './helpers/client.js';
import { startLive } from './helpers/live.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const FAST = { initialDelayMs: 50, maxDelayMs: 400 };
const PASSWORD = 'correct horse battery';
type Options = Partial<ConstructorParameters<typeof VezaClient>[0]>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let users = 0;
/** A new user's name, registered. */
async function register(url: string, name: string): Promise<string> {
  const username = `${name}${process.pid % 1000}s${++users}`;
  await new VezaClient({ url, WebSocket: WS }).register(username, `${username}@example.test`, PASSWORD);
  return username;
}

/** A client logged in as `username` (a new user when absent) and connected. */
async function connected(t: Test, url: string, name: string, opts: Options = {}, username?: string): Promise<VezaClient> {
  const c = new VezaClient({ url, WebSocket: WS, reconnect: FAST, pingIntervalMs: 0, ...opts });
  await c.login(username ?? (await register(url, name)), PASSWORD);
  await c.connect();
  t.teardown(() => c.close());
  return c;
}

/** The `message` events of conversation `id()` (known later than the client), in delivery order. */
function messagesOf(c: VezaClient, id: () => number | undefined): Message[] {
  const got: Message[] = [];
  c.on('message', (m) => m.conversation_id === id() && got.push(m));
  return got;
}

/** Wait until `cond` holds, checking every 50 ms; false after `ms`. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

/**
 * A fetch whose DM listings (`GET /dm?limit=20`, not the mark's `limit=1`) can be held until
 * released, or answered 503: the REST side of a slow or failing network.
 */
function listingGate() {
  let gate: Promise<void> | null = null;
  let open = () => {};
  let failing = false;
  let listings = 0;
  const fetchFn: FetchLike = async (url, init) => {
    if (init.method === 'GET' && /\/dm\?limit=20/.test(url)) {
      listings++;
      if (gate) await gate;
      if (failing) return { status: 503, text: async () => '{"error":{"code":"rate_limited","message":"busy","retry_after_ms":100}}' };
    }
    return fetch(url, init);
  };
  return {
    fetch: fetchFn,
    listings: () => listings,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      gate = null;
      open();
    },
    fail(on: boolean) {
      failing = on;
    },
  };
}

t.test('client library, session 12', async (t) => {
  // `resume` 120 a minute: the refused-resume test empties it with one frame of another socket.
  const live = await startLive(t, 'pglite', { limits: { perMinute: { resume: 120, join_room: 1000, create_room: 100, send_message: 100_000 } } });
  if (!live) return;
  const url = live.url;
  const net = await relay(t, live.node.port);

  /** Cut `c`'s network until online(); resolves once it knows. */
  const offline = async (c: VezaClient) => {
    if (c.state !== 'open') await next(c, 'state', (s) => s.state === 'open');
    const down = next(c, 'state', (s) => s.state === 'reconnecting');
    net.cut(Infinity);
    await down;
  };
  const online = async (c: VezaClient) => {
    const up = next(c, 'state', (s) => s.state === 'open');
    net.restore();
    await up;
  };

  t.test('a DM created while offline, a newer one announced during the listing that should find it', async (t) => {
    /**
     * `a` goes offline; `b` creates a DM with it and writes three messages. `a` comes back with
     * its listing held; meanwhile `c` creates a DM with `a` (announced: dm_created) and `during`
     * does what the case is about. Then `b` writes a fourth: `a` must have had all four, in order.
     */
    const scenario = async (t: Test, during: (s: { a: VezaClient; b: VezaClient; gate: ReturnType<typeof listingGate> }) => Promise<void>) => {
      const gate = listingGate();
      const a = await connected(t, net.url, 'absent', { fetch: gate.fetch });
      const b = await connected(t, url, 'writer');
      const c = await connected(t, url, 'newer');
      const gaps: ClientEvents['gap'][] = [];
      a.on('gap', (g) => gaps.push(g));
      let dmId: number | undefined;
      const got = messagesOf(a, () => dmId);
      await offline(a);
      const dm = await b.createDm(a.user!.id);
      dmId = dm.conversation_id;
      for (let i = 1; i <= 3; i++) await b.sendDm(dm.conversation_id, `away ${i}`);
      gate.hold();
      const listed = gate.listings();
      await online(a);
      t.ok(await until(() => gate.listings() > listed, 5000), 'the listing is in flight, held');
      const announced = next(a, 'dm_created', (d) => d.user_ids.includes(c.user!.id));
      const newer = await c.createDm(a.user!.id);
      await announced;
      t.ok(newer.conversation_id > dm.conversation_id, 'the announced DM is the newer one');
      await during({ a, b, gate });
      gate.release();
      await sleep(300);
      await b.sendDm(dm.conversation_id, 'back 4');
      await until(() => got.length >= 4, 5000);
      await sleep(200);
      t.same(got.map((m) => m.content), ['away 1', 'away 2', 'away 3', 'back 4'], 'every message of the offline DM, once, in order');
      t.same(gaps, [], 'no gap (all of it could be replayed)');
    };

    t.test('and the connection dropped during that listing', (t) =>
      scenario(t, async ({ a }) => {
        const down = next(a, 'state', (s) => s.state === 'reconnecting');
        net.cut(200);
        await down;
        await next(a, 'state', (s) => s.state === 'open');
      }),
    );

    t.test('and that listing failed; the next connection lists again', (t) =>
      scenario(t, async ({ a, gate }) => {
        gate.fail(true);
        gate.release();
        await sleep(300);
        gate.fail(false);
        const down = next(a, 'state', (s) => s.state === 'reconnecting');
        net.cut(200);
        await down;
        await next(a, 'state', (s) => s.state === 'open');
      }),
    );

    t.test('and the offline DM announced again (a second create_dm) before the listing is done', (t) =>
      scenario(t, async ({ a, b }) => {
        const again = next(a, 'dm_created', (d) => d.user_ids.includes(b.user!.id));
        const ack = await b.createDm(a.user!.id);
        t.match(await again, { conversation_id: ack.conversation_id, last_seq: 3, created: false }, 'announced again, three messages in');
      }),
    );
  });

  t.test('a listing that fails while live events of a DM created offline are held', async (t) => {
    const gate = listingGate();
    const a = await connected(t, net.url, 'absent', { fetch: gate.fetch });
    const b = await connected(t, url, 'writer');
    const gaps: ClientEvents['gap'][] = [];
    a.on('gap', (g) => gaps.push(g));
    let dmId: number | undefined;
    const got = messagesOf(a, () => dmId);
    await offline(a);
    const dm = await b.createDm(a.user!.id);
    dmId = dm.conversation_id;
    for (let i = 1; i <= 3; i++) await b.sendDm(dm.conversation_id, `away ${i}`);
    gate.hold();
    gate.fail(true);
    const listed = gate.listings();
    await online(a);
    t.ok(await until(() => gate.listings() > listed, 5000), 'the listing is in flight, held');
    // Live while the listing is in flight: held, as the DM is not followed yet.
    await b.sendDm(dm.conversation_id, 'live 4');
    await sleep(300);
    t.same(got, [], 'held while the listing is in flight');
    gate.release();
    await until(() => got.length >= 4, 5000);
    await sleep(200);
    t.same(got.map((m) => m.content), ['away 1', 'away 2', 'away 3', 'live 4'], 'the DM from its start, though the listing failed');
    t.same(gaps, []);
    gate.fail(false);
  });

  t.test('logging in as another user on the same client: nothing of the first user carries over', async (t) => {
    const owner = await connected(t, url, 'owner');
    const room = await owner.createRoom({ name: 'public' });
    await owner.join(room.id);
    const c = await connected(t, url, 'first');
    await c.join(room.id);
    const dm = await owner.createDm(c.user!.id);
    await owner.sendDm(dm.conversation_id, 'to the first user');
    await until(() => c.positions()[String(dm.conversation_id)] === 1, 5000);
    t.ok(c.positions()[String(room.id)] !== undefined, "the first user's client follows the room");
    await c.logout();
    await owner.sendMessage(room.id, 'while nobody is there');

    const second = await register(url, 'second');
    const got: Message[] = [];
    const errors: unknown[] = [];
    c.on('message', (m) => got.push(m));
    c.on('error', (e) => errors.push(e));
    await c.login(second, PASSWORD);
    await c.connect();
    await owner.sendMessage(room.id, 'after');
    await sleep(800);
    t.same(got.map((m) => m.content), [], 'the second user is given nothing of a room only the first joined');
    t.same(c.positions(), {}, "the first user's positions are gone");
    t.same(errors, [], "no errors from resuming the first user's conversations");
  });

  t.test('a resume refused as a whole (rate_limited) is asked again: rooms do not go silent', async (t) => {
    const owner = await connected(t, url, 'owner');
    const reader = await connected(t, net.url, 'reader');
    const rooms: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await owner.createRoom({ name: `quiet ${i}` });
      await owner.join(r.id);
      await reader.join(r.id);
      rooms.push(r.id);
    }
    const got: Message[] = [];
    reader.on('message', (m) => rooms.includes(m.conversation_id) && got.push(m));
    const gaps: unknown[] = [];
    reader.on('gap', (g) => gaps.push(g));
    const refusals = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(/chat_rate_limit_exceeded_total\{[^}]*action_type="resume"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await refusals();
    // While the reader is offline, the same user's `resume` budget (120 a minute, 2 a second
    // back) is spent by another socket of theirs: one frame of 120 positions. The reader's resume
    // when it is back (4 rooms) is refused.
    await offline(reader);
    const other = await live.client(reader.tokens!.access_token);
    const positions: Record<string, number> = {};
    for (let i = 0; i < 120; i++) positions[String(900_000_000 + i)] = 0;
    await other.ok('resume', { positions });
    other.close();
    await online(reader);
    await sleep(300);
    const after = await refusals();
    t.ok(after > before, `the reader's resume was refused (rate_limited: ${before} -> ${after})`);
    for (const id of rooms) await owner.sendMessage(id, `after the refusal, in ${id}`);
    await until(() => got.length >= 4, 8000);
    t.same(
      got.map((m) => m.content).sort(),
      rooms.map((id) => `after the refusal, in ${id}`).sort(),
      'each room message reaches the reader (the resume was asked again when the budget allowed)',
    );
    t.same(gaps, []);
  });

  t.test('closed for flooding (4429): the client does not come straight back', async (t) => {
    const owner = await connected(t, url, 'owner');
    const room = await owner.createRoom({ name: 'history' });
    // Default backoff options: the wait after a 4429 must not depend on them.
    const c = await connected(t, url, 'reader', { reconnect: undefined });
    const events: { at: number; state: string; code?: number }[] = [];
    const start = Date.now();
    c.on('state', (s) => events.push({ at: Date.now() - start, state: s.state, ...(s.code !== undefined ? { code: s.code } : {}) }));
    // 400 history requests at once: the budget is 300 a minute, so the server answers
    // rate_limited past it and closes the socket (4429) after 20 more.
    const all = Promise.allSettled(Array.from({ length: 400 }, () => c.fetchHistory(room.id, { limit: 1 })));
    await sleep(3000);
    c.close();
    await all;
    const closes = events.filter((e) => e.code === 4429);
    t.ok(closes.length >= 1, `closed with 4429 (${closes.length} times in 3 s)`);
    t.ok(closes.length <= 3, `at most 3 closes for flooding in 3 s (${closes.length}: ${JSON.stringify(events)})`);
    for (const close of closes) {
      const reopened = events.find((e) => e.at >= close.at && e.state === 'open');
      if (reopened) t.ok(reopened.at - close.at >= 450, `reopened ${reopened.at - close.at} ms after a 4429 (at least ~500 ms)`);
    }
  });
});
