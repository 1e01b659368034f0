import { z } from 'zod';
import { ChatError } from '../chat-error.js';
import { zodToChatError } from './zod-errors.js';

/**
 * Field schemas shared by the WebSocket operations (client-ops.ts) and the REST bodies (rest.ts),
 * and parseOrThrow, which throws the `validation_failed` ChatError of ./zod-errors.ts.
 */

/** Largest serialised `metadata` object, UTF-8 bytes of its JSON. */
const METADATA_MAX_BYTES = 16 * 1024;
/** Deepest nesting inside `metadata` (the object itself is depth 1). */
const METADATA_MAX_DEPTH = 8;
/** Most values (objects, arrays, scalars) inside one `metadata`. */
const METADATA_MAX_NODES = 1000;
/** Reactions are one emoji (with modifiers, tags and ZWJ sequences): the longest are about 14 UTF-16 units. */
const EMOJI_MAX_CHARS = 32;

/** A database id: a positive safe integer (BIGSERIAL ids stay far below 2^53). */
export const id = () => z.int().positive();

/**
 * Whom a direct conversation is with, in `create_dm` and `POST /dm` alike: `user_id`, or the
 * seed's pair `user1_id`/`user2_id`, one of them the caller (see dmPeerId).
 */
export const dmTarget = () =>
  z
    .strictObject({ user_id: id().nullish(), user1_id: id().nullish(), user2_id: id().nullish() })
    .superRefine((d, ctx) => {
      const single = d.user_id != null;
      const pair = d.user1_id != null || d.user2_id != null;
      if (single && pair) {
        ctx.addIssue({ code: 'custom', path: ['user_id'], message: 'give user_id or user1_id/user2_id, not both' });
      } else if (!single && !pair) {
        ctx.addIssue({ code: 'custom', path: ['user_id'], message: 'required (or user1_id and user2_id)' });
      } else if (pair) {
        if (d.user1_id == null) ctx.addIssue({ code: 'custom', path: ['user1_id'], message: 'required with user2_id' });
        if (d.user2_id == null) ctx.addIssue({ code: 'custom', path: ['user2_id'], message: 'required with user1_id' });
      }
    });
export type DmTarget = z.output<ReturnType<typeof dmTarget>>;

/**
 * The other user of a `create_dm` or `POST /dm`: `user_id`, or whichever of `user1_id`/`user2_id`
 * is not the caller. A pair that does not include the caller is `forbidden` (PROTOCOL: "one being
 * the caller").
 */
export function dmPeerId(data: DmTarget, callerId: number): number {
  if (data.user_id != null) return data.user_id;
  const { user1_id: a, user2_id: b } = data;
  if (a === callerId) return b as number;
  if (b === callerId) return a as number;
  throw new ChatError('forbidden', 'create_dm: one of user1_id and user2_id must be the caller');
}

/** A client idempotency key: the 8-4-4-4-12 hex form PostgreSQL's `uuid` type accepts, lower-cased the way PostgreSQL prints it. */
const REASON_MAX_CHARS = 500;
/** Longest timed ban or mute, in seconds (a ban without a duration is permanent). */
const SANCTION_MAX_S = 365 * 86_400;

/** A moderation action's reason: at most 500 characters, optional (null counts as absent). */
export const reason = () => z.string().max(REASON_MAX_CHARS).nullish();

/** A ban's or mute's length in seconds: 1 s .. one year. */
export const sanctionSeconds = () => z.int().min(1).max(SANCTION_MAX_S);

export const clientId = () =>
  z
    .string()
    .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'expected a UUID')
    .transform((s) => s.toLowerCase());

// `String.prototype.isWellFormed` is in Node 20 but not in the ES2023 lib this project compiles against.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;
/** No lone surrogate: the string has a UTF-8 encoding (Node would otherwise write U+FFFD in its place). */
const isWellFormed: (s: string) => boolean = nativeWellFormed
  ? (s) => nativeWellFormed.call(s)
  : (s) => !LONE_SURROGATE.test(s);

/** Unicode code points in `s`, the unit `maxContentChars` counts (PostgreSQL's char_length). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * Why `s` is not acceptable message content, or null. Content is stored as sent (not trimmed):
 * leading spaces and newlines matter in code blocks; only whitespace-only content is refused.
 */
function contentProblem(s: string, maxChars: number): string | null {
  // s.length counts UTF-16 units, at least the code points: count only when it could matter.
  if (s.length > maxChars && (s.length > 2 * maxChars || codePoints(s) > maxChars)) {
    return `too long: at most ${maxChars} characters`;
  }
  if (s.includes('\0')) return 'must not contain NUL characters';
  if (!isWellFormed(s)) return 'must be valid Unicode (lone surrogate)';
  if (!/\S/.test(s)) return 'must not be empty';
  return null;
}

/** Message content: a non-blank string of at most `maxChars` code points, no NUL, no lone surrogate. */
export const content = (maxChars: number) =>
  z.string().superRefine((s, ctx) => {
    const problem = contentProblem(s, maxChars);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: s });
  });

