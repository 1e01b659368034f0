/**
 * Writing a batch of messages with `COPY … FROM` instead of `INSERT … SELECT FROM unnest(…)`, for
 * embedded PGlite, where the executor runs in WebAssembly on the main thread and every microsecond
 * per row is paid by the whole node. Measured on this 2-core VM, batches of 32 into `messages`:
 * COPY about 45–58 µs per row, the INSERT about 120–135 µs (without foreign keys, see
 * migrations/0004). COPY has no RETURNING, so what the INSERT got back is decided here instead:
 *
 * - `id` comes from blocks of the table's own sequence (`IdBlocks`): one `nextval` + `setval`
 *   round trip per block, ids increasing in the order batches take them, so a conversation's ids
 *   follow its seqs (history pages by id, replay by seq);
 * - `uuid` is `crypto.randomUUID()` (version 4, as `gen_random_uuid()`), copied flat;
 * - `created_at` is the batch's time, with the millisecond precision the wire carries.
 *
 * The text format's escapes make any string safe: backslash, tab, newline and carriage return are
 * the only characters with a meaning in a row, and they are all escaped. Numbers are checked to be
 * integers before they are written, so no value can add a column or a row.
 */
import { ChatError } from '../errors.js';
import { flatUuid } from '../flat-uuid.js';
import type { InsertedMessage, NewMessage } from './types.js';

export const COPY_MESSAGES =
  'COPY messages (id, uuid, conversation_id, seq, author_id, content, message_type, parent_message_id, ' +
  "metadata, client_id, created_at, updated_at) FROM '/dev/blob'";

/** The UPDATE that adds each reply in `source` (rows of conversation_id, parent_message_id) to its parent's thread count. */
export const bumpThreads = (source: string): string => `
  UPDATE messages p SET thread_count = p.thread_count + r.n
    FROM (SELECT conversation_id, parent_message_id, count(*)::int AS n FROM ${source}
           WHERE parent_message_id IS NOT NULL GROUP BY conversation_id, parent_message_id) r
   WHERE p.conversation_id = r.conversation_id AND p.id = r.parent_message_id`;

/** The thread-count bump for the replies of a batch COPY wrote: `$1` conversations, `$2` parents. */
export const BUMP_THREADS = bumpThreads('unnest($1::bigint[], $2::bigint[]) AS t(conversation_id, parent_message_id)');

/** Ids per block: a restart loses at most this many ids (a gap, harmless in a bigint). */
export const ID_BLOCK = 1024;

/** Takes `$1` ids from the sequence and returns the last of them (`last - $1 + 1 .. last`). */
export const RESERVE_IDS = `SELECT setval('messages_id_seq', nextval('messages_id_seq') + $1::bigint - 1) AS last`;

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A string as a field of COPY's text format. */
export function copyField(s: string): string {
  return SPECIAL.test(s) ? s.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : s;
}

function integer(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new ChatError('validation_failed', `${path} must be an integer`, { details: [{ path, message: 'must be an integer' }] });
  }
  return v;
}

function text(v: unknown, path: string): string {
  if (typeof v !== 'string') {
    throw new ChatError('validation_failed', `${path} must be a string`, { details: [{ path, message: 'must be a string' }] });
  }
  return copyField(v);
}

export interface CopyBatch {
  /** COPY's input, one line per row. */
  data: string;
  /** What the INSERT's RETURNING gave, in input order. */
  inserted: InsertedMessage[];
  /** Replies, for BUMP_THREADS (empty when none). */
  replies: { conversations: number[]; parents: number[] };
}

/** The COPY input for `batch`, its rows taking ids `firstId ..`. */
export function copyBatch(batch: readonly NewMessage[], firstId: number, now: Date): CopyBatch {
  const at = now.toISOString();
  const inserted: InsertedMessage[] = new Array(batch.length);
  const replies = { conversations: [] as number[], parents: [] as number[] };
  let data = '';
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    const id = firstId + i;
    const uuid = flatUuid();
    const conv = integer(m.conversationId, 'conversation_id');
    const parent = m.parentMessageId == null ? null : integer(m.parentMessageId, 'parent_message_id');
    if (parent !== null) {
      replies.conversations.push(conv);
      replies.parents.push(parent);
    }
    data +=
      `${id}\t${uuid}\t${conv}\t${integer(m.seq, 'seq')}\t${integer(m.authorId, 'author_id')}\t` +
      `${text(m.content, 'content')}\t${text(m.messageType ?? 'text', 'message_type')}\t${parent ?? '\\N'}\t` +
      `${copyField(JSON.stringify(m.metadata ?? {}))}\t${m.clientId == null ? '\\N' : text(m.clientId, 'client_id')}\t${at}\t${at}\n`;
    inserted[i] = { id, uuid, created_at: at };
  }
  return { data, inserted, replies };
}

/**
 * Ids from the messages sequence in blocks. Takes are served in call order and each is one
 * contiguous range, so ids increase in the order batches take them, across blocks too (a new
 * block always starts after every id the sequence handed out before).
 */
export class IdBlocks {
  readonly #reserve: (n: number) => Promise<number>;
  #next = 0;
  #end = 0;
  /** Takes waiting for a block: while any wait, later takes queue behind them. */
  #waiting = 0;
  #queue: Promise<unknown> = Promise.resolve();

  /** `reserve(n)` takes `n` ids from the sequence and returns the last of them. */
  constructor(reserve: (n: number) => Promise<number>) {
    this.#reserve = reserve;
  }

  /** The first of `n` consecutive fresh ids. */
  take(n: number): Promise<number> {
    if (this.#waiting === 0 && this.#end - this.#next >= n) {
      const first = this.#next;
      this.#next += n;
      return Promise.resolve(first);
    }
    this.#waiting++;
    const run = this.#queue
      .then(async () => {
        if (this.#end - this.#next < n) {
          const size = Math.max(ID_BLOCK, n);
          const last = await this.#reserve(size);
          this.#next = last - size + 1;
          this.#end = last + 1;
        }
        const first = this.#next;
        this.#next += n;
        return first;
      })
      .finally(() => {
        this.#waiting--;
      });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
