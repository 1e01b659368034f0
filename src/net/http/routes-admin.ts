/**
 * `GET /metrics` (Prometheus text, the whole node's metrics merged by the main thread) and
 * `GET /api/v1/admin/status` (the operator's summary, `veza-chat status` and `top`), both answered
 * by the main thread (FrontContext.main): a front only relays. /metrics is open, as Prometheus
 * scrapes expect (put it on an internal address with `metrics.listen` to keep it off the public
 * port); the status needs `Authorization: Bearer <admin.token>`, and is 404 when no token is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken } from '../../auth/jwt.js';
import { ChatError } from '../../errors.js';
import { json } from './reply.js';
import { API_PREFIX } from './routes-auth.js';
import type { Route } from './types.js';

import { METRICS_CONTENT_TYPE } from '../../metrics/serve.js';
export { METRICS_CONTENT_TYPE };

export interface AdminRouteDeps {
  /** Ask the main thread: `{ t: 'metrics' }` → text, `{ t: 'status' }` → NodeStatus. */
  main: (msg: { t: 'metrics' | 'status' }) => Promise<unknown>;
  /** Serve /metrics on this port (false when `metrics.listen` moves it elsewhere, or disabled). */
  metrics: boolean;
  adminToken: string | undefined;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time check of an admin bearer token. */
export function adminAuthorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return false;
  const given = bearerToken(header);
  return given !== null && timingSafeEqual(digest(given), digest(token));
}

export function adminRoutes({ main, metrics, adminToken }: AdminRouteDeps, prefix = API_PREFIX): Route[] {
  const routes: Route[] = [
    {
      method: 'GET',
      path: `${prefix}/admin/status`,
      handler: async (req) => {
        if (adminToken === undefined) throw new ChatError('not_found', 'the admin API is off: set admin.token (VEZA_ADMIN_TOKEN)');
        if (!adminAuthorized(req.headers.authorization, adminToken)) throw new ChatError('unauthenticated', 'admin token required');
        return json(200, await main({ t: 'status' }));
      },
    },
  ];
  if (metrics) {
    routes.push({
      method: 'GET',
      path: '/metrics',
      handler: async () => ({ status: 200, raw: (await main({ t: 'metrics' })) as string, headers: { 'content-type': METRICS_CONTENT_TYPE } }),
    });
  }
  return routes;
}
