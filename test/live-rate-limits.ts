/**
 * Per-user rate limits hold across front threads: a user's sockets on two fronts and their REST
 * calls draw from one budget (src/limits/shared-buckets.ts), not one per front.
 */
import t from 'tap';
import { call } from './helpers/http.js';
import { startLive, type TestClient } from './helpers/live.js';

t.test('one send_message budget for a user across two fronts and REST', async (t) => {
  const live = await startLive(t, 'pglite', { limits: { perMinute: { send_message: 10 } } });
  if (!live) return;
  const alice = await live.user('alice');
  const id = (await call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body: { name: 'budget' } })).body.id as number;
  const fronts = async () =>
    Promise.all([0, 1].map(async (i) => ((await live.node.supervisor.control('front', i, { t: 'stats' })) as { open: number }).open));
  // Open sockets of the same user until both fronts hold one (the kernel spreads them; bounded).
  const sockets: TestClient[] = [];
  for (let i = 0; i < 40; i++) {
    sockets.push(await live.client(alice.token));
    const open = await fronts();
    if (open[0]! > 0 && open[1]! > 0) break;
  }
  const open = await fronts();
  t.ok(open[0]! > 0 && open[1]! > 0, `the user has sockets on both fronts (${open.join(' / ')})`);
  // Eight sends from each of two sockets on different fronts (the first and the last opened).
  const pair = [sockets[0]!, sockets[sockets.length - 1]!];
  const replies = await Promise.all(
    pair.flatMap((c, k) => Array.from({ length: 8 }, (_, i) => c.request('send_message', { room_id: id, content: `s${k}-${i}` }))),
  );
  const acked = replies.filter((r) => r.type === 'ack').length;
  const limited = replies.filter((r) => r.type === 'error' && (r.data as { code: string }).code === 'rate_limited');
  t.equal(acked, 10, 'ten of sixteen sends accepted: the budget of 10 per minute, once');
  t.equal(limited.length, 6, 'the other six are rate_limited');
  t.ok(limited.every((r) => (r.data as { retry_after_ms: number }).retry_after_ms > 0), 'each with a retry time');
  const rest = await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: alice.token, body: { content: 'over REST' } });
  t.equal(rest.status, 429, 'REST draws from the same budget');
  const stored = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages?limit=100`, { token: alice.token });
  t.equal(stored.body.messages.length, 10, 'ten messages stored');
  for (const c of sockets) c.close();
});
