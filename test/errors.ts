/**
 * The one conversion of a thrown value to the wire (src/errors.ts toChatError / toWireError), and
 * the paths that delegate to it: ChatError.toWire (the WebSocket gateway), errorReply (REST), the
 * thread codec.
 */
import t from 'tap';
import pg from 'pg';
import { z } from 'zod';
import { ChatError, ERROR_CODES, HTTP_STATUS, toChatError, toWireError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { errorReply } from '../src/net/http/reply.js';
import { parseOrThrow } from '../src/protocol/validation.js';
import { RuntimeError } from '../src/runtime/errors.js';
import { errorFromWire, errorToWire } from '../src/runtime/transport/codec.js';

function recorder(): Logger & { lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, msg, ...(fields ? { fields } : {}) });
    };
  const logger = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

const where = { method: 'GET', path: '/x' };

t.test('the new codes and their statuses', async (t) => {
  t.equal(HTTP_STATUS.not_implemented, 501);
  t.equal(HTTP_STATUS.method_not_allowed, 405);
  t.equal(HTTP_STATUS.invalid_json, 400);
  for (const code of ERROR_CODES) t.type(HTTP_STATUS[code], 'number', code);
  t.same(toWireError(new ChatError('not_implemented', 'pins are not built')), {
    status: 501,
    error: { code: 'not_implemented', message: 'pins are not built' },
    internal: undefined,
  });
});

t.test('a ChatError keeps its code, message, details and status', async (t) => {
  const e = new ChatError('forbidden', 'not yours', { details: [{ path: 'room_id', message: 'not a member' }] });
  t.equal(toChatError(e), e, 'the same object');
  const w = toWireError(e);
  t.same(w, { status: 403, error: { code: 'forbidden', message: 'not yours', details: [{ path: 'room_id', message: 'not a member' }] }, internal: undefined });
  t.same(toChatError(e).toWire(), w.error, 'the gateway call gives the same body');
});

t.test('a RuntimeError backpressure is rate_limited, 503, with its retry hint', async (t) => {
  const e = new RuntimeError('backpressure', 'link saturated', { retryAfterMs: 250 });
  t.same(toWireError(e), { status: 503, error: { code: 'rate_limited', message: 'link saturated', retry_after_ms: 250 }, internal: undefined });
  const r = errorReply(e, where, recorder());
  t.equal(r.status, 503);
  t.same(r.body, { error: { code: 'rate_limited', message: 'link saturated', retry_after_ms: 250 } });
  t.equal(r.headers?.['retry-after'], '1', 'Retry-After in whole seconds, at least 1');
  const limited = errorReply(new ChatError('rate_limited', 'slow down', { retryAfterMs: 2100 }), where, recorder());
  t.equal(limited.status, 429);
  t.equal(limited.headers?.['retry-after'], '3');
});

t.test('a zod error is validation_failed with details, thrown raw or through parseOrThrow', async (t) => {
  const schema = z.strictObject({ name: z.string(), n: z.number() });
  const raw = (() => {
    try {
      schema.parse({ name: 1, n: 2, extra: true });
    } catch (e) {
      return e;
    }
  })();
  t.ok(raw instanceof z.ZodError, 'a real ZodError');
  const w = toWireError(raw);
  t.equal(w.status, 400);
  t.equal(w.error.code, 'validation_failed');
  t.same(w.error.details?.map((d) => d.path).sort(), ['extra', 'name']);
  t.match(w.error.message, /^invalid request: /);
  const parsed = (() => {
    try {
      parseOrThrow(schema, { name: 'x' }, 'data', 'bad op');
    } catch (e) {
      return e;
    }
  })();
  t.same(toWireError(parsed).error, { code: 'validation_failed', message: 'bad op: data.n: required', details: [{ path: 'data.n', message: 'required' }] });
});

