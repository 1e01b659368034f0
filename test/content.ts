/**
 * The content pipeline (src/content/): what is refused and why, what is escaped, the word filter
 * through obfuscation (and clean text with similar letters let through), spam, and the ASCII fast
 * path handing back the very string it was given.
 */
import t from 'tap';
import { ChatError } from '../src/errors.js';
import { ContentPipeline, escapeHtml } from '../src/content/pipeline.js';

const cfg = { wordFilter: ['badword', 'scam', 'Frobnicate'], repeatLimit: 3, repeatWindowS: 60, maxLinks: 3, maxMentions: 4 };

/** The reason a message is refused, or 'ok'. */
function verdict(p: ContentPipeline, text: string, user = 1): string {
  try {
    p.message(user, text);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ChatError) || e.code !== 'content_rejected') throw e;
    return e.details![0]!.message;
  }
}

t.test('HTML is neutralised: the five characters become entities, nothing else changes', async (t) => {
  const p = new ContentPipeline(cfg);
  t.equal(p.message(1, '<script>alert("x")</script>'), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  t.equal(p.message(2, `<img src=x onerror='alert(1)'>`), '&lt;img src=x onerror=&#39;alert(1)&#39;&gt;');
  t.equal(p.message(3, 'fish & chips, 3 > 2'), 'fish &amp; chips, 3 &gt; 2');
  t.equal(p.message(4, 'café <b>très</b> 👋'), 'café &lt;b&gt;très&lt;/b&gt; 👋', 'non-ASCII text escaped the same way');
  t.equal(escapeHtml('&amp;'), '&amp;amp;', 'an entity sent as text is text: escaped again');
  const plain = 'a plain message, with punctuation: ok? yes!\nand a second line\tand a tab';
  t.equal(p.message(5, plain), plain, 'newline and tab are kept');
});

t.test('refused characters, with the reason', async (t) => {
  const p = new ContentPipeline(cfg);
  t.equal(verdict(p, 'right-to-left \u202Eoverride'), 'bidi_control');
  t.equal(verdict(p, 'isolate \u2066x\u2069'), 'bidi_control');
  t.equal(verdict(p, 'ansi \x1b[31mred\x1b[0m'), 'control_character');
  t.equal(verdict(p, 'bell \x07'), 'control_character');
  t.equal(verdict(p, 'carriage\r\nreturn'), 'control_character');
  t.equal(verdict(p, 'delete \x7f'), 'control_character');
  t.equal(verdict(p, 'c1 \u0085 control'), 'control_character');
  t.equal(verdict(p, '\u200B\u200C\u200D\uFEFF'), 'invisible', 'zero-width only');
  t.equal(verdict(p, 'שלום \u200F world'), 'ok', 'a right-to-left mark is allowed (documented)');
  t.equal(verdict(p, '👨‍👩‍👧'), 'ok', 'a ZWJ emoji sequence is visible');
  t.throws(() => p.name('\u200B \u200D', 'name'), { code: 'content_rejected', details: [{ path: 'name', message: 'invisible' }] }, 'zero-width-only name');
  t.throws(() => p.name('two\nlines', 'name'), { code: 'content_rejected', details: [{ message: 'control_character' }] }, 'a name is one line');
  t.equal(p.name('two\nlines', 'description', true), 'two\nlines', 'a description may have lines');
  t.equal(p.name('Rock & Roll', 'name'), 'Rock &amp; Roll', 'names are escaped too');
  t.throws(() => p.name('<'.repeat(30), 'name', false, 100), { code: 'validation_failed' }, 'a name too long once escaped');
});

t.test('the word filter catches obfuscations and lets similar clean text through', async (t) => {
  const p = new ContentPipeline(cfg);
  const caught = [
    'badword',
    'BadWord',
    'this is a BADWORD!',
    'b a d w o r d',
    'b.a.d.w.o.r.d',
    'b-a-d_w*o*r*d',
    'b4dw0rd',
    'badwords',
    'b\u200Badword',
    'bаdwоrd', // Cyrillic а and о
    'βadword'.replace('β', 'b').replace('a', 'α'), // Greek alpha
    'bädwörd',
    'ｂａｄｗｏｒｄ', // full width
    'sc@m',
    '$cam',
    'SC4M?',
    'hello,scam,friend',
    'fr0bn1c4te',
    'FROBNICATE',
    'frobnicate', // with l/1/i folding: the word has none, still caught
  ];
  for (const text of caught) t.equal(verdict(p, text), 'word_filter', `caught: ${JSON.stringify(text)}`);
  const clean = ['scamper', 'a scampi dish', 'bad word', 'the badge word', 'scan', 'sca m', 'bad', 'word', 'abadwordz', 'Scampton 1944'];
  for (const text of clean) t.equal(verdict(p, text), 'ok', `clean: ${JSON.stringify(text)}`);
  t.throws(() => p.name('Scam Room', 'name'), { code: 'content_rejected', details: [{ message: 'word_filter' }] }, 'names are filtered too');
});

t.test('spam: the same text repeated, link floods, mention floods; a retry is not a repeat', async (t) => {
  const penalised: number[] = [];
  let now = 1_000_000;
  const p = new ContentPipeline(cfg, (id) => penalised.push(id), () => now);
  for (let i = 0; i < 3; i++) t.equal(verdict(p, 'Buy cheap watches now', 7), 'ok', `repeat ${i + 1} of 3`);
  t.equal(verdict(p, 'buy  CHEAP watches now!!!', 7), 'spam_repeat', 'the fourth, differing only in case, spacing and punctuation');
  t.equal(verdict(p, 'Buy cheap watches now', 8), 'ok', 'another user is counted apart');
  now += 61_000;
  t.equal(verdict(p, 'Buy cheap watches now', 7), 'ok', 'after the window');
  for (let i = 0; i < 5; i++) t.equal(p.message(9, 'same text', 'data.content', true, 'c-1'), 'same text', 'a retry with the same client_id');
  t.equal(verdict(p, 'see http://a.example http://b.example https://c.example', 10), 'ok', 'three links');
  t.equal(verdict(p, 'see http://a.example http://b.example https://c.example www.d.example', 10), 'spam_links');
  t.equal(verdict(p, '@ann @bob @cid @dan', 11), 'ok', 'four mentions');
  t.equal(verdict(p, '@ann @bob @cid @dan @eve', 11), 'spam_mentions');
  t.equal(verdict(p, 'mail ann@example.com bob@example.com cid@example.com dan@example.com eve@example.com', 11), 'ok', 'e-mail addresses are not mentions');
  t.same(penalised, [7, 10, 11], 'each spammer reported for the adaptive limits');
});

t.test('the ASCII fast path hands back the string it was given', async (t) => {
  const p = new ContentPipeline(cfg);
  const s = ['hello there, how are you today? 42'].join('');
  t.equal(p.message(1, s), s);
  t.ok(Object.is(p.message(2, s), s), 'the same string, not a copy');
});
