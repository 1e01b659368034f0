/**
 * The rules of a room's presence and typing state (src/actors/room-presence.ts), with a made-up
 * clock: coalescing, the per-window bound, flaps, throttle and expiry.
 */
import t from 'tap';
import { RoomPresence, RoomTyping } from '../src/actors/room-presence.js';

t.test('presence: the last status wins, a flap is nothing, offline only counts down', async (t) => {
  const p = new RoomPresence();
  t.equal(p.update(1, 'online', 'a'), true);
  p.update(1, 'away', 'b');
  p.update(2, 'online', 'c');
  t.equal(p.online, 2);
  t.same(p.take(10), [
    { user_id: 1, status: 'away', last_activity: 'b' },
    { user_id: 2, status: 'online', last_activity: 'c' },
  ]);
  t.equal(p.pending, 0);
  t.equal(p.update(2, 'offline', 'd'), true);
  t.equal(p.update(2, 'online', 'e'), false, 'back to the published status: nothing waits');
  t.same(p.take(10), []);
  t.same(p.of(2), { status: 'online', last_activity: 'e' });
  t.same(p.of(3), { status: 'offline', last_activity: null }, 'never seen');
  p.update(3, 'offline', 'f');
  t.equal(p.pending, 0, 'offline when never published online: nothing');
  p.forget(1);
  t.equal(p.online, 1);
  t.same(p.of(1), { status: 'offline', last_activity: null });
});

t.test('presence: churn of any size is at most `max` events per window, oldest change first', async (t) => {
  const p = new RoomPresence();
  for (let round = 0; round < 10; round++) {
    for (let u = 1; u <= 1000; u++) p.update(u, round % 2 === 0 ? 'online' : 'offline', String(round));
  }
  // Ten rounds of 1,000 users flapping: an even number of flips, so nothing waits.
  t.equal(p.pending, 0);
  for (let u = 1; u <= 1000; u++) p.update(u, 'online', 'x');
  const windows: number[] = [];
  while (p.pending > 0) windows.push(p.take(50).length);
  t.equal(windows.length, 20, '1,000 changes take 20 windows of 50');
  t.ok(windows.every((n) => n <= 50));
  p.update(7, 'away', 'y');
  t.same(p.take(50).map((e) => e.user_id), [7]);
});

t.test('typing: start broadcast, repeats absorbed within the throttle, stop only when typing, expiry', async (t) => {
  const ty = new RoomTyping(5000, 3000);
  t.equal(ty.start(1, 'alice', 0), true, 'first start');
  t.equal(ty.start(1, 'alice', 1000), false, 'within the throttle: absorbed');
  t.equal(ty.next(), 6000, 'but it pushes the expiry back');
  t.equal(ty.start(1, 'alice', 3000), true, 'after the throttle window: broadcast again');
  t.equal(ty.stop(1), true);
  t.equal(ty.stop(1), false, 'a stop when not typing is nothing');
  t.equal(ty.next(), null);
  ty.start(2, 'bob', 10_000);
  ty.start(3, 'carol', 11_000);
  t.same(ty.expire(14_999), []);
  t.same(ty.expire(15_000), [{ userId: 2, username: 'bob' }]);
  t.equal(ty.next(), 16_000);
  t.equal(ty.size, 1);
});
