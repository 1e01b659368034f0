/**
 * What a new password may not be (issue 17): one of the common passwords (./common-passwords.ts,
 * 5,000 of 8 characters or more, from the zxcvbn frequency list), or the username with at most a
 * few characters or only digits and symbols around it ("alice", "Alice2024!", "ecila"), or a part of
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
  else if (aroundUsername(p, u) || aroundUsername(p, [...u].reverse().join('')) || u.includes(p)) why = 'must not be made of the username';
  if (why !== null) {
    throw new ChatError('validation_failed', `${field} ${why}`, { details: [{ path: field, message: why }] });
  }
}

/** `p` is `u` with fewer than 4 other characters, or only digits and symbols, around it. */
function aroundUsername(p: string, u: string): boolean {
  const at = p.indexOf(u);
  if (at < 0) return false;
  const rest = p.slice(0, at) + p.slice(at + u.length);
  return rest.length < 4 || !/\p{L}/u.test(rest);
}
