/**
 * What threads see of the CPU pool, and the proxy a worker thread uses: requests go over a
 * MessagePort to the main thread's CpuPool (`pool.serve(port)`). Kept apart from cpu-pool.ts so a
 * worker thread never loads piscina.
 */
import type { MessagePort } from 'node:worker_threads';
import { errorFromWire } from '../transport/codec.js';
import type { CpuRequest, CpuResponse } from './messages.js';
import { RuntimeError } from '../errors.js';
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
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  port.on('message', (res: CpuResponse) => {
    if (res?.type !== 'cpu-result') return;
    const p = pending.get(res.id);
    if (!p) return;
    pending.delete(res.id);
    if (pending.size === 0) port.unref();
    if (res.ok) p.resolve(res.value);
    else p.reject(errorFromWire(res.error));
  });
  port.on('close', () => {
    for (const p of pending.values()) p.reject(new RuntimeError('stopped', 'the CPU pool port closed'));
    pending.clear();
  });
  // Referenced only while a request waits: an idle client must not keep its thread alive.
  port.unref();
  const call = (task: CpuRequest['task']): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      if (pending.size === 0) port.ref();
      pending.set(id, { resolve, reject });
      port.postMessage({ type: 'cpu', id, task } satisfies CpuRequest);
    });
  return {
    hashPassword: (password, params) =>
      call(params ? { op: 'hash-password', password, params } : { op: 'hash-password', password }) as Promise<string>,
    verifyPassword: (password, hash) => call({ op: 'verify-password', password, hash }) as Promise<boolean>,
    close: () => port.close(),
  };
}
