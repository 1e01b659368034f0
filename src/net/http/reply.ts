import { STATUS_CODES } from 'node:http';
import { toChatError, type ChatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isRuntimeError } from '../../runtime/errors.js';
import type { Reply, Request } from './types.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply =>
  headers ? { status, body, headers } : { status, body };

export const noContent = (): Reply => ({ status: 204 });

export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/**
 * Any thrown value as a reply. A ChatError keeps its code, status, details and retry hint
 * (`Retry-After` in whole seconds on 429 and 503); anything else is a 500 `internal` whose message
 * is logged, never sent.
 */
export function errorReply(e: unknown, req: Pick<Request, 'method' | 'path'>, log: Logger): Reply {
  const err: ChatError = toChatError(e);
  // A graceful stop settles requests still in flight as `stopped`: expected, not a failure.
  if (isRuntimeError(e, 'stopped')) log.debug('request cut short by the stop', { method: req.method, path: req.path });
  else if (err.code === 'internal') {
    log.error('request failed', { method: req.method, path: req.path, err: err.cause ?? err });
  }
  const headers: Record<string, string> = {};
  if ((err.status === 429 || err.status === 503) && err.retryAfterMs !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
  }
  const body: { code: string; message: string; details?: unknown; retry_after_ms?: number } = {
    code: err.code,
    message: err.message,
  };
  if (err.details !== undefined) body.details = err.details;
  if (err.retryAfterMs !== undefined) body.retry_after_ms = err.retryAfterMs;
  return { status: err.status, body: { error: body }, headers };
}
