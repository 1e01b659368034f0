/**
 * The content pipeline end to end (issue 17): `<script>` and `<img onerror>` arrive neutralised at
 * another client and in history (WebSocket and REST); bidi overrides, control characters, ANSI
 * escapes and zero-width-only text or names are refused with `content_rejected` and a reason, and
 * never stored; the word filter catches obfuscated forms and lets clean look-alikes through;
 * repeated text, link floods and mention floods are refused, and the spammer's budgets shrink.
 * One node (PGlite: the pipeline runs on the front, before any store), real sockets.
 */
import t from 'tap';
import { call } from './helpers/http.js';
import { room, startLive, type Frame } from './helpers/live.js';

const reason = (f: Frame) => (f.type === 'error' ? `${f.data.code}:${f.data.details?.[0]?.message}` : 'ok');

t.test('content pipeline over WebSocket and REST', async (t) => {
  const live = await startLive(t, 'pglite', {
    content: { wordFilter: ['badword', 'frobnicate'], repeatLimit: 5, maxLinks: 3, maxMentions: 4 },
    limits: { perMinute: { send_message: 1000, create_room: 100, fetch_history: 8 }, adaptive: { spamPenaltyFactor: 4 } },
  });
  if (!live) return;
  const [alice, bob, eve] = [await live.user('alice'), await live.user('bob'), await live.user('eve')];
  const id = await room(live, alice.token);
  const a = await live.client(alice.token);
  const b = await live.client(bob.token);
  await a.ok('join_room', { room_id: id });
  await b.ok('join_room', { room_id: id });

  const script = '<script>alert(document.cookie)</script>';
  const img = `<img src=x onerror="alert('x')">`;
  const sent1 = await a.ok('send_message', { room_id: id, content: script });
  const sent2 = (await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: alice.token, body: { content: img } })).body;
  const seen = await b.waitFor((f) => f.type === 'message' && f.data.id === sent2.id);
  const first = b.of('message').find((f) => f.data.id === sent1.id)!;
  const safeScript = '&lt;script&gt;alert(document.cookie)&lt;/script&gt;';
  const safeImg = '&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;';
  t.equal(first.data.content, safeScript, 'another client receives <script> as text');
  t.equal(seen.data.content, safeImg, 'and <img onerror> (sent over REST)');
  t.equal(sent2.content, safeImg, 'the REST answer is the stored text');
  const hist = await b.ok('fetch_history', { conversation_id: id, limit: 10 });
  t.same(hist.messages.map((m: { content: string }) => m.content), [safeScript, safeImg], 'history over WebSocket holds the neutralised text');
  const rest = await call(live.url, 'GET', `/api/v1/rooms/${id}/messages`, { token: bob.token });
  t.same(rest.body.messages.map((m: { content: string }) => m.content), [safeScript, safeImg], 'and over REST');
  const edited = await a.ok('edit_message', { message_id: sent1.id, content: 'now <b>bold</b>' });
  t.ok(edited.seq > 0, 'an edit is accepted');
  const ev = await b.waitFor((f) => f.type === 'message_edited' && f.data.message_id === sent1.id);
  t.equal(ev.data.content, 'now &lt;b&gt;bold&lt;/b&gt;', 'edits are neutralised the same way');

  // Refused content: nothing stored, whichever path.
  const refused: [string, string][] = [
    ['abc \u202Egnp.exe', 'content_rejected:bidi_control'],
    ['isolated \u2067x\u2069', 'content_rejected:bidi_control'],
    ['\x1b[2J\x1b[31mred alert', 'content_rejected:control_character'],
    ['bell\x07', 'content_rejected:control_character'],
    ['\u200B\u200C\u200D', 'content_rejected:invisible'],
  ];
  for (const [content, want] of refused) t.equal(reason(await a.request('send_message', { room_id: id, content })), want, `refused: ${JSON.stringify(content)}`);
  t.equal(reason(await a.request('edit_message', { message_id: sent1.id, content: 'x\u202Dy' })), 'content_rejected:bidi_control', 'an edit too');
  const viaRest = await call(live.url, 'POST', `/api/v1/rooms/${id}/messages`, { token: alice.token, body: { content: 'ansi \x1b[0m' } });
  t.equal(viaRest.status, 422, 'REST: 422');
  t.match(viaRest.body.error, { code: 'content_rejected', details: [{ path: 'content', message: 'control_character' }] });
  const after = await b.ok('fetch_history', { conversation_id: id, limit: 10 });
  t.equal(after.messages.length, 2, 'none of the refused messages was stored');
  t.equal(after.messages[0].content, 'now &lt;b&gt;bold&lt;/b&gt;', 'nor the refused edit');

  // Room names and descriptions.
  const create = (body: object) => call(live.url, 'POST', '/api/v1/rooms', { token: alice.token, body });
  t.match((await create({ name: '\u200B\u200B' })).body.error, { code: 'content_rejected', details: [{ path: 'name', message: 'invisible' }] }, 'a zero-width-only room name');
  t.match((await create({ name: 'evil\u202Etxt' })).body.error, { code: 'content_rejected', details: [{ message: 'bidi_control' }] }, 'a bidi override in a name');
  t.match((await create({ name: 'ok', description: 'a\x1b[1m' })).body.error, { code: 'content_rejected', details: [{ path: 'description' }] }, 'an ANSI escape in a description');
  t.match((await create({ name: 'b a d w o r d' })).body.error, { code: 'content_rejected', details: [{ message: 'word_filter' }] }, 'a filtered name');
  const named = await create({ name: '<i>Rock</i> & Roll' });
  t.equal(named.status, 201);
  t.equal(named.body.name, '&lt;i&gt;Rock&lt;/i&gt; &amp; Roll', 'a name is stored neutralised');
  const patched = await call(live.url, 'PATCH', `/api/v1/rooms/${named.body.id}`, { token: alice.token, body: { name: 'x\u2066y' } });
  t.equal(patched.status, 422, 'PATCH /rooms/:id refuses a bidi isolate');
  t.equal((await call(live.url, 'GET', `/api/v1/rooms/${named.body.id}`, { token: alice.token })).body.name, '&lt;i&gt;Rock&lt;/i&gt; &amp; Roll', 'unchanged');

  // The word filter through obfuscation, and clean look-alikes.
  for (const content of ['BADWORD', 'b.a.d.w.o.r.d', 'b a d w o r d', 'b4dw0rd!', 'bаdwоrd', 'ｂａｄｗｏｒｄ', 'b\u200Badword', 'fr0bn1c4t3', 'frôbnïcate']) {
    t.equal(reason(await a.request('send_message', { room_id: id, content })), 'content_rejected:word_filter', `caught: ${JSON.stringify(content)}`);
  }
  for (const content of ['bad word', 'the badge worded', 'a frobnicator', 'b a d']) {
    t.equal(reason(await a.request('send_message', { room_id: id, content })), 'ok', `clean: ${JSON.stringify(content)}`);
  }

  // Spam, from eve: repeats, links, mentions; then her budgets shrink (fetch_history 8 → 2).
  await call(live.url, 'POST', `/api/v1/rooms/${id}/join`, { token: eve.token });
  const e = await live.client(eve.token);
  const sends = [];
  for (let i = 0; i < 7; i++) sends.push(reason(await e.request('send_message', { room_id: id, content: i % 2 ? 'FREE crypto, click now' : 'free crypto click now!' })));
  t.same(sends, ['ok', 'ok', 'ok', 'ok', 'ok', 'content_rejected:spam_repeat', 'content_rejected:spam_repeat'], 'the sixth copy within the window is spam');
  t.equal(reason(await e.request('send_message', { room_id: id, content: 'http://a.test http://b.test https://c.test www.d.test' })), 'content_rejected:spam_links');
  t.equal(reason(await e.request('send_message', { room_id: id, content: '@alice @bob @carol @dave @erin' })), 'content_rejected:spam_mentions');
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(reason(await e.request('fetch_history', { conversation_id: id, limit: 1 })));
  t.same(pages, ['ok', 'ok', 'rate_limited:undefined'], "a spammer's budget is a quarter: 2 of 8 history pages");
  const fine = [];
  for (let i = 0; i < 3; i++) fine.push(reason(await b.request('fetch_history', { conversation_id: id, limit: 1 })));
  t.same(fine.slice(0, 3), ['ok', 'ok', 'ok'], 'another user keeps the whole budget');
  // Usernames: the register pattern keeps controls and HTML out; the word filter is the pipeline's.
  const rejected = await call(live.url, 'POST', '/api/v1/auth/register', { body: { username: 'Fr0b.nicate', email: 'frob@example.com', password: 'correct horse battery' } });
  t.match(rejected, { status: 422, body: { error: { code: 'content_rejected' } } }, 'a filtered word in a username, obfuscated, is refused');
  t.equal((await call(live.url, 'POST', '/api/v1/auth/register', { body: { username: 'frobisher', email: 'frobisher@example.com', password: 'correct horse battery' } })).status, 201, 'a name that only looks like it registers');
  for (const c of [a, b, e]) c.close();
});
