/**
 * Micro-benchmark of the content pipeline (src/content/pipeline.ts) on the send path: 1e6 typical
 * messages, plain ASCII, with a word filter of 100 words; then the same with HTML to escape and
 * with non-ASCII text. Run: `node dist/bench/content-pipeline.js` after the build.
 */
import { ContentPipeline } from '../src/content/pipeline.js';

const words = Array.from({ length: 100 }, (_, i) => `forbidden${i}word`);
const p = new ContentPipeline({ wordFilter: words, repeatLimit: 1_000_000, repeatWindowS: 60, maxLinks: 5, maxMentions: 10 });
const base = (s: string, n: number) => Array.from({ length: n }, (_, i) => `${s} ${i}`);
const sets: [string, string[]][] = [
  ['plain ASCII (~60 chars)', base('hey, are we still on for lunch tomorrow at noon? bring the', 1000)],
  ['ASCII with <>&', base('if a < b && c > d then <b>bold</b> it', 1000)],
  ['non-ASCII (accents, emoji)', base('à demain, on se voit au café 👋 pour le déjeuner', 1000)],
];
for (const [name, msgs] of sets) {
  for (let i = 0; i < 100_000; i++) p.message(i & 1023, msgs[i % msgs.length]!);
  const N = 1_000_000;
  const t0 = process.hrtime.bigint();
  let len = 0;
  for (let i = 0; i < N; i++) len += p.message(i & 1023, msgs[i % msgs.length]!).length;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${name}: ${ns.toFixed(0)} ns per message (${len} chars out)`);
}
