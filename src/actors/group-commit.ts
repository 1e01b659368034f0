/**
 * Group commit for one shard: every message any RoomActor of the shard accepts waits here until
 * one statement (`Store.insertMessages`: a multi-row INSERT, or COPY on PGlite) makes the whole
 * batch durable. Only then does the submitter's promise resolve, so nothing is acked or fanned out
 * before it is committed. One flush runs at a time; under load flushes are paced `intervalMs`
 * apart, so a busy shard commits a hundred large batches a second rather than a thousand small ones.
 *
 * Sequence numbers are assigned here, at flush time, not when a RoomActor accepts a send: a retried
 * `client_id` found in the database at flush time is answered with the stored message and takes no
 * seq, so the seq of a conversation never has a gap. If the insert fails, every counter it advanced
 * is put back before anyone saw a number.
 */
import { ChatError } from '../errors.js';
import type { ChangeOutcome, InsertedMessage, Message, NewMessage, StateChange } from '../store/types.js';

/** The state a RoomActor shares with the committer: its conversation's last committed-or-pending seq. */
export interface SeqCounter {
  readonly conversationId: number;
  lastSeq: number;
}

export type PendingRow = Omit<NewMessage, 'seq' | 'conversationId'>;

export interface Committed {
  message: Message;
  /** True when `client_id` matched a message stored earlier: nothing new was written. */
  duplicate: boolean;
}

export interface CommitStore {
  insertMessages(batch: NewMessage[]): Promise<InsertedMessage[]>;
  applyChange(conversationId: number, seq: number, change: StateChange, data: Record<string, unknown>): Promise<ChangeOutcome>;
  findByClientIds(pairs: ReadonlyArray<{ authorId: number; clientId: string }>): Promise<Message[]>;
}

export interface GroupCommitOptions {
  /** Flush as soon as this many rows wait. */
  maxBatch: number;
  /** With no flush in flight, wait this long for company before flushing (0: next turn). */
  windowMs: number;
  /**
   * Start a flush no sooner than this after the previous one started, unless `maxBatch` rows
   * wait (0: go again as soon as a flush ends). Under load this makes commits fewer and larger:
   * each commit has a fixed cost (a round trip to the store, a WAL write, a wake-up of every
   * thread the results go to) that small batches pay again and again. A row waits at most this
   * much longer; an idle shard's first row still waits only `windowMs`.
   */
  intervalMs?: number;
  /** Called after each flush, for metrics. */
  onFlush?: (rows: number, ms: number, failed: boolean) => void;
}

interface Entry {
  counter: SeqCounter;
  row: PendingRow;
  resolve: (c: Committed) => void;
  reject: (e: unknown) => void;
}

/** What a state change became: nothing (the state already was so), or its seq. */
export type ChangeCommitted = { applied: false } | { applied: true; seq: number; editCount?: number };

/** A state change (edit, delete, reaction, pin): its event data is made once its seq is known. */
interface ChangeEntry {
  counter: SeqCounter;
  change: StateChange;
  data: (seq: number) => Record<string, unknown>;
  resolve: (c: ChangeCommitted) => void;
  reject: (e: unknown) => void;
}

type Queued = Entry | ChangeEntry;
const isChange = (e: Queued): e is ChangeEntry => 'change' in e;

const key = (authorId: number, clientId: string) => `${authorId}:${clientId}`;

export class GroupCommitter {
  readonly #store: CommitStore;
  readonly #opts: GroupCommitOptions;
  #queue: Queued[] = [];
  #inFlight: Promise<void> | null = null;
  /** Cancels the scheduled flush (a timer, or an immediate when there is nothing to wait for). */
  #cancelTimer: (() => void) | null = null;
  /** When the last flush started (performance.now()), for `intervalMs`. */
  #lastStart = -Infinity;
  #closed = false;

  constructor(store: CommitStore, opts: GroupCommitOptions) {
    this.#store = store;
    this.#opts = opts;
  }

  get pending(): number {
    return this.#queue.length;
  }

