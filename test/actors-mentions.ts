/** Reading `@username` mentions out of content (src/actors/mentions.ts). */
import t from 'tap';
import { MAX_MENTIONS, mentionCandidates, namesToLookUp, resolveMentions } from '../src/actors/mentions.js';

const names = (content: string) => mentionCandidates(content).map((c) => c.name);

t.test('names: lower-cased, first appearance, no repeats, not inside an address', async (t) => {
  t.same(names('hi @Bob and @alice, @BOB again'), ['bob', 'alice']);
  t.same(names('@start of text'), ['start']);
  t.same(names('mail bob@example.com or @carol'), ['carol'], 'an @ after a username character is an address');
  t.same(names('(@dave) "@erin" @frank!'), ['dave', 'erin', 'frank']);
  t.same(names('no mention here, nor @ alone, nor @@'), []);
  t.same(names('@a.b-c_d'), ['a.b-c_d'], 'every username character');
  t.same(names('@' + 'x'.repeat(60)), ['x'.repeat(50)], 'at most a username\'s length');
});

t.test('a trailing . or - is tried both ways', async (t) => {
  t.same(mentionCandidates('thanks @bob.'), [{ name: 'bob.', trimmed: 'bob' }]);
  t.same(mentionCandidates('@bob'), [{ name: 'bob', trimmed: null }]);
  t.same(namesToLookUp(mentionCandidates('@bob. @bob')), ['bob.', 'bob']);
  const ids = new Map([['bob', 2], ['carol.', 3]]);
  t.same(resolveMentions(mentionCandidates('@bob. @carol. @carol'), ids, () => true), [2, 3], 'a name as written wins over its trimmed form');
});

t.test(`at most ${MAX_MENTIONS} names are looked at`, async (t) => {
  const many = Array.from({ length: 30 }, (_, i) => `@n${i}`).join(' ');
  t.equal(mentionCandidates(many).length, MAX_MENTIONS);
  t.same(names(many).slice(-1), [`n${MAX_MENTIONS - 1}`], 'the first ones');
});

t.test('resolve: known and visible users only, in order, each once', async (t) => {
  const ids = new Map([['alice', 1], ['bob', 2], ['carol', 3]]);
  const visible = (id: number) => id !== 3;
  t.same(resolveMentions(mentionCandidates('@carol @bob @nobody @alice @BOB'), ids, visible), [2, 1]);
});
