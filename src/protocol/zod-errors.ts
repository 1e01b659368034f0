import type { z } from 'zod';
import { ChatError, type ErrorDetail } from '../chat-error.js';

/**
 * The one translation from zod issues to a `validation_failed` ChatError, for the WebSocket
 * operations, the REST bodies and any ZodError that reaches src/errors.ts toChatError.
 */

/** Details beyond this many are dropped: a client fixes the first ones first. */
const MAX_DETAILS = 20;

function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/**
 * A zod error as ChatError('validation_failed'): one detail per issue (an unknown key is one
 * detail per key, "unknown field"), paths joined with dots under `prefix` (`data` for WebSocket
 * operations, none for REST bodies), the first detail repeated in the message.
 */
export function zodToChatError(error: z.ZodError, prefix = '', what = 'invalid request'): ChatError {
  const details: ErrorDetail[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ path: formatPath(prefix, [...issue.path, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_key' && issue.issues[0] !== undefined) {
      // A bad record key: zod's own message is "Invalid key in record"; the key schema's says why.
      details.push({ path: formatPath(prefix, issue.path), message: issue.issues[0].message });
    } else {
      details.push({ path: formatPath(prefix, issue.path), message: issue.message });
    }
  }
  const shown = details.slice(0, MAX_DETAILS);
  const first = shown[0];
  const message =
    first === undefined
      ? what
      : `${what}: ${first.path === '' ? '' : `${first.path}: `}${first.message}` +
        (details.length > 1 ? ` (and ${details.length - 1} more)` : '');
  return new ChatError('validation_failed', message, { details: shown });
}