  submit(counter: SeqCounter, row: PendingRow): Promise<Committed> {
    if (this.#closed) return Promise.reject(new Error('group committer is closed'));
    return new Promise<Committed>((resolve, reject) => {
      this.#queue.push({ counter, row, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * A state change of a conversation, ordered with its messages: it takes the conversation's next
   * seq at flush time, in the order submitted, and only if it changes anything.
   */
  submitChange(counter: SeqCounter, change: StateChange, data: (seq: number) => Record<string, unknown>): Promise<ChangeCommitted> {
    if (this.#closed) return Promise.reject(new Error('group committer is closed'));
    return new Promise<ChangeCommitted>((resolve, reject) => {
      this.#queue.push({ counter, change, data, resolve, reject });
      this.#schedule();
    });
  }

  /** Flush everything queued, including what arrives while flushing. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.#inFlight) await this.#inFlight;
      else if (this.#queue.length > 0) await this.#flushNow();
      else return;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.drain();
  }

  /**
   * Arranges the next flush. `windowMs` is the wait for company when the queue starts filling on
   * an idle committer; after a flush, the rows that arrived during it have waited already.
   */
  #schedule(windowMs = this.#opts.windowMs): void {
    if (this.#inFlight) return; // the running flush picks the queue up when it ends
    if (this.#queue.length >= this.#opts.maxBatch) {
      void this.#flushNow();
      return;
    }
    if (this.#cancelTimer !== null) return;
    const spacing = this.#lastStart + (this.#opts.intervalMs ?? 0) - performance.now();
    const delay = Math.max(windowMs, spacing);
    const fire = () => {
      this.#cancelTimer = null;
      if (!this.#inFlight && this.#queue.length > 0) void this.#flushNow();
    };
    if (delay >= 1) {
      const timer = setTimeout(fire, delay);
      this.#cancelTimer = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(fire);
      this.#cancelTimer = () => clearImmediate(immediate);
    }
  }

  #flushNow(): Promise<void> {
    if (this.#cancelTimer !== null) {
      this.#cancelTimer();
      this.#cancelTimer = null;
    }
    this.#lastStart = performance.now();
    const batch = this.#queue.splice(0, this.#opts.maxBatch);
    const run = this.#flush(batch).finally(() => {
      this.#inFlight = null;
      // Rows that arrived during the flush waited as long as it took: no window for them, only
      // the interval since this flush started (none at all when a full batch waits).
      if (this.#queue.length > 0) this.#schedule(0);
    });
    this.#inFlight = run;
    return run;
  }

  /**
   * In queue order: each run of messages in one statement, each state change in one of its own,
   * so seqs follow the order of submission and every submitter is answered in seq order.
   */
  async #flush(batch: Queued[]): Promise<void> {
    let run: Entry[] = [];
    for (const e of batch) {
      if (!isChange(e)) {
        run.push(e);
        continue;
      }
      if (run.length > 0) await this.#flushMessages(run);
      run = [];
      await this.#applyChange(e);
    }
    if (run.length > 0) await this.#flushMessages(run);
  }

  async #applyChange(e: ChangeEntry): Promise<void> {
    const started = performance.now();
    const seq = e.counter.lastSeq + 1;
    try {
      const out = await this.#store.applyChange(e.counter.conversationId, seq, e.change, e.data(seq));
      this.#opts.onFlush?.(out.applied ? 1 : 0, performance.now() - started, false);
      if (!out.applied) return e.resolve({ applied: false });
      e.counter.lastSeq = Math.max(e.counter.lastSeq, seq);
      e.resolve(out.editCount === undefined ? { applied: true, seq } : { applied: true, seq, editCount: out.editCount });
    } catch (error) {
      this.#opts.onFlush?.(0, performance.now() - started, true);
      e.reject(error);
    }
  }

  async #flushMessages(batch: Entry[]): Promise<void> {
    const started = performance.now();
    // One leader per (author, client_id) within the batch; later copies follow its outcome.
    const leaders: Entry[] = [];
    const followers = new Map<string, Entry[]>();
    const byClientKey = new Map<string, Entry>();
    for (const e of batch) {
      const cid = e.row.clientId;
      if (cid == null) {
        leaders.push(e);
        continue;
      }
      const k = key(e.row.authorId, cid);
      if (byClientKey.has(k)) {
        let list = followers.get(k);
        if (!list) followers.set(k, (list = []));
        list.push(e);
      } else {
        byClientKey.set(k, e);
        leaders.push(e);
      }
    }

    const settle = (e: Entry, outcome: Committed | { error: unknown }) => {
      const cid = e.row.clientId;
      const group = cid == null ? [e] : [e, ...(followers.get(key(e.row.authorId, cid)) ?? [])];
      group.forEach((member, i) => {
        if ('error' in outcome) member.reject(outcome.error);
        else member.resolve(i === 0 ? outcome : { message: outcome.message, duplicate: true });
      });
    };

    const saved = new Map<SeqCounter, number>();
    const putBack = () => {
      for (const [counter, seq] of saved) counter.lastSeq = seq;
      saved.clear();
    };
    const pairs = [...byClientKey.values()].map((e) => ({ authorId: e.row.authorId, clientId: e.row.clientId as string }));
    try {
      let stored: { e: Entry; message: Message }[];
      let fresh: Entry[];
      let rows: NewMessage[];
      let inserted: InsertedMessage[];
      // The first insert is optimistic: a client_id the database already holds (a retry the
      // RoomActor's window no longer remembers) fails it with a conflict, and only then are the
      // batch's client_ids looked up. A batch of new messages, nearly every batch, costs one
      // statement and one round trip to the store, not two.
      let lookUp = false;
      for (let attempt = 1; ; attempt++) {
        const found = lookUp && pairs.length > 0 ? await this.#store.findByClientIds(pairs) : [];
        const existing = new Map(found.map((m) => [key(m.author_id, m.client_id as string), m]));
        stored = [];
        fresh = [];
        rows = [];
        for (const e of leaders) {
          const old = e.row.clientId == null ? undefined : existing.get(key(e.row.authorId, e.row.clientId));
          if (old !== undefined) {
            stored.push({ e, message: old });
            continue;
          }
          if (!saved.has(e.counter)) saved.set(e.counter, e.counter.lastSeq);
          fresh.push(e);
          rows.push({ ...e.row, conversationId: e.counter.conversationId, seq: ++e.counter.lastSeq });
        }
        try {
          inserted = rows.length > 0 ? await this.#store.insertMessages(rows) : [];
          break;
        } catch (error) {
          putBack();
          // A client_id of the batch is stored already: look the batch's up, answer their senders
          // with the stored messages and insert the rest, rather than fail every other sender's
          // message. A conflict after the look-up means another shard stored the same (author,
          // client_id) between our look-up and our insert (the author reused a client_id in a
          // conversation of another shard at the same moment): look once more.
          if (attempt <= 2 && isClientIdConflict(error)) {
            lookUp = true;
            continue;
          }
          throw error;
        }
      }
      this.#opts.onFlush?.(rows.length, performance.now() - started, false);
      for (const { e, message } of stored) settle(e, { message, duplicate: true });
      fresh.forEach((e, i) => settle(e, { message: toMessage(rows[i]!, inserted[i]!), duplicate: false }));
    } catch (error) {
      // Nothing of this batch is visible: put every counter back to where the batch found it.
      putBack();
      this.#opts.onFlush?.(0, performance.now() - started, true);
      for (const e of leaders) settle(e, { error });
    }
  }
}

/** The store refused a row because its author already stored that client_id (see pg-errors.ts). */
function isClientIdConflict(e: unknown): boolean {
  return e instanceof ChatError && e.code === 'conflict' && (e.details ?? []).some((d) => d.path === 'client_id');
}

function toMessage(row: NewMessage, ins: InsertedMessage): Message {
  return {
    id: ins.id,
    uuid: ins.uuid,
    conversation_id: row.conversationId,
    seq: row.seq,
    author_id: row.authorId,
    content: row.content,
    message_type: row.messageType ?? 'text',
    parent_message_id: row.parentMessageId ?? null,
    thread_count: 0,
    status: 'sent',
    is_edited: false,
    edit_count: 0,
    is_pinned: false,
    metadata: row.metadata ?? {},
    client_id: row.clientId ?? null,
    created_at: ins.created_at,
    updated_at: ins.created_at,
    edited_at: null,
    deleted_at: null,
  };
}
