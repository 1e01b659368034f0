/**
 * The content pipeline (issue 17; PROTOCOL.md "Content"): what a message, an edit or a name must
 * be before anything stores it, and what clients receive of it.
 *
 * - Refused (`content_rejected`, reason in `details[0].message`): control characters other than
 *   newline and tab (so ANSI escapes too), DEL and C1 controls (`control_character`); bidi
 *   embeddings, overrides and isolates U+202A-U+202E, U+2066-U+2069 (`bidi_control`; the marks
 *   U+200E/U+200F are allowed: they reorder nothing, and right-to-left text needs them); text with
 *   nothing visible, only spaces and zero-width characters (`invisible`); in names, newlines and
 *   tabs too (`control_character`); a word of `content.wordFilter` (`word_filter`); and in
 *   messages, spam (`spam_repeat`, `spam_links`, `spam_mentions`).
 * - Neutralised: `&`, `<`, `>`, `"`, `'` become `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`, and the
 *   text is stored so. Clients receive text that is safe to put in HTML as it is (element content
 *   or a quoted attribute); one that shows text another way decodes those five entities.
 *
 * Hot path: a message of printable ASCII with none of `&<>"'` and no filtered word costs one scan
 * (./scan.ts) and no allocation, and is returned as it was given. Other text allocates its escaped
 * copy, or (non-ASCII) its normalised form for the filter.
 */
import type { Config } from '../config/schema.js';
import { ChatError } from '../errors.js';
import { normalise, WordFilter } from './filter.js';
import { newScan, scan, type Scan } from './scan.js';
import { RepeatGuard } from './spam.js';

export type RejectReason =
  | 'control_character'
  | 'bidi_control'
  | 'invisible'
  | 'word_filter'
  | 'spam_repeat'
  | 'spam_links'
  | 'spam_mentions';

const REASON_TEXT: Record<RejectReason, string> = {
  control_character: 'control characters are not allowed',
  bidi_control: 'bidirectional control characters (U+202A-U+202E, U+2066-U+2069) are not allowed',
  invisible: 'nothing visible: only spaces or zero-width characters',
  word_filter: 'contains a filtered word',
  spam_repeat: 'the same text sent too many times',
  spam_links: 'too many links',
  spam_mentions: 'too many mentions',
};

/** `content_rejected` with its reason as the detail's message (a stable token clients may match). */
export function rejected(reason: RejectReason, path: string): ChatError {
  return new ChatError('content_rejected', `content rejected: ${REASON_TEXT[reason]}`, { details: [{ path, message: reason }] });
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const HTML_SPECIAL = /[&<>"']/g;

/** `&<>"'` as entities. */
export function escapeHtml(s: string): string {
  return s.replace(HTML_SPECIAL, (c) => ESCAPES[c]!);
}

/** Bidi controls: 0x202A-0x202E, 0x2066-0x2069. */
const isBidi = (c: number): boolean => (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);

/** Called when a user's message is refused as spam (src/limits/budgets.ts lowers their budgets). */
export type SpamListener = (userId: number) => void;

export class ContentPipeline {
  readonly #words: WordFilter;
  readonly #repeats: RepeatGuard;
  readonly #cfg: Config['content'];
  readonly #onSpam: SpamListener;
  /** The one scan result, reused (this runs on one thread, one text at a time). */
  readonly #scan: Scan = newScan();

  constructor(cfg: Config['content'], onSpam: SpamListener = () => {}, clock: () => number = Date.now) {
    this.#cfg = cfg;
    this.#words = new WordFilter(cfg.wordFilter);
    this.#repeats = new RepeatGuard(cfg.repeatLimit, cfg.repeatWindowS * 1000, clock);
    this.#onSpam = onSpam;
  }

  /**
   * A message's content (new or edited) as it is to be stored, or `content_rejected`. `userId`:
   * its author, for spam (repeats are counted for new messages only, `repeat`; a retry with the
   * same `clientId` is not a repeat).
   */
  message(userId: number, text: string, path = 'data.content', repeat = true, clientId: string | null = null): string {
    const s = this.#check(text, path, false);
    if (s.links > this.#cfg.maxLinks) return this.#spam(userId, 'spam_links', path);
    if (s.mentions > this.#cfg.maxMentions) return this.#spam(userId, 'spam_mentions', path);
    if (repeat && this.#repeats.repeated(userId, s.hash, clientId === null ? 0 : hashString(clientId))) return this.#spam(userId, 'spam_repeat', path);
    return s.html ? escapeHtml(text) : text;
  }

  /**
   * A name or a short text shown as one (room name, description, username): as it is to be
   * stored, at most `maxChars` UTF-16 units once escaped (the column's size), else `validation_failed`.
   */
  name(text: string, path: string, multiline = false, maxChars = Infinity): string {
    const s = this.#check(text, path, !multiline);
    const out = s.html ? escapeHtml(text) : text;
    if (out.length > maxChars) {
      throw new ChatError('validation_failed', `${path}: too long once HTML-escaped (at most ${maxChars} characters)`, {
        details: [{ path, message: `too long once escaped: at most ${maxChars} characters` }],
      });
    }
    return out;
  }

  #check(text: string, path: string, singleLine: boolean): Scan {
    const s = scan(text, this.#scan, this.#words);
    if (s.refused >= 0) throw rejected(isBidi(s.refused) ? 'bidi_control' : 'control_character', path);
    if (singleLine && /[\n\t]/.test(text)) throw rejected('control_character', path);
    if (!s.nonAscii) {
      if (s.filtered) throw rejected('word_filter', path);
      // Printable ASCII with a letter or digit, or with punctuation, is visible.
      if (s.letters === 0 && text.trim() === '') throw rejected('invisible', path);
      return s;
    }
    // Not ASCII: scan the normalised form for the filter and for the repeat hash, keeping what
    // only the text as sent shows (escapes needed, links, mentions).
    const { html, links, mentions } = s;
    scan(normalise(text), s, this.#words);
    s.html = html;
    s.links = links;
    s.mentions = mentions;
    if (s.filtered) throw rejected('word_filter', path);
    if (isInvisible(text)) throw rejected('invisible', path);
    return s;
  }

  #spam(userId: number, reason: RejectReason, path: string): never {
    this.#onSpam(userId);
    throw rejected(reason, path);
  }
}

/** A client_id as a nonzero 32-bit number. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) || 1;
}

/** Nothing but white space, zero-width and format characters (Cf: ZWJ, LRM, BOM...). */
const VISIBLE = /[^\s\p{Cf}\u034f\u115f\u1160\u3164\uffa0\u2800]/u;
function isInvisible(text: string): boolean {
  return !VISIBLE.test(text);
}
