import type { z } from 'zod';
import { ChatError } from '../../errors.js';
import { idParam as idParamSchema } from '../../protocol/rest.js';
import { parseOrThrow } from '../../protocol/validation.js';
import type { Request } from './types.js';

/**
 * The REST side of input checking. zod issues become `validation_failed` with `details` through
 * the one translation the WebSocket side uses too (src/protocol/validation.ts), so both surfaces
 * report the same paths and messages.
 */
function parseWith<S extends z.ZodType>(schema: S, value: unknown, what = 'invalid request body'): z.output<S> {
  return parseOrThrow(schema, value, '', what);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body as JSON (undefined when empty). Bytes that are not UTF-8 JSON are 400 `invalid_json`;
 * what the JSON says is checked afterwards (`validation_failed`).
 */
export function readJson(req: Pick<Request, 'body'>): unknown {
  if (req.body.length === 0) return undefined;
  try {
    return JSON.parse(utf8.decode(req.body));
  } catch (e) {
    throw new ChatError('invalid_json', 'request body is not valid JSON', { cause: e });
  }
}

/** The body as JSON checked against `schema`; a misfit (an empty body too) is `validation_failed`. */
export function jsonBody<S extends z.ZodType>(req: Pick<Request, 'body'>, schema: S): z.output<S> {
  return parseWith(schema, readJson(req));
}

/** A path parameter `:name` that must be a positive integer id (details name the parameter). */
export function idParam(req: Pick<Request, 'params'>, name: string): number {
  return parseOrThrow(idParamSchema, req.params[name] ?? '', name, `invalid ${name}`);
}
