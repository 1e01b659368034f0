/**
 * Access tokens: JWT, HS256 only, with exactly the seed's claims (PROTOCOL.md "Tokens"):
 * `user_id`, `username`, `role`, `iat`, `exp`, `aud: "veza-chat"`, `iss: "veza-auth"`, plus `sub`
 * (the user id as text), `jti` and `sid` (the session: the refresh-token family of the login).
 *
 * One verification path (`verify`) for REST, the WebSocket upgrade and the `authenticate` frame,
 * with one set of header rules: exactly `{ alg: "HS256", typ?: "JWT" }`, so `none`, any other
 * algorithm, `kid`, `jku`, `jwk`, `x5u`, `x5c`, `crit` or any other header field is refused; the
 * signature compared in constant time; the claim schema (aud, iss, no unknown claim); expiry
 * against an injectable clock; then the session's revocation (./revocations.ts), a lookup in
 * shared memory. Synchronous: every token we issue is HS256, which node:crypto checks without a
 * promise, so the upgrade can answer in the handler that received it.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { ChatError } from '../errors.js';
import type { UserRole } from '../store/types.js';
import type { RevocationSet } from './revocations.js';

const AUDIENCE = 'veza-chat';
const ISSUER = 'veza-auth';
const ALGORITHM = 'HS256';
/** Longer strings are not tokens we issue; refused before any parsing. */
const MAX_TOKEN_CHARS = 4096;

/** The only header we issue and accept: HS256, optionally typed JWT; nothing else (no `crit`). */
const headerSchema = z.object({ alg: z.literal(ALGORITHM), typ: z.literal('JWT').optional() }).strict();

const claimsSchema = z
  .object({
    user_id: z.number().int().positive(),
    username: z.string().min(1).max(255),
    role: z.enum(['user', 'moderator', 'admin']),
    iat: z.number().int(),
    exp: z.number().int(),
    aud: z.literal(AUDIENCE),
    iss: z.literal(ISSUER),
    sub: z.string().optional(),
    jti: z.string().max(64).optional(),
    /** The session (refresh-token family); absent only in operator tokens (`veza-chat token issue`). */
    sid: z.string().length(36).optional(),
  })
  .strict();

export type AccessClaims = z.infer<typeof claimsSchema>;

/** Who a token is for. */
export interface TokenSubject {
  id: number;
  username: string;
  role: UserRole;
}

export interface SignedToken {
  token: string;
  /** Seconds until it expires. */
  expiresIn: number;
  claims: AccessClaims;
}

export interface AccessTokenOptions {
  /** Default lifetime, seconds (config `auth.accessTtlS`, 900). */
  ttlS: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Revoked sessions of the node; without it (the CLI) nothing is revoked. */
  revocations?: RevocationSet;
}

export interface SignOptions {
  ttlS?: number;
  /** The session (refresh-token family) the token belongs to. */
  sid?: string;
  /** Issue time, epoch seconds (a refresh retried within its grace window gets the same token). */
  iat?: number;
  jti?: string;
}

export class AccessTokens {
  readonly #key: Uint8Array;
  readonly #ttlS: number;
  readonly #now: () => number;
  readonly #revocations: RevocationSet | null;

  constructor(secret: string, opts: AccessTokenOptions) {
    if (secret.length === 0) throw new Error('JWT secret is empty');
    this.#key = new TextEncoder().encode(secret);
    this.#ttlS = opts.ttlS;
    this.#now = opts.now ?? Date.now;
    this.#revocations = opts.revocations ?? null;
  }

  get revocations(): RevocationSet | null {
    return this.#revocations;
  }

  /**
   * A value only the holder of the secret can compute from `input` (base64url, 43 characters):
   * the refresh token that replaces `input` in a rotation, so a retried rotation gives the same one.
   */
  derive(label: string, input: string): string {
    return createHmac('sha256', this.#key).update(`${label}\0${input}`).digest('base64url');
  }

  get ttlS(): number {
    return this.#ttlS;
  }

  async sign(subject: TokenSubject, opts: SignOptions = {}): Promise<SignedToken> {
    const ttlS = opts.ttlS ?? this.#ttlS;
    const iat = opts.iat ?? Math.floor(this.#now() / 1000);
    const claims: AccessClaims = {
      user_id: subject.id,
      username: subject.username,
      role: subject.role,
      iat,
      exp: iat + ttlS,
      aud: AUDIENCE,
      iss: ISSUER,
      sub: String(subject.id),
      jti: opts.jti ?? randomUUID(),
      ...(opts.sid === undefined ? {} : { sid: opts.sid }),
    };
    const token = await new SignJWT(claims).setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' }).sign(this.#key);
    return { token, expiresIn: ttlS, claims };
  }

  /**
   * The claims of a valid, unrevoked access token; any fault is `unauthenticated` ("expired" and
   * "revoked" said apart). See the file's header for the rules.
   */
  verify(token: string): AccessClaims {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) throw invalid();
    const parts = token.split('.');
    if (parts.length !== 3) throw invalid();
    const [h, p, sig] = parts as [string, string, string];
    let header: unknown;
    let payload: unknown;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch (e) {
      throw invalid(e);
    }
    if (!headerSchema.safeParse(header).success) throw invalid();
    const expected = createHmac('sha256', this.#key).update(`${h}.${p}`).digest();
    // Node's base64url decoder is lenient ('+', '/', '=', stray low bits): only the one canonical
    // spelling of the signature counts, so a token has exactly one valid string.
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || given.toString('base64url') !== sig || !timingSafeEqual(given, expected)) throw invalid();
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw invalid(claims.error);
    if (claims.data.exp * 1000 <= this.#now()) throw new ChatError('unauthenticated', 'access token expired');
    if (this.#revocations?.isRevoked(claims.data)) throw new ChatError('unauthenticated', 'session revoked');
    return claims.data;
  }
}

function invalid(cause?: unknown): ChatError {
  return new ChatError('unauthenticated', 'invalid access token', cause === undefined ? {} : { cause });
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m ? m[1]! : null;
}
