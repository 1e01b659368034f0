import { STATUS_CODES } from 'node:http';
import { toWireError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isRuntimeError } from '../../runtime/errors.js';
import { countError } from '../../metrics/index.js';
import type { Reply, Request } from './types.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply =>
  headers ? { status, body, headers } : { status, body };

export const noContent = (): Reply => ({ status: 204 });

export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/**
 * Any thrown value as a reply, through the one conversion (src/errors.ts toWireError): the body is
 * `{ error: { code, message, retry_after_ms?, details? } }` with the code's HTTP status, plus
 * `Retry-After` in whole seconds on 429 and 503 when there is a retry hint. An `internal` error is
 * a 500 that says "internal error"; the real failure goes to the log.
 */
export function errorReply(e: unknown, req: Pick<Request, 'method' | 'path'>, log: Logger): Reply {
  const { status, error, internal } = toWireError(e);
  // A graceful stop settles requests still in flight as `stopped`: expected, not a failure.
  if (isRuntimeError(e, 'stopped')) log.debug('request cut short by the stop', { method: req.method, path: req.path });
  else {
    countError(error.code);
    if (internal !== undefined) log.error('request failed', { method: req.method, path: req.path, err: internal });
  }
  const headers: Record<string, string> = {};
  if ((status === 429 || status === 503) && error.retry_after_ms !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(error.retry_after_ms / 1000)));
  }
  return { status, body: { error }, headers };
}
