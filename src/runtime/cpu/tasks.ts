/**
 * The task module piscina runs in its worker threads: stateless CPU work, one table from task `op`
 * to function. Blocking here is the point (see password.ts).
 */
import { isMainThread } from 'node:worker_threads';
import type { CpuTask } from './messages.js';
import { hashPasswordSync, verifyPasswordSync } from '../../auth/scrypt.js';
import { nameThisThread } from '../threads/thread-name.js';

// Piscina evaluates this module once in each of its threads: the one place that runs there first.
if (!isMainThread) nameThisThread('veza-cpu');

const handlers: { [K in CpuTask['op']]: (task: Extract<CpuTask, { op: K }>) => unknown } = {
  'hash-password': (t) => hashPasswordSync(t.password, t.params),
  'verify-password': (t) => verifyPasswordSync(t.password, t.hash),
};

export default function run(task: CpuTask): unknown {
  const handler = handlers[task.op] as ((t: CpuTask) => unknown) | undefined;
  if (!handler) throw new TypeError(`unknown CPU task "${String((task as { op: unknown }).op)}"`);
  return handler(task);
}
