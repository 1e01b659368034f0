/**
 * What an operation handler sees. A handler gets the validated `data` of its frame and either
 * returns (or resolves with) the reply's data, or, when the reply must go out in the same turn as
 * an actor's answer (join, resume: see ../fanout.ts), calls `ctx.reply` itself and returns
 * nothing. A thrown or rejected error becomes the `error` reply.
 */
import type { ActorCaller, Caller } from '../../../actors/messages.js';
import type { ClientOpData, ClientOpType } from '../../../protocol/client-ops.js';
import type { ServerEventDataMap, ServerEventType } from '../../../protocol/events.js';
import type { Conn } from '../conn.js';
import type { Fanout } from '../fanout.js';
import type { Action } from '../flood.js';
import type { Budgets } from '../../../limits/budgets.js';
import type { ContentPipeline } from '../../../content/pipeline.js';

/** What the gateway offers handlers. */
export interface GatewayCore {
  readonly actors: ActorCaller;
  /** This front thread's index. */
  readonly front: number;
  readonly fanout: Fanout;
  send<K extends ServerEventType>(conn: Conn, type: K, data: ServerEventDataMap[K], replyTo?: string): void;
  /** Take `count` (default 1) operations of `action` for the user, or throw `rate_limited`. */
  limit(conn: Conn, userId: number, action: Action, count?: number): void;
  /** The user's adaptive budgets (the content pipeline penalises spammers through it). */
  readonly budgets: Budgets;
  /** What message content must be, and what is stored of it (src/content/pipeline.ts). */
  readonly content: ContentPipeline;
  /** Record that the socket joined the conversation and put it on the topic. False: the socket is gone. */
  subscribe(conn: Conn, conversationId: number): boolean;
  unsubscribe(conn: Conn, conversationId: number): void;
  /** The connection's session actor id, sending it `open` first if it never was. */
  session(conn: Conn): string;
}

export interface OpContext {
  readonly conn: Conn;
  readonly user: Caller;
  readonly gw: GatewayCore;
  /** The request's `id`, when the frame had one. */
  readonly id: string | undefined;
  /**
   * Send the request's one reply: `ack` carrying `data` when the frame had an `id`, else the
   * operation's own event (`joined`, `left`, `history`, `pong`), or nothing for operations that
   * have none. A second call does nothing.
   */
  reply(data: object): void;
  /** Send the request's one reply as an `error`. */
  fail(err: unknown): void;
}

export type Handler<K extends ClientOpType> = (ctx: OpContext, data: ClientOpData[K]) => Promise<object | undefined> | object | undefined;
export type OpTable = { [K in ClientOpType]?: Handler<K> };
