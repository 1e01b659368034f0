/**
 * The WebSocket operations: a table from `type` to handler, a family per file. Operations of the
 * contract that are not built yet answer `not_implemented`, so a client can tell a missing feature
 * from a bad frame (`validation_failed`).
 */
import { ChatError } from '../../../errors.js';
import type { ClientOp, ClientOpType } from '../../../protocol/client-ops.js';
import { dmOps } from './dm.js';
import { messageOps } from './messages.js';
import { presenceOps } from './presence.js';
import { resumeOps } from './resume.js';
import { roomOps } from './rooms.js';
import type { Handler, OpTable } from './types.js';

const notBuilt = (type: ClientOpType) => () => {
  throw new ChatError('not_implemented', `operation "${type}" is not built on this server yet`);
};

export const OPS: OpTable = {
  ...roomOps,
  ...messageOps,
  ...dmOps,
  ...resumeOps,
  ...presenceOps,
  ping: () => ({}),
  edit_message: notBuilt('edit_message'),
  delete_message: notBuilt('delete_message'),
  add_reaction: notBuilt('add_reaction'),
  remove_reaction: notBuilt('remove_reaction'),
  pin_message: notBuilt('pin_message'),
  unpin_message: notBuilt('unpin_message'),
  mark_read: notBuilt('mark_read'),
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
