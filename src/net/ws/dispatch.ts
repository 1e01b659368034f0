/**
 * A frame from an authenticated socket, to its one reply: decode, validate against the
 * operation's schema, refuse while the shards are saturated, run the handler from the table
 * (./ops), and send exactly one reply to a request with an `id` (`ack` or `error`); without an
 * `id`, the operation's own event, or an `error`.
 */
import type { Caller } from '../../actors/messages.js';
import { ChatError, toChatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { parseClientFrame, type ClientOp, type ClientSchemas } from '../../protocol/client-ops.js';
import { isRuntimeError } from '../../runtime/errors.js';
import { countError, countReceived, processingOf } from '../../metrics/index.js';
import type { HistogramChild } from '../../metrics/hot.js';
import type { Conn } from './conn.js';
import { handlerFor, REPLY_EVENT } from './ops/index.js';
import type { GatewayCore, OpContext } from './ops/types.js';

export class Dispatcher {
  readonly #core: GatewayCore;
  readonly #schemas: ClientSchemas;
  readonly #log: Logger;
  /** The rings to the shards are full (see Gateway.pause). */
  paused = false;

  constructor(core: GatewayCore, schemas: ClientSchemas, log: Logger) {
    this.#core = core;
    this.#schemas = schemas;
    this.#log = log;
  }

  /** A decoded envelope (not `authenticate`) from an authenticated socket. */
  dispatch(conn: Conn, user: Caller, envelope: { type: string; id?: string; data?: Record<string, unknown> }): void {
    let op: ClientOp;
    try {
      op = parseClientFrame(envelope, this.#schemas);
    } catch (e) {
      this.fail(conn, e, envelope.id);
      return;
    }
    const handler = handlerFor(op);
    if (handler === undefined) {
      this.fail(conn, new ChatError('validation_failed', `unknown operation "${op.type}"`), op.id);
      return;
    }
    if (this.paused && op.type !== 'ping') {
      this.fail(conn, new ChatError('rate_limited', 'server busy', { retryAfterMs: 100 }), op.id);
      return;
    }
    if (op.type === 'send_message' || op.type === 'send_dm') countReceived(op.type === 'send_dm' ? 'dm' : 'room', op.data.content);
    const ctx = new Reply(this, conn, user, op);
    let result;
    try {
      result = handler(ctx, op.data as never);
    } catch (e) {
      ctx.fail(e);
      return;
    }
    if (result === undefined) return; // the handler replies itself
    Promise.resolve(result).then(
      (data) => {
        if (data !== undefined) ctx.reply(data);
      },
      (e: unknown) => ctx.fail(e),
    );
  }

  get core(): GatewayCore {
    return this.#core;
  }

  fail(conn: Conn, e: unknown, replyTo: string | undefined): void {
    const err = toChatError(e);
    // A graceful stop settles what is still in flight as `stopped`: expected, and the socket is
    // closing with 1001 (the client retries with its client_id).
    if (isRuntimeError(e, 'stopped')) this.#log.debug('operation cut short by the stop', { reply_to: replyTo });
    else {
      countError(err.code);
      if (err.code === 'internal') this.#log.error('operation failed', { err: e, user_id: conn.user?.id, session_id: conn.sessionId, reply_to: replyTo });
    }
    this.#core.send(conn, 'error', err.toWire(), replyTo);
  }
}

/** One request's reply, sent once. */
class Reply implements OpContext {
  readonly gw: GatewayCore;
  readonly id: string | undefined;
  readonly #dispatcher: Dispatcher;
  readonly #type: ClientOp['type'];
  #done = false;
  /** For the processing-duration histogram: its child for this operation, and the start. */
  readonly #timing: HistogramChild;
  readonly #started = performance.now();

  constructor(
    dispatcher: Dispatcher,
    readonly conn: Conn,
    readonly user: Caller,
    op: ClientOp,
  ) {
    this.#dispatcher = dispatcher;
    this.gw = dispatcher.core;
    this.id = op.id;
    this.#type = op.type;
    this.#timing = processingOf(op.type);
  }

  reply(data: object): void {
    if (this.#done) return;
    this.#done = true;
    this.#timing.observe((performance.now() - this.#started) / 1000);
    if (this.id !== undefined) return this.gw.send(this.conn, 'ack', data, this.id);
    const event = REPLY_EVENT[this.#type as keyof typeof REPLY_EVENT];
    if (event === 'pong') this.gw.send(this.conn, 'pong', undefined);
    else if (event !== undefined) this.gw.send(this.conn, event, data as never);
  }

  fail(err: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#timing.observe((performance.now() - this.#started) / 1000);
    this.#dispatcher.fail(this.conn, err, this.id);
  }
}
