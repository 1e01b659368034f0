/**
 * Revoked sessions, held in one SharedArrayBuffer that every thread of the node maps: a session
 * (a refresh-token family, the `sid` claim of its access tokens) revoked on any front is refused by
 * every front from the moment `revoke` returns, with no message between threads and no database
 * round trip per request or frame (a lookup is a few loads, no allocation).
 *
 * Why shared memory and not a Set per thread told by the main thread: a logout answered by front A
 * must make the next request on front B fail, with no window where B has not heard yet.
 *
 * What is in it: sessions revoked less than the access-token lifetime ago (older ones can only have
 * expired access tokens). The main thread fills it at start from the store (`recentRevocations`),
 * other nodes' revocations arrive over Redis (./revocation-bus.ts). Users revoked as a whole
 * (`revokeUser`, a global ban) are held too, as "tokens issued at or before this second are
 * refused"; those are not persisted (a restart reloads the users' sessions, revoked in the store).
 *
 * Layout: SLOTS slots of 8 int32 words, open addressing with linear probing:
 *   [0] seqlock word: 0 empty; odd while written; even (> 0) ready
 *   [1] kind: 1 session (key = the family UUID's 128 bits), 2 user (key = user id)
 *   [2] entry's end, seconds since the epoch (after it the slot may be reused)
 *   [3] user entries: tokens with `iat` below this (seconds) are refused
 *   [4..7] key
 * A slot is never emptied, only reused once its entry has ended, so probe chains stay intact.
 */

const SLOT_WORDS = 8;
/** 2^17 slots, 4 MiB: more sessions revoked within one access-token lifetime than any node sees. */
const SLOTS = 1 << 17;
const MASK = SLOTS - 1;
/** Probes before giving up: a chain that long means the table is nearly full. */
const MAX_PROBES = 4096;

const SESSION = 1;
const USER = 2;

/** The table, then one word counting revocations (the sockets sweep looks only when it moved). */
export const REVOCATIONS_BYTES = SLOTS * SLOT_WORDS * 4 + 4;

/** The claims a revocation check reads. */
export interface RevocableClaims {
  user_id: number;
  iat: number;
  sid?: string | undefined;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class RevocationSet {
  readonly #w: Int32Array;
  readonly #gen: Int32Array;
  readonly #key = new Int32Array(4);
  readonly #now: () => number;
  /** Revocations that found no free slot (logged by the caller; should stay 0). */
  overflows = 0;

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(REVOCATIONS_BYTES);
  }

  constructor(buffer: SharedArrayBuffer, now: () => number = Date.now) {
    if (buffer.byteLength !== REVOCATIONS_BYTES) throw new RangeError(`revocations need ${REVOCATIONS_BYTES} bytes, got ${buffer.byteLength}`);
    this.#w = new Int32Array(buffer, 0, SLOTS * SLOT_WORDS);
    this.#gen = new Int32Array(buffer, SLOTS * SLOT_WORDS * 4, 1);
    this.#now = now;
  }

  /** Whether a session id can be held here (we issue UUIDs; anything else is never revoked, so refused upstream). */
  static isSessionId(sid: string): boolean {
    return UUID_RE.test(sid);
  }

