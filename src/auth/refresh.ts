/**
 * Opaque refresh tokens: 32 random bytes, base64url (43 characters). Only the SHA-256 of a token
 * is stored, so a database leak does not leak usable tokens. Each login starts a family; rotation
 * keeps the family, and reusing a spent token revokes it (the store does that atomically).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

const TOKEN_BYTES = 32;
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export interface NewRefreshToken {
  /** Given to the client once. */
  token: string;
  /** Stored. */
  hash: string;
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newRefreshToken(): NewRefreshToken {
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export const newFamilyId = (): string => randomUUID();

/** Whether `token` could be one of ours (saves a database round trip for garbage). */
export const isWellFormedRefreshToken = (token: string): boolean => TOKEN_RE.test(token);
