import { randomUUID } from 'node:crypto';

/**
 * A random UUID (version 4) as a flat string. Node builds `randomUUID()` by concatenating its
 * parts, and V8 keeps that as a rope of about 14 cons-string nodes (some 450 bytes instead of 56)
 * for as long as the string lives: on every connection for its whole life, on every message the
 * recent window holds. One copy through latin1 makes it one sequential string.
 */
export function flatUuid(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
}
