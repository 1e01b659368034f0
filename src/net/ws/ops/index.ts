/**
 * The WebSocket operations: a table from `type` to handler, a family per file. Every operation of
 * the contract is built; a `type` with no handler is `validation_failed` (./dispatch.ts).
 */
import type { ClientOp, ClientOpType } from '../../../protocol/client-ops.js';
import { changeOps } from './changes.js';
import { dmOps } from './dm.js';
import { messageOps } from './messages.js';
import { moderationOps } from './moderation.js';
import { presenceOps } from './presence.js';
import { readOps } from './reads.js';
import { resumeOps } from './resume.js';
import { roomOps } from './rooms.js';
import type { Handler, OpTable } from './types.js';

const OPS: OpTable = {
  ...roomOps,
  ...messageOps,
  ...dmOps,
  ...resumeOps,
  ...changeOps,
  ...readOps,
  ...presenceOps,
  ...moderationOps,
  ping: () => ({}),
};

/**
 * The event that is the reply to a request without an `id` (with one, the reply is an `ack`
 * carrying the same data). Operations not listed reply only to a request with an `id`.
 */
export const REPLY_EVENT = {
  join_room: 'joined',
  leave_room: 'left',
  fetch_history: 'history',
  ping: 'pong',
} as const satisfies Partial<Record<ClientOpType, string>>;

export function handlerFor(op: ClientOp): Handler<ClientOpType> | undefined {
  return OPS[op.type] as Handler<ClientOpType> | undefined;
}
