/**
 * The error type a client may see, with no dependency on the rest of the project: the modules that
 * translate foreign errors into it (src/protocol/zod-errors.ts, src/store/pg-errors.ts,
 * src/runtime/errors.ts) import it from here, and src/errors.ts, which gathers those translations
 * into the one conversion `toChatError`, imports them. Import everything from src/errors.ts
 * elsewhere.
 */

/**
 * Stable error codes of the wire contract (PROTOCOL.md "Errors and close codes").
 * Tests match `code`, never the message text.
 */
export const ERROR_CODES = [
  'invalid_frame',
  'invalid_json',
  'validation_failed',
  'unauthenticated',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'rate_limited',
  'payload_too_large',
  'content_rejected',
  'conflict',
  'not_implemented',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The HTTP status each code maps to on the REST surface. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  invalid_frame: 400,
  invalid_json: 400,
  validation_failed: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  content_rejected: 422,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
});

/** What a client is told instead of an internal error's own message. */
export const INTERNAL_MESSAGE = 'internal error';

export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * An error as the client sees it: the `error` object of a REST reply, the `data` of a WebSocket
 * `error` frame.
 */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retry_after_ms?: number;
  details?: ErrorDetail[];
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

  /**
   * The error as the client sees it. An `internal` error says only INTERNAL_MESSAGE: its own
   * message (a timeout naming an actor, "store is closed", a thread index) is for the log.
   */
  toWire(): ErrorBody {
    if (this.code === 'internal') {
      const out: ErrorBody = { code: 'internal', message: INTERNAL_MESSAGE };
      if (this.retryAfterMs !== undefined) out.retry_after_ms = this.retryAfterMs;
      return out;
    }
    const out: ErrorBody = { code: this.code, message: this.message };
    if (this.retryAfterMs !== undefined) out.retry_after_ms = this.retryAfterMs;
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}

export function isChatError(e: unknown): e is ChatError {
  return e instanceof ChatError;
}
