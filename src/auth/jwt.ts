/**
 * Access tokens: JWT, HS256 only, with exactly the seed's claims (PROTOCOL.md "Tokens"):
 * `user_id`, `username`, `role`, `iat`, `exp`, `aud: "veza-chat"`, `iss: "veza-auth"`, plus `sub`
 * (the user id as text) and `jti`. Verification pins the algorithm, the audience and the issuer,
 * checks expiry against an injectable clock, and refuses any other claim.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { ChatError } from '../errors.js';
import type { UserRole } from '../store/types.js';

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
    jti: z.string().optional(),
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
}

export class AccessTokens {
  readonly #key: Uint8Array;
  readonly #ttlS: number;
  readonly #now: () => number;

  constructor(secret: string, opts: AccessTokenOptions) {
    if (secret.length === 0) throw new Error('JWT secret is empty');
    this.#key = new TextEncoder().encode(secret);
    this.#ttlS = opts.ttlS;
    this.#now = opts.now ?? Date.now;
  }

  get ttlS(): number {
    return this.#ttlS;
  }

  async sign(subject: TokenSubject, opts: { ttlS?: number } = {}): Promise<SignedToken> {
    const ttlS = opts.ttlS ?? this.#ttlS;
    const iat = Math.floor(this.#now() / 1000);
    const claims: AccessClaims = {
      user_id: subject.id,
      username: subject.username,
      role: subject.role,
      iat,
      exp: iat + ttlS,
      aud: AUDIENCE,
      iss: ISSUER,
      sub: String(subject.id),
      jti: randomUUID(),
    };
    const token = await new SignJWT(claims).setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' }).sign(this.#key);
    return { token, expiresIn: ttlS, claims };
  }

  /**
   * `verify` without a promise, for the WebSocket upgrade: uWS upgrades a request best in the
   * handler that received it, and every token we issue is HS256 with a fixed header, which
   * node:crypto checks synchronously. Same rules: header `alg` exactly HS256 (no `crit`, no other
   * algorithm), signature compared in constant time, then the same claim schema (aud, iss, no
   * unknown claim) and expiry.
   */
  verifySync(token: string): AccessClaims {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) throw invalid();
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
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw invalid(claims.error);
    if (claims.data.exp * 1000 <= this.#now()) throw new ChatError('unauthenticated', 'access token expired');
    return claims.data;
  }

  /** The claims of a valid token; any fault is `unauthenticated` ("expired" said apart). */
  async verify(token: string): Promise<AccessClaims> {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) throw invalid();
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: [ALGORITHM],
        audience: AUDIENCE,
        issuer: ISSUER,
        requiredClaims: ['iat', 'exp'],
        currentDate: new Date(this.#now()),
      }));
    } catch (e) {
      if (e instanceof errors.JWTExpired) throw new ChatError('unauthenticated', 'access token expired', { cause: e });
      throw invalid(e);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw invalid(claims.error);
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
