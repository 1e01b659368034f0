import t from 'tap';
import { RateLimiter, TokenBucket, perMinute } from '../src/limits/token-bucket.js';

t.test('a bucket allows its burst, then refills at its rate', async (t) => {
  const b = new TokenBucket({ capacity: 3, periodMs: 3000 }, 0);
  t.ok(b.take(0).ok);
  t.ok(b.take(0).ok);
  t.ok(b.take(0).ok);
  const refused = b.take(0);
  t.notOk(refused.ok);
  t.equal(refused.retryAfterMs, 1000, 'one token per second comes back');
  t.notOk(b.take(999).ok);
  t.ok(b.take(1000).ok);
  t.notOk(b.full(1000));
  t.ok(b.full(10_000), 'never above capacity');
  t.ok(b.take(10_000).ok && b.take(10_000).ok && b.take(10_000).ok);
  t.notOk(b.take(10_000).ok);
});

t.test('the limiter keeps one bucket per subject and action, and forgets full ones', async (t) => {
  let now = 0;
  const limiter = new RateLimiter(perMinute({ send_message: 60, join_room: 10 }), () => now);
  for (let i = 0; i < 10; i++) t.ok(limiter.take(1, 'join_room').ok);
  const r = limiter.take(1, 'join_room');
  t.notOk(r.ok);
  t.equal(r.retryAfterMs, 6000);
  t.ok(limiter.take(2, 'join_room').ok, 'another user has its own bucket');
  t.ok(limiter.take(1, 'send_message').ok, 'another action has its own bucket');
  t.equal(limiter.size, 3);
  now = 120_000;
  limiter.take(3, 'send_message');
  t.equal(limiter.size, 1, 'full buckets swept');
});