t.test('PostgreSQL errors get the code their SQLSTATE means', async (t) => {
  const dbError = (code: string, constraint?: string): pg.DatabaseError => {
    const e = new pg.DatabaseError(`secret sql detail (${code})`, 0, 'error');
    e.code = code;
    e.severity = 'ERROR';
    if (constraint !== undefined) e.constraint = constraint;
    return e;
  };
  t.same(toWireError(dbError('23505', 'users_username_key')), {
    status: 409,
    error: { code: 'conflict', message: 'username already taken', details: [{ path: 'username', message: 'username already taken' }] },
    internal: undefined,
  });
  t.match(toWireError(dbError('23503', 'messages_parent_fkey')), { status: 404, error: { code: 'not_found', details: [{ path: 'parent_message_id' }] } });
  t.match(toWireError(dbError('22P02')), { status: 400, error: { code: 'validation_failed', message: 'invalid value' } });
  const other = dbError('42P01');
  const w = toWireError(other);
  t.same(w.error, { code: 'internal', message: 'internal error' });
  t.equal(w.status, 500);
  t.equal(w.internal, other, 'the real error is what gets logged');
});

t.test('anything else is internal: no message, no stack, no details on the wire; logged in full', async (t) => {
  const secret = new TypeError('password=hunter2 at /srv/secret.ts');
  const w = toWireError(secret);
  t.same(w, { status: 500, error: { code: 'internal', message: 'internal error' }, internal: secret });
  for (const thrown of ['a string', 42, null, undefined, { code: 'weird' }]) {
    t.same(toWireError(thrown).error, { code: 'internal', message: 'internal error' }, String(thrown));
  }
  // An internal ChatError or RuntimeError names actors, threads and timeouts: for the log only.
  const timeout = new RuntimeError('ask_timeout', 'ask room/7 timed out after 5000 ms');
  t.same(timeout.toWire(), { code: 'internal', message: 'internal error' });
  t.same(new ChatError('internal', 'store is closed', { details: [{ path: 'x', message: 'y' }] }).toWire(), {
    code: 'internal',
    message: 'internal error',
  });
  t.equal(toWireError(timeout).internal, timeout);

  const log = recorder();
  const r = errorReply(secret, where, log);
  t.equal(r.status, 500);
  t.same(r.body, { error: { code: 'internal', message: 'internal error' } });
  t.notMatch(JSON.stringify(r), /hunter2|secret\.ts/);
  t.equal(log.lines.length, 1);
  t.match(log.lines[0], { level: 'error', fields: { method: 'GET', path: '/x', err: secret } });

  const quiet = recorder();
  errorReply(new RuntimeError('stopped', 'the runtime is stopping'), where, quiet);
  t.same(quiet.lines.map((l) => l.level), ['debug'], 'a stop is expected, not an error');
  const clientError = recorder();
  errorReply(new ChatError('not_found', 'no such room'), where, clientError);
  t.same(clientError.lines, [], "a client's error is not logged");
});

t.test('across threads: the same conversion, the message kept for the log, withheld from clients', async (t) => {
  const back = errorFromWire(errorToWire(new RuntimeError('cpu_busy', 'server busy', { retryAfterMs: 900 })));
  t.ok(back instanceof RuntimeError);
  t.same(toWireError(back), { status: 503, error: { code: 'rate_limited', message: 'server busy', retry_after_ms: 900 }, internal: undefined });
  const dup = new pg.DatabaseError('dup', 0, 'error');
  Object.assign(dup, { code: '23505', severity: 'ERROR', constraint: 'users_email_key' });
  t.match(errorToWire(dup), { code: 'conflict', status: 409, details: [{ path: 'email' }] }, 'a raw pg error is mapped before it crosses');
  t.same(errorToWire(new Error('secret')), { code: 'internal', message: 'internal error', status: 500 });
  const internal = errorFromWire(errorToWire(new RuntimeError('worker_exited', 'shard 3 exited')));
  t.equal(internal.message, 'shard 3 exited', 'the receiving thread can log it');
  t.same(internal.toWire(), { code: 'internal', message: 'internal error' });
  const status = errorFromWire(errorToWire(new ChatError('rate_limited', 'busy', { status: 503, retryAfterMs: 5 })));
  t.equal(status.status, 503, 'a status override survives');
});
