/**
 * A client that stops reading must not make the server hold its backlog without bound: past
 * `limits.maxBackpressureBytes` it is closed (slowConsumer: 'close') or skipped ('skip'), and counted;
 * the room's other members go on receiving everything.
 */
import t from 'tap';
import { call } from './helpers/http.js';
import { startLive } from './helpers/live.js';

for (const mode of ['close', 'skip'] as const) {
  t.test(`slowConsumer: ${mode}`, async (t) => {
    const live = await startLive(t, 'pglite', {
      server: { fronts: 1 },
      // A firehose from one socket: the per-user and per-socket budgets raised out of the way.
      limits: { maxBackpressureBytes: 64 * 1024, slowConsumer: mode, perMinute: { send_message: 100_000 }, framesPerSecond: 1_000_000 },
    });
    if (!live) return;
    const [alice, slowpoke] = [await live.user('alice'), await live.user('slow')];
    const id = (await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name: 'firehose' } })).body.id as number;
    const fast = await live.client(alice.token);
    const slow = await live.client(slowpoke.token);
    await fast.ok('join_room', { room_id: id });
    await slow.ok('join_room', { room_id: id });
    // Stop reading: the kernel buffers fill, then the server's per-socket backlog grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    // Far more than loopback's socket buffers absorb (several MB), so the server's backlog fills.
    const content = 'x'.repeat(9000);
    const n = 1500;
    for (let i = 0; i < n; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => fast.ok('send_message', { room_id: id, content })));
    }
    await fast.waitFor((f) => f.type === 'message' && f.data.seq === n, 20_000);
    t.equal(fast.of('message').length, n, 'the reading member got every message');
    // The gateway checks for laggards once a second.
    await new Promise((r) => setTimeout(r, 1500));
    const stats = (await live.node.supervisor.control('front', 0, { t: 'stats' })) as { open: number; slowConsumerCloses: number; slowConsumerSkips: number };
    t.comment(JSON.stringify(stats));
    if (mode === 'close') {
      t.equal(stats.open, 1, 'the slow consumer was closed');
      t.equal(stats.slowConsumerCloses, 1, 'and counted');
    } else {
      t.equal(stats.open, 2, 'the slow consumer stays connected');
      // An episode ends when its backlog drains below the limit (the kernel takes some of it into the
      // socket's buffers); under load that happened between two sweeps, and a second one was counted.
      t.ok(stats.slowConsumerSkips >= 1, `its falling behind is counted (${stats.slowConsumerSkips} episodes)`);
    }
    fast.close();
    slow.ws.terminate();
  });
}
