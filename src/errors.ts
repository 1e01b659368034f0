/**
 * Errors and the wire. Every thrown value reaches a client through `toChatError` here: the REST
 * layer (src/net/http/reply.ts), the WebSocket gateway (`toChatError(e).toWire()`, or
 * `toWireError(e).error`), errors crossing threads (src/runtime/transport/codec.ts) and the
 * PGlite store port (src/store/pglite/remote.ts) all go through it, so one thrown value gets one
 * code, one message and one HTTP status wherever it surfaces.
 *
 * What it knows: a ChatError (RuntimeError and FrameError are ChatErrors) is already safe to show;
 * a ZodError is `validation_failed` with one detail per issue (src/protocol/zod-errors.ts); a
 * PostgreSQL server error gets the code its SQLSTATE means (src/store/pg-errors.ts: a unique
 * violation is `conflict`, a missing reference `not_found`, a refused value `validation_failed`);
 * anything else is `internal`. An `internal` error never shows its message, details or stack: the
 * client reads "internal error" and the edge that answers logs `cause`.
 */
import { z } from 'zod';
import { ChatError, INTERNAL_MESSAGE, type ErrorBody } from './chat-error.js';
import { zodToChatError } from './protocol/zod-errors.js';
import { isServerError, pgErrorToChatError } from './store/pg-errors.js';

export {
  ChatError,
  ERROR_CODES,
  HTTP_STATUS,
  isChatError,
  type ErrorCode,
  type ErrorDetail,
} from './chat-error.js';

/** Any thrown value as the ChatError a client may see (see the top of this file). */
export function toChatError(e: unknown): ChatError {
  if (e instanceof ChatError) return e;
  if (e instanceof z.core.$ZodError) return zodToChatError(e as z.ZodError);
  if (isServerError(e)) return pgErrorToChatError(e);
  return new ChatError('internal', INTERNAL_MESSAGE, { cause: e });
}

/** A thrown value as a client receives it: the error object, and the HTTP status it is sent with. */
export interface WireFailure {
  status: number;
  error: ErrorBody;
  /**
   * For `internal` only: what to log, the original failure (a ChatError's `cause` when it has
   * one). Undefined for errors that are the client's to fix.
   */
  internal: unknown;
}

/** The one conversion of a thrown value to the wire: `toChatError`, then `ChatError.toWire`. */
export function toWireError(e: unknown): WireFailure {
  const err = toChatError(e);
  return { status: err.status, error: err.toWire(), internal: err.code === 'internal' ? (err.cause ?? err) : undefined };
}

/** WebSocket close codes (PROTOCOL.md). */
export const CLOSE = Object.freeze({
  GOING_AWAY: 1001,
  TOO_LARGE: 1009,
  UNAUTHENTICATED: 4401,
  FORBIDDEN: 4403,
  AUTH_TIMEOUT: 4408,
  FLOODING: 4429,
  INTERNAL: 4500,
});
