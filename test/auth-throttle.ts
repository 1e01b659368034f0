/**
 * The login defence's parts alone: the throttle's delays (exponential, never a lock, per source and
 * per account, per-source attempts) on an injected clock, the shared table across two instances
 * (two fronts) over one buffer, and the hashing gate's priorities and bounds.
 */
import t from 'tap';
import { HashGate, HashPriority } from '../src/auth/hash-gate.js';
import { checkNewPassword } from '../src/auth/password-policy.js';
import { SharedTable } from '../src/auth/shared-table.js';
import { LoginThrottle, sourceKey } from '../src/auth/throttle.js';

const settings = {
  loginAttempts: 3,
  loginWindowS: 900,
  loginDelayMs: 1000,
  loginMaxDelayS: 8,
  accountLoginAttempts: 6,
  accountMaxDelayS: 4,
  sourceAttemptsPerMinute: 5,
};

const retryOf = (fn: () => void): number | null => {
  try {
    fn();
    return null;
  } catch (e) {
    return (e as { code: string; retryAfterMs: number }).code === 'rate_limited' ? (e as { retryAfterMs: number }).retryAfterMs : -1;
  }
};

t.test('failures: free ones, then a doubling delay capped, per source; success clears', async (t) => {
  let now = 1_000_000;
  const th = new LoginThrottle(settings, () => now);
  for (let i = 0; i < 3; i++) {
    t.equal(retryOf(() => th.check(1, 'a')), null, `try ${i + 1} free`);
    th.failed(1, 'a');
  }
  t.equal(retryOf(() => th.check(1, 'a')), 1000, 'after 3 failures: 1 s');
  t.equal(retryOf(() => th.check(1, 'b')), null, 'another source is not slowed');
  now += 1000;
  t.equal(retryOf(() => th.check(1, 'a')), null, 'the delay over: the next try is allowed');
  th.failed(1, 'a');
  t.equal(retryOf(() => th.check(1, 'a')), 2000, 'then 2 s');
  for (let i = 0; i < 5; i++) th.failed(1, 'a');
  t.equal(retryOf(() => th.check(1, 'a')), 8000, 'capped at loginMaxDelayS');
  // Account-wide: 6 failures from all sources (9 so far) give every source a delay, capped at 4 s.
  t.equal(retryOf(() => th.check(1, 'fresh')), 4000, 'every source waits once the account is past its attempts');
  now += 8000;
  t.equal(retryOf(() => th.check(1, 'a')), null, 'never a lock: after the delay the right password is checked');
  th.succeeded(1, 'a');
  t.equal(retryOf(() => th.check(1, 'fresh')), null, 'success clears the account');
  // The window forgets.
  for (let i = 0; i < 4; i++) th.failed(2, 'a');
  now += 901_000;
  t.equal(retryOf(() => th.check(2, 'a')), null, 'failures older than the window are forgotten');
});

t.test('attempts per source: a bucket of sourceAttemptsPerMinute, refilled continuously', async (t) => {
  let now = 5_000_000;
  const th = new LoginThrottle(settings, () => now);
  for (let i = 0; i < 5; i++) t.equal(retryOf(() => th.takeAttempt('x')), null);
  t.equal(retryOf(() => th.takeAttempt('x')), 12_000, 'the sixth waits for one token (60 s / 5)');
  t.equal(retryOf(() => th.takeAttempt('y')), null, 'sources apart');
  now += 12_000;
  t.equal(retryOf(() => th.takeAttempt('x')), null);
});

t.test('two throttles over one buffer (two fronts) count together', async (t) => {
  const buffer = SharedTable.allocate();
  const now = () => 9_000_000;
  const front0 = new LoginThrottle(settings, now, buffer);
  const front1 = new LoginThrottle(settings, now, buffer);
  front0.failed(7, 's');
  front1.failed(7, 's');
  front0.failed(7, 's');
  t.equal(retryOf(() => front1.check(7, 's')), 1000, 'failures on both fronts add up');
  for (let i = 0; i < 5; i++) (i % 2 ? front0 : front1).takeAttempt('z');
  t.not(retryOf(() => front0.takeAttempt('z')), null, 'one budget per source');
});

