/**
 * Messages between a thread's `cpuClient(port)` and the node's CpuPool on the main thread
 * (`pool.serve(port)`), over a MessagePort (structured clone: these are small and rare).
 * `CpuTask` is also what the pool hands its piscina workers (cpu-tasks.ts).
 */
import type { WireError } from '../transport/codec.js';
import type { ScryptParams } from '../../auth/scrypt.js';

export type CpuTask =
  | { op: 'hash-password'; password: string; params: ScryptParams }
  | { op: 'verify-password'; password: string; hash: string };

export interface CpuRequest {
  type: 'cpu';
  id: number;
  /** `params` may be left out of a hash-password task: the pool fills in the node's settings. */
  task: CpuTask | { op: 'hash-password'; password: string; params?: ScryptParams };
}

export type CpuResponse =
  | { type: 'cpu-result'; id: number; ok: true; value: unknown }
  | { type: 'cpu-result'; id: number; ok: false; error: WireError };
