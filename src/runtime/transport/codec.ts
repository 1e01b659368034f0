/**
 * How values cross threads: msgpackr in its default self-describing mode without records, so any
 * record decodes alone (no shared structures to keep in step across a restart). Measured here it is
 * also the fastest mode for small one-shot envelopes (a record definition would ride in each one).
 * Decoding copies binary fields (`copyBuffers`) because a record is read in place in shared memory
 * that the producer reuses as soon as the read index moves on.
 *
 * Errors travel as plain objects (errorToWire, errorFromWire, also used by the PGlite store port):
 * a ChatError keeps its code, message, status, retry hint, details and runtime reason across the
 * boundary; anything else first goes through src/errors.ts toChatError, the one conversion.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ChatError, ERROR_CODES, toChatError, type ErrorCode, type ErrorDetail } from '../../errors.js';
import { RUNTIME_REASONS, RuntimeError, type RuntimeReason } from '../errors.js';

export interface Codec {
  pack(value: unknown): Uint8Array;
  unpack(bytes: Uint8Array, start: number, end: number): unknown;
}

export function createCodec(): Codec {
  const packr = new Packr({ useRecords: false });
  const unpackr = new Unpackr({ useRecords: false, copyBuffers: true });
  return {
    pack: (value) => packr.pack(value),
    // A number as second argument is the end offset: no options object per record.
    unpack: (bytes, start, end) =>
      start === 0 ? unpackr.unpack(bytes as Buffer, end) : unpackr.unpack(bytes as Buffer, { start, end }),
  };
}

/**
 * An error as it crosses a thread boundary: the ChatError `toChatError` (src/errors.ts) made of
 * the thrown value, in full. The message of an `internal` error travels too, for the log of the
 * thread that receives it; `ChatError.toWire` withholds it from clients there.
 */
export interface WireError {
  code: ErrorCode;
  message: string;
  status: number;
  retryAfterMs?: number;
  details?: ErrorDetail[];
  reason?: RuntimeReason;
}

export function errorToWire(e: unknown): WireError {
  const err = toChatError(e);
  const out: WireError = { code: err.code, message: err.message, status: err.status };
  if (err.retryAfterMs !== undefined) out.retryAfterMs = err.retryAfterMs;
  if (err.details !== undefined) out.details = err.details;
  if (err instanceof RuntimeError) out.reason = err.reason;
  return out;
}

/** The ChatError (a RuntimeError when it carries a known `reason`) a WireError was made from. */
export function errorFromWire(w: WireError): ChatError {
  const retry = w.retryAfterMs !== undefined ? { retryAfterMs: w.retryAfterMs } : {};
  if (w.reason !== undefined && (RUNTIME_REASONS as readonly string[]).includes(w.reason)) {
    return new RuntimeError(w.reason, w.message, retry);
  }
  const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(w.code) ? w.code : 'internal';
  return new ChatError(code, w.message, {
    ...retry,
    ...(w.details !== undefined ? { details: w.details } : {}),
    ...(typeof w.status === 'number' ? { status: w.status } : {}),
  });
}
