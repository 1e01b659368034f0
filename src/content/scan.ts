/**
 * One pass over a text that finds everything the content pipeline needs (./pipeline.ts):
 * characters that are refused (controls, bidi overrides), characters HTML needs escaped, links
 * and mentions counted, a hash of the text's letters for spotting repeats, and the word filter's
 * matches (./filter.ts). It allocates nothing: results go in the one `Scan` object it is given,
 * and the word filter is matched by hashes of normalised letters, not by building strings.
 *
 * The pass is over UTF-16 units, through `classify`: a code unit is a letter (the code of its
 * canonical form: lower case, look-alike digits and symbols folded, `l` folded into `i` since `1`
 * stands for either), a space, punctuation, or ignorable (zero-width characters, soft hyphen).
 * Non-ASCII text goes through this pass twice: once as sent (for refused characters) and once
 * normalised (NFKD without marks, lower case, homoglyphs folded) for the filter (./pipeline.ts).
 */

export const SPACE = -1;
export const PUNCT = -2;
export const IGNORE = -3;

/** What a scan found. Reused between scans: read it before the next one. */
export interface Scan {
  /** A character outside printable ASCII, newline and tab was seen. */
  nonAscii: boolean;
  /** One of `<>&"'` was seen (the text must be escaped). */
  html: boolean;
  /** Code of the first refused character (a control other than newline and tab, a bidi override), or -1. */
  refused: number;
  links: number;
  mentions: number;
  /** Letters seen (canonical forms, punctuation and spaces not counted). */
  letters: number;
  /** Hash of the text's canonical letters in order: two texts that differ only in case, spacing or punctuation hash alike. */
  hash: number;
  /** A filtered word was found. */
  filtered: boolean;
}

export function newScan(): Scan {
  return { nonAscii: false, html: false, refused: -1, links: 0, mentions: 0, letters: 0, hash: 0, filtered: false };
}

/** Canonical code of each ASCII unit (SPACE, PUNCT, or a letter). */
const ASCII = new Int32Array(128).fill(PUNCT);
for (let c = 0x61; c <= 0x7a; c++) ASCII[c] = c;
for (let c = 0x41; c <= 0x5a; c++) ASCII[c] = c + 32;
for (let c = 0x30; c <= 0x39; c++) ASCII[c] = c;
const fold: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's', '|': 'i', l: 'i', L: 'i' };
for (const [from, to] of Object.entries(fold)) ASCII[from.charCodeAt(0)] = to.charCodeAt(0);
ASCII[0x20] = SPACE;
ASCII[0x09] = SPACE;
ASCII[0x0a] = SPACE;

/** ASCII units that need a look beyond their class: refused controls, HTML specials, and the starts of links and mentions. */
const S_REFUSED = 1;
const S_HTML = 2;
const S_SLASH = 3;
const S_DOT = 4;
const S_AT = 5;
const SPECIAL = new Uint8Array(128);
for (let c = 0; c < 0x20; c++) if (c !== 0x09 && c !== 0x0a) SPECIAL[c] = S_REFUSED;
SPECIAL[0x7f] = S_REFUSED;
for (const c of '<>&"\'') SPECIAL[c.charCodeAt(0)] = S_HTML;
SPECIAL[0x2f] = S_SLASH;
SPECIAL[0x2e] = S_DOT;
SPECIAL[0x40] = S_AT;

/**
 * Look-alike letters of other scripts folded to the Latin letter they pass for (after NFKD and
 * lower-casing): Cyrillic and Greek.
 */
const HOMOGLYPHS: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', ѕ: 's', і: 'i', ї: 'i', ј: 'j', ԁ: 'd', ӏ: 'i', ԛ: 'q', ԝ: 'w', ь: 'b',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', γ: 'y', ω: 'w', μ: 'u',
  ı: 'i', ł: 'i', ø: 'o', đ: 'd', ß: 's',
};
const NON_ASCII = new Map<number, number>();
for (const [from, to] of Object.entries(HOMOGLYPHS)) NON_ASCII.set(from.charCodeAt(0), to === 'l' ? 0x69 : to.charCodeAt(0));
// Invisible inside a word: zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen,
// Mongolian vowel separator, LRM/RLM, Arabic letter mark, combining grapheme joiner.
for (const c of [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x00ad, 0x180e, 0x200e, 0x200f, 0x061c, 0x034f]) NON_ASCII.set(c, IGNORE);
const LETTER = /[\p{L}\p{N}]/u;
const WHITE = /\s/u;

