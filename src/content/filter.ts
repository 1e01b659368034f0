/**
 * The configurable word filter (`content.wordFilter`): each word is reduced to its canonical
 * letters (./scan.ts `classify`, after the same normalisation as non-ASCII text: NFKD without
 * marks, lower case, homoglyphs folded) and kept as a pair of 32-bit hashes, so a scan matches
 * tokens by comparing numbers. Two different words sharing both hashes is a 1 in 2^64 chance per
 * pair; a text token taken for a word by such a collision, as likely.
 */
import { wordHashes, type WordSet } from './scan.js';

/** NFKD, combining marks dropped, lower case: what accents and compatibility forms come down to. */
export function normalise(s: string): string {
  return s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

export class WordFilter implements WordSet {
  /** First hash → second hash(es) of the words. */
  readonly #words = new Map<number, number | number[]>();

  constructor(words: readonly string[]) {
    for (const w of words) {
      const h = wordHashes(normalise(w));
      if (h === null) continue;
      const seen = this.#words.get(h[0]);
      if (seen === undefined) this.#words.set(h[0], h[1]);
      else this.#words.set(h[0], Array.isArray(seen) ? [...seen, h[1]] : [seen, h[1]]);
    }
  }

  get empty(): boolean {
    return this.#words.size === 0;
  }

  has1(h1: number): boolean {
    return this.#words.has(h1);
  }

  has(h1: number, h2: number): boolean {
    const w = this.#words.get(h1);
    if (w === undefined) return false;
    return typeof w === 'number' ? w === h2 : w.includes(h2);
  }
}