  /** Refuse every access token of session `sid` until `untilMs` (its tokens' latest possible expiry). */
  revokeSession(sid: string, untilMs: number): boolean {
    if (!this.#sessionKey(sid)) return false;
    return this.#put(SESSION, Math.ceil(untilMs / 1000), 0);
  }

  /** Refuse every access token of the user issued at or before now, until `untilMs`. */
  revokeUser(userId: number, untilMs: number): boolean {
    this.#userKey(userId);
    return this.#put(USER, Math.ceil(untilMs / 1000), Math.floor(this.#now() / 1000) + 1);
  }

  /** Whether these claims' session, or their user as of `iat`, is revoked. */
  isRevoked(claims: RevocableClaims): boolean {
    if (claims.sid !== undefined && this.#sessionKey(claims.sid) && this.#find(SESSION) >= 0) return true;
    this.#userKey(claims.user_id);
    const at = this.#find(USER);
    return at >= 0 && claims.iat < this.#w[at * SLOT_WORDS + 3]!;
  }

  /** Moves with every revocation, on any thread. */
  get generation(): number {
    return Atomics.load(this.#gen, 0);
  }

  /** Whether session `sid` is revoked (the sockets sweep). */
  isSessionRevoked(sid: string): boolean {
    return this.#sessionKey(sid) && this.#find(SESSION) >= 0;
  }

  #sessionKey(sid: string): boolean {
    if (sid.length !== 36) return false;
    const k = this.#key;
    // The UUID's 32 hex digits as four words (parseInt of 8 hex digits, then |0).
    const hex = sid.slice(0, 8) + sid.slice(9, 13) + sid.slice(14, 18) + sid.slice(19, 23) + sid.slice(24);
    for (let i = 0; i < 4; i++) {
      const v = parseInt(hex.slice(i * 8, i * 8 + 8), 16);
      if (Number.isNaN(v)) return false;
      k[i] = v | 0;
    }
    return true;
  }

  #userKey(userId: number): void {
    const k = this.#key;
    k[0] = userId | 0;
    k[1] = Math.floor(userId / 2 ** 32) | 0;
    k[2] = 0;
    k[3] = 0;
  }

  #hash(kind: number): number {
    const k = this.#key;
    let h = Math.imul(kind, 0x9e3779b1);
    for (let i = 0; i < 4; i++) h = Math.imul(h ^ k[i]!, 0x85ebca6b) ^ (h >>> 13);
    h ^= h >>> 16;
    return h & MASK;
  }

  #matches(base: number, kind: number): boolean {
    const w = this.#w;
    const k = this.#key;
    return w[base + 1] === kind && w[base + 4] === k[0] && w[base + 5] === k[1] && w[base + 6] === k[2] && w[base + 7] === k[3];
  }

  /** The slot of a live entry for the current key, or -1. */
  #find(kind: number): number {
    const w = this.#w;
    const nowS = this.#now() / 1000;
    let slot = this.#hash(kind);
    for (let i = 0; i < MAX_PROBES; i++, slot = (slot + 1) & MASK) {
      const base = slot * SLOT_WORDS;
      const s1 = Atomics.load(w, base);
      if (s1 === 0) return -1;
      if ((s1 & 1) === 0) {
        const hit = this.#matches(base, kind) && w[base + 2]! > nowS;
        // Seqlock: the slot was not rewritten while we read it.
        if (Atomics.load(w, base) === s1) {
          if (hit) return slot;
        } else {
          i--; // read it again
          slot = (slot - 1) & MASK;
        }
      }
    }
    return -1;
  }

  #put(kind: number, untilS: number, notBefore: number): boolean {
    const w = this.#w;
    const nowS = this.#now() / 1000;
    const k = this.#key;
    let slot = this.#hash(kind);
    for (let i = 0; i < MAX_PROBES; i++, slot = (slot + 1) & MASK) {
      const base = slot * SLOT_WORDS;
      const s = Atomics.load(w, base);
      if (s & 1) continue; // another thread writes it
      const same = s !== 0 && this.#matches(base, kind);
      const free = s === 0 || (!same && w[base + 2]! <= nowS);
      if (!same && !free) continue;
      if (Atomics.compareExchange(w, base, s, s + 1) !== s) {
        // Lost a race for this slot: look at it again.
        i--;
        slot = (slot - 1) & MASK;
        continue;
      }
      if (same) {
        w[base + 2] = Math.max(w[base + 2]!, untilS);
        w[base + 3] = Math.max(w[base + 3]!, notBefore);
      } else {
        w[base + 1] = kind;
        w[base + 2] = untilS;
        w[base + 3] = notBefore;
        w[base + 4] = k[0]!;
        w[base + 5] = k[1]!;
        w[base + 6] = k[2]!;
        w[base + 7] = k[3]!;
      }
      Atomics.store(w, base, s + 2 > 0x7ffffff0 ? 2 : s + 2);
      Atomics.add(this.#gen, 0, 1);
      return true;
    }
    this.overflows++;
    return false;
  }
}
