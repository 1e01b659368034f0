/**
 * Stable error codes of the wire contract (PROTOCOL.md "Errors and close codes").
 * Tests match `code`, never the message text.
 */
export const ERROR_CODES = [
  'invalid_frame',
  'validation_failed',
  'unauthenticated',
  'forbidden',
  'not_found',
  'rate_limited',
  'payload_too_large',
  'content_rejected',
  'conflict',
  'internal',
  'not_implemented',
  'method_not_allowed',
  'invalid_json',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The HTTP status each code maps to on the REST surface. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  invalid_frame: 400,
  validation_failed: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  content_rejected: 422,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
  method_not_allowed: 405,
  invalid_json: 400,
});

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error that is safe to show a client: a stable code, a message, optional details. */
export class ChatError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[] | undefined;
  readonly retryAfterMs: number | undefined;
  readonly #status: number | undefined;

  /**
   * `status` overrides the code's usual HTTP status where the contract needs it: an overloaded
   * server answers `rate_limited` with 503 (the code list of PROTOCOL.md has no "unavailable").
   */
  constructor(
    code: ErrorCode,
    message: string,
    opts: { details?: ErrorDetail[]; retryAfterMs?: number; status?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ChatError';
    this.code = code;
    this.details = opts.details;
    this.retryAfterMs = opts.retryAfterMs;
    this.#status = opts.status;
  }

  get status(): number {
    return this.#status ?? HTTP_STATUS[this.code];
  }

  /** The `error.data` object of a WebSocket error frame. */
  toWire(): { code: ErrorCode; message: string; retry_after_ms?: number; details?: ErrorDetail[] } {
    const out: { code: ErrorCode; message: string; retry_after_ms?: number; details?: ErrorDetail[] } = {
      code: this.code,
      message: this.message,
    };
    if (this.retryAfterMs !== undefined) out.retry_after_ms = this.retryAfterMs;
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}

export function isChatError(e: unknown): e is ChatError {
  return e instanceof ChatError;
}

/** Anything that is not a ChatError becomes `internal`, without leaking its message. */
export function toChatError(e: unknown): ChatError {
  if (e instanceof ChatError) return e;
  return new ChatError('internal', 'internal error', { cause: e });
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
