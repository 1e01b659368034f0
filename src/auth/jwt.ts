/**
 * Access tokens: JWT, HS256 only, with exactly the seed's claims (PROTOCOL.md "Tokens"):
 * `user_id`, `username`, `role`, `iat`, `exp`, `aud: "veza-chat"`, `iss: "veza-auth"`, plus `sub`
 * (the user id as text) and `jti`. Verification pins the algorithm, the audience and the issuer,
 * checks expiry against an injectable clock, and refuses any other claim.
 */
import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { ChatError } from '../errors.js';
import type { UserRole } from '../store/types.js';

export const AUDIENCE = 'veza-chat';
export const ISSUER = 'veza-auth';
export const ALGORITHM = 'HS256';
/** Longer strings are not tokens we issue; refused before any parsing. */
const MAX_TOKEN_CHARS = 4096;

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