/** The canonical class of a UTF-16 unit: a letter's code, SPACE, PUNCT or IGNORE. */
export function classify(c: number): number {
  if (c < 128) return ASCII[c]!;
  const known = NON_ASCII.get(c);
  if (known !== undefined) return known;
  // Surrogates: one half of an astral character (emoji, rare scripts); letters for the hash.
  if (c >= 0xd800 && c <= 0xdfff) return c;
  const s = String.fromCharCode(c);
  const cls = WHITE.test(s) ? SPACE : LETTER.test(s) ? c : PUNCT;
  if (NON_ASCII.size < 65_536) NON_ASCII.set(c, cls);
  return cls;
}

/** A refused code unit: C0 controls but tab and newline, DEL, C1 controls, bidi embeddings, overrides and isolates. */
export function isRefused(c: number): boolean {
  if (c < 0x20) return c !== 0x09 && c !== 0x0a;
  if (c < 0x7f) return false;
  if (c <= 0x9f) return true;
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/** Username characters, for mentions (src/actors/mentions.ts). */
const isNameChar = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e || c === 0x2d;

/**
 * The words a scan looks for, as pairs of 32-bit hashes of their canonical letters (./filter.ts).
 * `has` is called with both hashes of a candidate.
 */
export interface WordSet {
  readonly empty: boolean;
  /** Some word has this first hash. */
  has1(h1: number): boolean;
  has(h1: number, h2: number): boolean;
}

const NO_WORDS: WordSet = { empty: true, has1: () => false, has: () => false };

// Two independent 32-bit hashes of canonical letters (FNV-1a, and a multiplicative one): a pair
// of them stands for a word, so a scan compares numbers, never builds strings.
const H1 = 0x811c9dc5 | 0;
const H2 = 0x2545f491 | 0;
const step1 = (h: number, c: number): number => Math.imul(h ^ c, 0x01000193);
const step2 = (h: number, c: number): number => Math.imul((h + c) | 0, 0x9e3779b1) ^ (h >>> 15);

/**
 * Scan `s` into `out`. `words`: the word filter (a word matches a whole whitespace-separated token
 * with its punctuation and invisible characters dropped, any piece of it between punctuation, a
 * run of single-letter tokens such as `b a d`, each also with a trailing `s` dropped).
 */
export function scan(s: string, out: Scan, words: WordSet = NO_WORDS): Scan {
  let nonAscii = false;
  let html = false;
  let refused = -1;
  let links = 0;
  let mentions = 0;
  let letters = 0;
  let filtered = false;
  let hash = H1;
  const filter = !words.empty;
  // Current whitespace token, current piece (between punctuation), current run of one-letter tokens:
  // their hashes, their hashes before the last letter, their letter counts, and the last letter.
  // First hashes only: a candidate whose first hash names a word is confirmed by `confirm`, which
  // hashes the range again with both (rare: only real matches and 1 in 2^32 others get there).
  let t1 = H1, tp1 = 0, tn = 0, tl = 0, ts = 0;
  let p1 = H1, pp1 = 0, pn = 0, pl = 0, ps = 0;
  let r1 = H1, rp1 = 0, rn = 0, rl = 0, rs = 0;
  /** Where the run of one-letter tokens ends (the end of its last token). */
  let rEnd = 0;
  let prev = 0x20;
  let prev2 = 0x20;
  const n = s.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x20;
    let cls: number;
    if (c < 128) {
      cls = ASCII[c]!;
      const special = SPECIAL[c]!;
      if (special !== 0) {
        if (special === S_REFUSED) {
          if (refused < 0) refused = c;
        } else if (special === S_HTML) {
          html = true;
        } else if (special === S_SLASH) {
          if (prev === 0x2f && prev2 === 0x3a) links++; // "://"
        } else if (special === S_DOT) {
          // "www." that is not the host of a "://" already counted
          if ((prev | 0x20) === 0x77 && (prev2 | 0x20) === 0x77 && i >= 3 && (s.charCodeAt(i - 3) | 0x20) === 0x77 && (i < 4 || s.charCodeAt(i - 4) !== 0x2f)) links++;
        } else if (!isNameChar(prev) && i + 1 < n && isNameChar(s.charCodeAt(i + 1))) {
          mentions++; // "@name" not inside an address
        }
      }
    } else {
      nonAscii = true;
      cls = classify(c);
      if (refused < 0 && isRefused(c)) refused = c;
    }
    prev2 = prev;
    prev = c;
    if (cls >= 0) {
      hash = step1(hash, cls);
      letters++;
      if (!filter) continue;
      if (tn === 0) ts = i;
      if (pn === 0) ps = i;
      tp1 = t1; t1 = step1(t1, cls); tn++; tl = cls;
      pp1 = p1; p1 = step1(p1, cls); pn++; pl = cls;
      continue;
    }
    if (!filter || cls === IGNORE) continue;
    // Punctuation or space ends a piece (one that is its whole token is the token's to check).
    if (pn > 0 && (cls !== SPACE || pn < tn)) {
      if (hit(words, s, ps, i, p1, pp1, pl, pn)) filtered = true;
    }
    p1 = H1; pn = 0;
    if (cls !== SPACE) continue;
    // A space ends a token (several spaces end one).
    if (tn > 0) {
      if (hit(words, s, ts, i, t1, tp1, tl, tn)) filtered = true;
      if (tn === 1) {
        if (rn === 0) rs = ts;
        rp1 = r1; r1 = step1(r1, tl); rn++; rl = tl;
      } else {
        if (rn > 1 && hit(words, s, rs, rEnd, r1, rp1, rl, rn)) filtered = true;
        r1 = H1; rn = 0;
      }
      if (tn === 1) rEnd = i;
    }
    t1 = H1; tn = 0;
  }
  if (filter && rn > 1 && hit(words, s, rs, rEnd, r1, rp1, rl, rn)) filtered = true;
  out.nonAscii = nonAscii;
  out.html = html;
  out.refused = refused;
  out.links = links;
  out.mentions = mentions;
  out.letters = letters;
  out.filtered = filtered;
  out.hash = hash >>> 0;
  return out;
}