t.test('hash gate: a known account goes before waiting decoys; bounds refuse with 429', async (t) => {
  const gate = new HashGate({ concurrency: 1, maxQueued: 2, perSource: 2 });
  const order: string[] = [];
  const releases: (() => void)[] = [];
  const job = (name: string) => () =>
    new Promise<string>((resolve) => {
      order.push(name);
      releases.push(() => resolve(name));
    });
  const settle = (p: Promise<unknown>) => p.then((v) => v, (e: { code?: string }) => e.code);
  const running = settle(gate.run(HashPriority.Decoy, 's1', job('d1')));
  const d2 = settle(gate.run(HashPriority.Decoy, 's2', job('d2')));
  const d3 = settle(gate.run(HashPriority.Decoy, 's3', job('d3')));
  t.equal(await settle(gate.run(HashPriority.Decoy, 's4', job('d4'))), 'rate_limited', 'queue full: a decoy is refused');
  const real = settle(gate.run(HashPriority.Account, 'me', job('real')));
  t.equal(await d3, 'rate_limited', 'the newest decoy gave its place to the account');
  t.same(gate.stats, { running: 1, queued: 2 });
  releases.shift()!();
  t.equal(await running, 'd1');
  await new Promise((r) => setImmediate(r));
  t.same(order, ['d1', 'real'], 'the account is checked next, before the older decoy');
  releases.shift()!();
  t.equal(await real, 'real');
  await new Promise((r) => setImmediate(r));
  releases.shift()!();
  t.equal(await d2, 'd2');
  t.same(gate.stats, { running: 0, queued: 0 }, 'all slots given back');

  const perSource = new HashGate({ concurrency: 1, maxQueued: 100, perSource: 2 });
  const hold: (() => void)[] = [];
  const slow = () => new Promise<void>((r) => hold.push(r));
  const a = [perSource.run(HashPriority.Register, 'one', slow), perSource.run(HashPriority.Register, 'one', slow)];
  t.equal(await settle(perSource.run(HashPriority.Decoy, 'one', slow)), 'rate_limited', 'a third from one source is refused');
  const other = perSource.run(HashPriority.Decoy, 'two', slow);
  while (hold.length) {
    hold.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all([...a, other]);
  t.pass('the others ran');
});

t.test('password policy: common passwords and the username', async (t) => {
  const refused = (u: string, p: string) => retryOf(() => checkNewPassword(u, p)) === -1;
  t.ok(refused('alice', 'password'));
  t.ok(refused('alice', 'Baseball'), 'case-insensitive');
  t.ok(refused('alice', 'alice'));
  t.ok(refused('alice', 'Alice2024!'), 'the username with digits and symbols');
  t.ok(refused('alice', 'ecila'), 'reversed');
  t.ok(refused('alexandria', 'xandr'), 'a part of the username');
  t.notOk(refused('alice', 'alice in wonderland'), 'the username inside a real passphrase is allowed');
  t.notOk(refused('alice', 'correct horse battery'));
});

t.test('source keys: IPv4 as is, IPv6 by its /64', async (t) => {
  t.equal(sourceKey('203.0.113.7'), '203.0.113.7');
  t.equal(sourceKey('::ffff:203.0.113.7'), '203.0.113.7', 'IPv4-mapped');
  t.equal(sourceKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  t.equal(sourceKey('2001:0db8:0001:0002:0000:0000:0000:0001'), '2001:db8:1:2::/64', 'leading zeros');
  t.equal(sourceKey('2001:db8:1:2::1'), '2001:db8:1:2::/64', 'compressed');
  t.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(sourceKey('::1'), '0:0:0:0::/64');
  t.equal(sourceKey('2001:DB8:1:2:ffff::'), '2001:db8:1:2::/64', 'case');
});
