/**
 * UserActor's sessions: one connection is held without a Map, more go to one, and the actor is
 * kept alive (not passivated) while any session is open.
 */
import t from 'tap';
import type { ChatContext } from '../src/actors/context.js';
import { UserActor } from '../src/actors/user.js';

// Session bookkeeping never touches the context: any use of it fails the test.
const ctx = new Proxy({} as ChatContext, {
  get: (_t, key) => {
    throw new Error(`session bookkeeping used ctx.${String(key)}`);
  },
});

t.test('sessions: open, open, close in any order; online and keepAlive follow', async (t) => {
  const u = new UserActor(7, ctx);
  t.equal(u.online, false);
  t.equal(u.keepAlive(), false);
  u.receive({ t: 'session_opened', sessionId: 's1', front: 0 });
  t.equal(u.online, true);
  u.receive({ t: 'session_opened', sessionId: 's2', front: 1 });
  u.receive({ t: 'session_opened', sessionId: 's3', front: 0 });
  u.receive({ t: 'session_closed', sessionId: 's1' });
  t.equal(u.online, true, 'two left');
  u.receive({ t: 'session_closed', sessionId: 's3' });
  u.receive({ t: 'session_closed', sessionId: 'unknown' });
  t.equal(u.keepAlive(), true, 'one left');
  u.receive({ t: 'session_closed', sessionId: 's2' });
  t.equal(u.online, false);
  t.equal(u.keepAlive(), false);
  // Back to one session after many: the single-session path is used again.
  u.receive({ t: 'session_opened', sessionId: 's4', front: 0 });
  t.equal(u.online, true);
  u.receive({ t: 'session_closed', sessionId: 's4' });
  t.equal(u.online, false);
});

t.test('a duplicate close or a close of the first of two keeps the other', async (t) => {
  const u = new UserActor(8, ctx);
  u.receive({ t: 'session_opened', sessionId: 'a', front: 0 });
  u.receive({ t: 'session_closed', sessionId: 'a' });
  u.receive({ t: 'session_closed', sessionId: 'a' });
  t.equal(u.online, false);
  u.receive({ t: 'session_opened', sessionId: 'b', front: 0 });
  u.receive({ t: 'session_opened', sessionId: 'c', front: 0 });
  u.receive({ t: 'session_closed', sessionId: 'b' });
  t.equal(u.online, true, 'c is still open');
});