/**
 * Whether the letters of `s` in [from, to) (hashing to `h1`; `prev1` without the last letter,
 * `last`; `n` of them) are a word, or a word and a plural `s`.
 */
function hit(words: WordSet, s: string, from: number, to: number, h1: number, prev1: number, last: number, n: number): boolean {
  if (words.has1(h1) && confirm(words, s, from, to, false)) return true;
  return last === 0x73 && n > 1 && words.has1(prev1) && confirm(words, s, from, to, true);
}

/** Both hashes of the letters of `s` in [from, to) (less the last one with `dropLast`) name a word. */
function confirm(words: WordSet, s: string, from: number, to: number, dropLast: boolean): boolean {
  let h1 = H1;
  let h2 = H2;
  let last1 = H1;
  let last2 = H2;
  for (let i = from; i < to; i++) {
    const cls = classify(s.charCodeAt(i));
    if (cls < 0) continue;
    last1 = h1;
    last2 = h2;
    h1 = step1(h1, cls);
    h2 = step2(h2, cls);
  }
  return dropLast ? words.has(last1, last2) : words.has(h1, h2);
}

/** Both hashes of a word's canonical letters (its spaces and punctuation dropped), or null when it has none. */
export function wordHashes(canonical: string): [number, number] | null {
  let h1 = H1;
  let h2 = H2;
  let n = 0;
  for (let i = 0; i < canonical.length; i++) {
    const cls = classify(canonical.charCodeAt(i));
    if (cls < 0) continue;
    h1 = step1(h1, cls);
    h2 = step2(h2, cls);
    n++;
  }
  return n === 0 ? null : [h1, h2];
}
