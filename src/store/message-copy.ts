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
 * - `uuid` is `crypto.randomUUID()` (version 4, as `gen_random_uuid()`);
 * - `created_at` is the batch's time, with the millisecond precision the wire carries.
 *
 * The input is COPY's binary format: every field is length-prefixed, so no value can add a field or
 * a row whatever it contains, and the database parses no text for the numbers, uuids and times
 * (measured against the text format, batches of 100, encoding included: 15.0 → 12.2 µs per row).
 * Numbers are checked to be integers and `client_id` to be a uuid before they are written.
 */
import { ChatError } from '../errors.js';
import { flatUuid } from '../flat-uuid.js';
import type { InsertedMessage, NewMessage } from './types.js';

export const COPY_MESSAGES =
  'COPY messages (id, uuid, conversation_id, seq, author_id, content, message_type, parent_message_id, ' +
  "metadata, client_id, created_at, updated_at) FROM '/dev/blob' WITH (FORMAT binary)";

/** Fields per row of COPY_MESSAGES. */
const FIELDS = 12;

/** The UPDATE that adds each reply in `source` (rows of conversation_id, parent_message_id) to its parent's thread count. */
export const bumpThreads = (source: string): string => `
  UPDATE messages p SET thread_count = p.thread_count + r.n
    FROM (SELECT conversation_id, parent_message_id, count(*)::int AS n FROM ${source}
           WHERE parent_message_id IS NOT NULL GROUP BY conversation_id, parent_message_id) r
   WHERE p.conversation_id = r.conversation_id AND p.id = r.parent_message_id`;

/**
 * The thread-count bump for the replies of a batch COPY wrote: `$1` conversations, `$2` parents.
 * It runs after the COPY in the same transaction (PgStoreOptions.copyMessages), as a statement of
 * its own, so it sees the rows the COPY wrote: a parent written by the same batch is bumped too.
 */
export const BUMP_THREADS = bumpThreads('unnest($1::bigint[], $2::bigint[]) AS t(conversation_id, parent_message_id)');

/** Ids per block: a restart loses at most this many ids (a gap, harmless in a bigint). */
const ID_BLOCK = 1024;

/** Takes `$1` ids from the sequence and returns the last of them (`last - $1 + 1 .. last`). */
export const RESERVE_IDS = `SELECT setval('messages_id_seq', nextval('messages_id_seq') + $1::bigint - 1) AS last`;

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
  return v;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function uuid(v: unknown, path: string): void {
  if (typeof v !== 'string' || !UUID.test(v)) {
    throw new ChatError('validation_failed', `${path} must be a uuid`, { details: [{ path, message: 'must be a uuid' }] });
  }
}

export interface CopyBatch {
  /** COPY's binary input: header, one tuple per row, trailer. */
  data: Uint8Array;
  /** What the INSERT's RETURNING gave, in input order. */
  inserted: InsertedMessage[];
  /** Replies, for BUMP_THREADS (empty when none). */
  replies: { conversations: number[]; parents: number[] };
}

/** "PGCOPY\n\377\r\n\0", then the flags and the header extension's length (both 0). */
const HEADER = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
/** Milliseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC); its timestamps count microseconds from there. */
const PG_EPOCH_MS = 946_684_800_000;
/** Bytes of a row besides its strings: field count, 12 lengths, the fixed-size values. */
const ROW_FIXED = 2 + FIELDS * 4 + 8 + 16 + 8 + 8 + 8 + 8 + 1 + 16 + 8 + 8;

/** Writes the integer `v` (|v| < 2^53) as a big-endian int8 at `o`. */
function int8(b: Buffer, o: number, v: number): number {
  const hi = Math.floor(v / 4294967296);
  b.writeInt32BE(hi, o);
  b.writeUInt32BE(v - hi * 4294967296, o + 4);
  return o + 8;
}

/** A length-prefixed field holding an int8. */
function int8Field(b: Buffer, o: number, v: number): number {
  b.writeInt32BE(8, o);
  return int8(b, o + 4, v);
}

/** A length-prefixed UTF-8 field (`prefix`, when given, is one byte before the text: jsonb's version). */
function textField(b: Buffer, o: number, s: string, prefix = -1): number {
  let at = o + 4;
  if (prefix >= 0) b[at++] = prefix;
  const n = b.write(s, at, 'utf8');
  b.writeInt32BE(at - o - 4 + n, o);
  return at + n;
}

function nullField(b: Buffer, o: number): number {
  b.writeInt32BE(-1, o);
  return o + 4;
}

/** A uuid field from its text form (checked by `uuid`, or made by `flatUuid`). */
function uuidField(b: Buffer, o: number, s: string): number {
  b.writeInt32BE(16, o);
  b.write(s.replaceAll('-', ''), o + 4, 'hex');
  return o + 20;
}

/** The COPY input for `batch`, its rows taking ids `firstId ..`. */
export function copyBatch(batch: readonly NewMessage[], firstId: number, now: Date): CopyBatch {
  const at = now.toISOString();
  const pgTime = (now.getTime() - PG_EPOCH_MS) * 1000;
  const inserted: InsertedMessage[] = new Array(batch.length);
  const replies = { conversations: [] as number[], parents: [] as number[] };
  // Every row checked first (a bad one writes nothing), and sized: the buffer's size needs the strings.
  const metas: string[] = new Array(batch.length);
  let size = HEADER.length + 2;
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    integer(m.conversationId, 'conversation_id');
    integer(m.seq, 'seq');
    integer(m.authorId, 'author_id');
    if (m.parentMessageId != null) integer(m.parentMessageId, 'parent_message_id');
    if (m.clientId != null) uuid(m.clientId, 'client_id');
    const meta = (metas[i] = JSON.stringify(m.metadata ?? {}));
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    size += ROW_FIXED + 3 * (text(m.content, 'content').length + meta.length + text(m.messageType ?? 'text', 'message_type').length);
  }
  const b = Buffer.allocUnsafe(size);
  let o = HEADER.copy(b, 0);
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    const id = firstId + i;
    const u = flatUuid();
    o = b.writeInt16BE(FIELDS, o);
    o = int8Field(b, o, id);
    o = uuidField(b, o, u);
    o = int8Field(b, o, m.conversationId);
    o = int8Field(b, o, m.seq);
    o = int8Field(b, o, m.authorId);
    o = textField(b, o, m.content);
    // An enum's binary form is its label.
    o = textField(b, o, m.messageType ?? 'text');
    if (m.parentMessageId == null) o = nullField(b, o);
    else {
      o = int8Field(b, o, m.parentMessageId);
      replies.conversations.push(m.conversationId);
      replies.parents.push(m.parentMessageId);
    }
    // jsonb's binary form: version 1, then the text.
    o = textField(b, o, metas[i]!, 1);
    o = m.clientId == null ? nullField(b, o) : uuidField(b, o, m.clientId);
    o = int8Field(b, o, pgTime);
    o = int8Field(b, o, pgTime);
    inserted[i] = { id, uuid: u, created_at: at };
  }
  o = b.writeInt16BE(-1, o);
  return { data: b.subarray(0, o), inserted, replies };
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
