/**
 * What a new password may not be (issue 17): one of the common passwords (./common-passwords.ts,
 * 5,000 of 8 characters or more, from the zxcvbn frequency list), or the username in it, or it in
 * the username (case-insensitive). Refused with `validation_failed` on `password` (registration)
 * or `new_password` (password change), before any hashing.
 */
import { ChatError } from '../errors.js';
import { COMMON_PASSWORDS } from './common-passwords.js';

let common: Set<string> | null = null;

export function checkNewPassword(username: string, password: string, field = 'password'): void {
  common ??= new Set(COMMON_PASSWORDS.split('\n'));
  const p = password.normalize('NFC').toLowerCase();
  const u = username.normalize('NFC').toLowerCase();
  let why: string | null = null;
  if (common.has(p)) why = 'is one of the most common passwords';
  else if (p.includes(u) || (p.length >= 4 && u.includes(p))) why = 'must not contain the username';
  if (why !== null) {
    throw new ChatError('validation_failed', `${field} ${why}`, { details: [{ path: field, message: why }] });
  }
}