/**
 * One emoji, as one grapheme: a pictographic character with an optional variation selector or
 * skin tone, ZWJ sequences of those (families, professions), flags (two regional indicators, or a
 * black flag with tag characters), and keycaps. Nothing else: no text, no `:shortcode:`.
 */
const EMOJI_ONE = /^(?:\p{RI}\p{RI}|[#*0-9]\uFE0F?\u20E3|\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier})?(?:[\u{E0020}-\u{E007E}]+\u{E007F})?(?:\u200D\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier})?)*)$/u;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** A reaction: one emoji grapheme (EMOJI_ONE), at most EMOJI_MAX_CHARS UTF-16 units. */
export const emoji = () =>
  z.string().superRefine((s, ctx) => {
    let problem: string | null = null;
    if (s.length === 0) problem = 'must not be empty';
    else if (s.length > EMOJI_MAX_CHARS) problem = `too long: at most ${EMOJI_MAX_CHARS} characters`;
    else if (!isWellFormed(s)) problem = 'must be valid Unicode (lone surrogate)';
    else if (!EMOJI_ONE.test(s)) problem = 'must be one emoji';
    else {
      let n = 0;
      for (const _ of graphemes.segment(s)) if (++n > 1) break;
      if (n !== 1) problem = 'must be one emoji';
    }
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: s });
  });

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

interface Problem {
  /** Where, below the checked value. */
  path: (string | number)[];
  message: string;
}

/**
 * Why `value` is not plain JSON data within the metadata bounds, or null. Walks at most
 * METADATA_MAX_DEPTH levels and METADATA_MAX_NODES values, so a hostile value costs little.
 */
function metadataProblem(value: unknown): Problem | null {
  if (!isPlainObject(value)) return { path: [], message: 'expected an object' };
  let nodes = 0;
  const path: (string | number)[] = [];
  const fail = (message: string): Problem => ({ path: [...path], message });
  // PostgreSQL's jsonb holds no NUL character (not even escaped, as "\u0000"): refused here, a
  // NUL would fail the whole group-commit batch the message rides in.
  const stringProblem = (s: string): Problem | null =>
    s.includes('\0') ? fail('must not contain NUL characters') : isWellFormed(s) ? null : fail('must be valid Unicode (lone surrogate)');
  const walk = (v: unknown, depth: number): Problem | null => {
    if (++nodes > METADATA_MAX_NODES) return { path: [], message: `too many values: at most ${METADATA_MAX_NODES}` };
    switch (typeof v) {
      case 'string':
        return stringProblem(v);
      case 'boolean':
        return null;
      case 'number':
        return Number.isFinite(v) ? null : fail('must be a finite number');
      case 'object':
        break;
      default:
        return fail(`${typeof v} is not JSON data`);
    }
    if (v === null) return null;
    if (depth > METADATA_MAX_DEPTH) return fail(`nested deeper than ${METADATA_MAX_DEPTH} levels`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const p = walk(v[i], depth + 1);
        path.pop();
        if (p !== null) return p;
      }
      return null;
    }
    if (!isPlainObject(v)) return fail('not a plain object');
    for (const key of Object.keys(v)) {
      path.push(key);
      // An own "__proto__" key survives JSON.parse but turns into a prototype change under
      // Object.assign or a naive merge further down: refuse it here, once.
      const p =
        key === '__proto__' ? fail('"__proto__" is not allowed as a key') : (stringProblem(key) ?? walk(v[key], depth + 1));
      path.pop();
      if (p !== null) return p;
    }
    return null;
  };
  const p = walk(value, 1);
  if (p !== null) return p;
  if (Buffer.byteLength(JSON.stringify(value)) > METADATA_MAX_BYTES) {
    return { path: [], message: `too large: at most ${METADATA_MAX_BYTES} bytes serialised` };
  }
  return null;
}

/** `metadata`: a plain JSON object, bounded in depth, values and serialised size. */
export const metadata = () =>
  z.custom<Record<string, unknown>>().superRefine((v, ctx) => {
    const problem = metadataProblem(v);
    if (problem !== null) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input: v });
  });

/**
 * Per-parse error map: a missing field says "required" instead of zod's
 * "expected number, received undefined". Everything else keeps zod's message.
 */
const errorMap = (iss: { code?: string; input?: unknown }): string | undefined =>
  (iss.code === 'invalid_type' || iss.code === 'invalid_value') && iss.input === undefined ? 'required' : undefined;

/**
 * Parse or throw the validation_failed ChatError. The error map is passed only on the second,
 * failing parse: any per-parse context turns off zod's compiled fast path (about 10x slower on
 * send_message), and the success path is the hot one.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix = '', what?: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const again = schema.safeParse(input, { error: errorMap });
  throw zodToChatError(again.success ? r.error : again.error, prefix, what);
}
