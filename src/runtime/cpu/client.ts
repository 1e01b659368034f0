/**
 * What threads see of the CPU pool, and the proxy a worker thread uses: requests go over a
 * MessagePort to the main thread's CpuPool (`pool.serve(port)`). Kept apart from cpu-pool.ts so a
 * worker thread never loads piscina.
 */
import type { MessagePort } from 'node:worker_threads';
import { errorFromWire } from '../transport/codec.js';
import type { CpuRequest, CpuResponse } from './messages.js';
import { RuntimeError } from '../errors.js';
import { PendingRequests } from '../requests.js';
import type { ScryptParams } from '../../auth/scrypt.js';

/** What threads see of the pool, on the main thread or through a port. */
export interface CpuClient {
  /** Hash with the node's scrypt settings, or `params` when given. */
  hashPassword(password: string, params?: ScryptParams): Promise<string>;
  /** False for a wrong password or an unreadable hash; rejects only when the pool fails (full: 503). */
  verifyPassword(password: string, hash: string): Promise<boolean>;
}

/** The pool as seen from a worker thread: requests go over `port` to the main thread's CpuPool. */
export function cpuClient(port: MessagePort): CpuClient & { close(): void } {
  // Referenced only while a request waits: an idle client must not keep its thread alive.
  const pending = new PendingRequests({ onBusy: () => port.ref(), onIdle: () => port.unref() });
  port.on('message', (res: CpuResponse) => {
    if (res?.type !== 'cpu-result') return;
    if (res.ok) pending.resolve(res.id, res.value);
    else pending.reject(res.id, errorFromWire(res.error));
  });
  port.on('close', () => pending.close(new RuntimeError('stopped', 'the CPU pool port closed')));
  port.unref();
  const call = (task: CpuRequest['task']): Promise<unknown> =>
    pending.promise((id) => port.postMessage({ type: 'cpu', id, task } satisfies CpuRequest));
  return {
    hashPassword: (password, params) =>
      call(params ? { op: 'hash-password', password, params } : { op: 'hash-password', password }) as Promise<string>,
    verifyPassword: (password, hash) => call({ op: 'verify-password', password, hash }) as Promise<boolean>,
    close: () => port.close(),
  };
}
