/**
 * `GET /api/v1/admin/audit`: the audit trail, for admins only (the caller's `users.role` read from
 * the store, not the token's claim: a demoted admin loses access at once). Filters by action (exact,
 * or a family as `auth.*`), actor, target, time; pages newest first by cursor like every list
 * (`?before=<id>&limit=`, answered with `has_more` and `next_cursor`).
 */
import { z } from 'zod';
import type { AccessTokens } from '../../auth/jwt.js';
import { ChatError } from '../../errors.js';
import { parseRest } from '../../protocol/rest.js';
import type { AuditFilter } from '../../store/auth-sql.js';
import type { Store } from '../../store/store.js';
import { requestCaller } from './caller.js';
import { json } from './reply.js';
import { API_PREFIX } from './routes-auth.js';
import type { Route } from './types.js';

const numeric = (max: number) => z.string().regex(/^[1-9][0-9]{0,15}$/, 'a positive integer').transform(Number).pipe(z.number().int().max(max));
const time = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

export const auditQuery = z.strictObject({
  action: z.string().min(1).max(100).optional(),
  actor: numeric(Number.MAX_SAFE_INTEGER).optional(),
  target_type: z.string().min(1).max(50).optional(),
  target_id: z.string().min(1).max(200).optional(),
  since: time.optional(),
  until: time.optional(),
  before: numeric(Number.MAX_SAFE_INTEGER).optional(),
  limit: numeric(200).optional(),
});

export type AuditQuery = z.output<typeof auditQuery>;

export function auditFilter(q: AuditQuery): AuditFilter {
  return {
    action: q.action,
    actorId: q.actor,
    targetType: q.target_type,
    targetId: q.target_id,
    since: q.since,
    until: q.until,
    before: q.before,
    limit: q.limit ?? 50,
  };
}

/** One page: `limit` entries and whether more follow (one extra row read). */
export async function auditPage(store: Pick<Store, 'listAudit'>, filter: AuditFilter) {
  const rows = await store.listAudit({ ...filter, limit: filter.limit + 1 });
  const entries = rows.slice(0, filter.limit);
  const hasMore = rows.length > filter.limit;
  return { entries, has_more: hasMore, next_cursor: hasMore ? entries[entries.length - 1]!.id : null };
}

export function auditRoutes({ tokens, store }: { tokens: AccessTokens; store: Pick<Store, 'getUser' | 'listAudit'> }, prefix = API_PREFIX): Route[] {
  return [
    {
      method: 'GET',
      path: `${prefix}/admin/audit`,
      handler: async (req) => {
        const caller = await requestCaller(tokens, req);
        const user = await store.getUser(caller.id);
        if (!user || user.role !== 'admin' || !user.is_active) throw new ChatError('forbidden', 'the audit trail is for admins');
        return json(200, await auditPage(store, auditFilter(parseRest(auditQuery, req.query))));
      },
    },
  ];
}
