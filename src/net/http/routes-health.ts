/**
 * `GET /health`: the process answers. `GET /ready`: its dependencies answer too (the database, and
 * Redis when configured), each within `timeoutMs`; 503 otherwise, with which one failed. Why it
 * failed goes to the log, not to the caller.
 */
import { log as rootLog, type Logger } from '../../log.js';
import { json } from './reply.js';
import type { Route } from './types.js';

export interface HealthDeps {
  /** Named readiness checks, e.g. `{ database: () => store.ping(), redis: () => redis.ping() }`. */
  checks: Record<string, () => Promise<unknown>>;
  timeoutMs?: number;
  log?: Logger;
}

export function healthRoutes({ checks, timeoutMs = 2000, log = rootLog }: HealthDeps): Route[] {
  return [
    { method: 'GET', path: '/health', handler: async () => json(200, { status: 'ok' }) },
    {
      method: 'GET',
      path: '/ready',
      handler: async () => {
        const names = Object.keys(checks);
        const results = await Promise.all(names.map((name) => within(checks[name]!, timeoutMs)));
        const report: Record<string, 'ok' | 'failed'> = {};
        let ready = true;
        results.forEach((r, i) => {
          const name = names[i]!;
          report[name] = r.ok ? 'ok' : 'failed';
          if (!r.ok) {
            ready = false;
            log.warn('readiness check failed', { check: name, err: r.error });
          }
        });
        return json(ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', checks: report });
      },
    },
  ];
}

async function within(check: () => Promise<unknown>, ms: number): Promise<{ ok: true } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([check(), timeout]);
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}
