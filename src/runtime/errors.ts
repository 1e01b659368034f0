/**
 * Errors the runtime raises itself. They are ChatErrors (so a front can answer a client with the
 * wire contract's code) with one more stable field, `reason`, that says which runtime condition
 * it was. Tests and callers match `code` and `reason`, never the message text.
 */
import { ChatError, type ErrorCode } from '../chat-error.js';

export const RUNTIME_REASONS = [
  /** An ask got no reply within its timeout. */
  'ask_timeout',
  /** The thread hosting the actor (or the caller's peer) exited; the reply will never come. */
  'worker_exited',
  /** An envelope packed larger than `runtime.maxEnvelopeBytes`: refused, never truncated. */
  'envelope_too_large',
  /** A link's overflow queue is full: the caller must wait for drain before sending more. */
  'backpressure',
  /** The CPU pool's queue is full. */
  'cpu_busy',
  /** No actor kind of that name is registered on the shard. */
  'unknown_kind',
  /** The runtime is stopping or stopped. */
  'stopped',
] as const;

export type RuntimeReason = (typeof RUNTIME_REASONS)[number];

const CODE: Readonly<Record<RuntimeReason, ErrorCode>> = {
  ask_timeout: 'internal',
  worker_exited: 'internal',
  envelope_too_large: 'payload_too_large',
  backpressure: 'rate_limited',
  cpu_busy: 'rate_limited',
  unknown_kind: 'internal',
  stopped: 'internal',
};

/** Overloaded answers are `rate_limited` with HTTP 503 (PROTOCOL.md has no "unavailable" code). */
const STATUS: Partial<Record<RuntimeReason, number>> = { backpressure: 503, cpu_busy: 503 };

export class RuntimeError extends ChatError {
  readonly reason: RuntimeReason;

  constructor(reason: RuntimeReason, message: string, opts: { retryAfterMs?: number; cause?: unknown } = {}) {
    const status = STATUS[reason];
    super(CODE[reason], message, {
      ...(opts.retryAfterMs !== undefined ? { retryAfterMs: opts.retryAfterMs } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(opts.cause !== undefined ? { cause: opts.cause } : {}),
    });
    this.name = 'RuntimeError';
    this.reason = reason;
  }
}

export function isRuntimeError(e: unknown, reason?: RuntimeReason): e is RuntimeError {
  return e instanceof RuntimeError && (reason === undefined || e.reason === reason);
}
