/**
 * Moderation over REST (PROTOCOL.md "Moderation"). A room's: `POST /rooms/:id/kick`,
 * `POST|GET /rooms/:id/bans`, `DELETE /rooms/:id/bans/:user_id`, `POST|GET /rooms/:id/mutes`,
 * `DELETE /rooms/:id/mutes/:user_id`, `PUT /rooms/:id/members/:user_id/role`: the room's RoomActor
 * decides and acts, as for the WebSocket operations (src/net/ws/ops/moderation.ts). Global, for
 * admins: `PUT /users/:id/role`, `POST|DELETE /users/:id/ban`, written to the store from the
 * front (users are no actor's state), each with its audit entry in the same transaction.
 */
import { ROOM, type ActorCaller, type Caller, type ModerationAction, type ModerationReply, type ModerationRequest } from '../../actors/messages.js';
import { publicUser } from '../../auth/service.js';
import type { AccessTokens } from '../../auth/jwt.js';
import type { Config } from '../../config/schema.js';
import { ChatError } from '../../errors.js';
import { buildRestSchemas, listQuery, parseRest } from '../../protocol/rest.js';
import { isUserBanned } from '../../store/moderation-sql.js';
import type { Store } from '../../store/store.js';
import type { AuditEntry } from '../../store/types.js';
import { requestCaller } from './caller.js';
import { json } from './reply.js';
import { API_PREFIX } from './routes-auth.js';
import type { Request, Route } from './types.js';
import { idParam, jsonBody } from './validate.js';

export interface ModerationRouteDeps {
  actors: ActorCaller;
  tokens: AccessTokens;
  config: Config;
  store: Pick<Store, 'getUser' | 'setUserRole' | 'banUser' | 'unbanUser'>;
  /**
   * A user was just banned globally: close their live sockets (4403) and end their sessions.
   * src/server/front.ts says how.
   */
  onUserBanned: (userId: number) => void;
}

export function moderationRoutes(deps: ModerationRouteDeps, prefix = API_PREFIX): Route[] {
  const { actors, tokens, store } = deps;
  const schemas = buildRestSchemas({ auth: deps.config.auth, limits: deps.config.limits });
  const caller = (req: Request): Promise<Caller> => requestCaller(tokens, req);

  /** A room action: the body's target, or the path's (`:user_id`) for the lifts. */
  const act = (action: ModerationAction, body: (req: Request) => Omit<ModerationRequest, 't' | 'caller' | 'action' | 'ip'>) => async (req: Request) => {
    const user = await caller(req);
    const roomId = idParam(req, 'id');
    const msg: ModerationRequest = { t: 'moderate', caller: user, action, ip: req.ip, ...body(req) };
    return json(200, await actors.ask<ModerationReply>(ROOM, roomId, msg));
  };
  const list = (kind: 'bans' | 'mutes') => async (req: Request) => {
    const user = await caller(req);
    const q = parseRest(listQuery, req.query);
    return json(200, await actors.ask(ROOM, idParam(req, 'id'), { t: 'sanctions', caller: user, kind, ...q }));
  };

  /**
   * The caller, if an admin now: the token's role is checked against the store too, so an admin
   * demoted or banned a moment ago cannot change other users' standing with a token still valid.
   */
  const admin = async (req: Request): Promise<Caller> => {
    const user = await caller(req);
    const row = user.role === 'admin' ? await store.getUser(user.id) : null;
    if (row === null || row.role !== 'admin' || !row.is_active || isUserBanned(row, Date.now())) {
      throw new ChatError('forbidden', "only an admin may change a user's role or ban them");
    }
    return user;
  };
  const target = (req: Request, user: Caller, what: string): number => {
    const id = idParam(req, 'id');
    if (id === user.id) throw new ChatError('forbidden', `you cannot ${what} yourself`);
    return id;
  };
  const audit = (user: Caller, req: Request, action: string, id: number, details: Record<string, unknown> = {}): AuditEntry => ({
    actorId: user.id,
    action,
    targetType: 'user',
    targetId: String(id),
    details,
    ip: req.ip,
  });
  const noUser = (id: number) => new ChatError('not_found', `user ${id} not found`);

  return [
    { method: 'POST', path: `${prefix}/rooms/:id/kick`, handler: act('kick', (req) => {
      const b = jsonBody(req, schemas.kick);
      return { userId: b.user_id, reason: b.reason };
    }) },
    { method: 'POST', path: `${prefix}/rooms/:id/bans`, handler: act('ban', (req) => {
      const b = jsonBody(req, schemas.ban);
      return { userId: b.user_id, reason: b.reason, durationS: b.duration_s };
    }) },
    { method: 'GET', path: `${prefix}/rooms/:id/bans`, handler: list('bans') },
    { method: 'DELETE', path: `${prefix}/rooms/:id/bans/:user_id`, handler: act('unban', (req) => ({ userId: idParam(req, 'user_id') })) },
    { method: 'POST', path: `${prefix}/rooms/:id/mutes`, handler: act('mute', (req) => {
      const b = jsonBody(req, schemas.mute);
      return { userId: b.user_id, reason: b.reason, durationS: b.duration_s };
    }) },
    { method: 'GET', path: `${prefix}/rooms/:id/mutes`, handler: list('mutes') },
    { method: 'DELETE', path: `${prefix}/rooms/:id/mutes/:user_id`, handler: act('unmute', (req) => ({ userId: idParam(req, 'user_id') })) },
    { method: 'PUT', path: `${prefix}/rooms/:id/members/:user_id/role`, handler: act('role', (req) => ({
      userId: idParam(req, 'user_id'),
      role: jsonBody(req, schemas.memberRole).role,
    })) },
    {
      method: 'PUT',
      path: `${prefix}/users/:id/role`,
      handler: async (req) => {
        const user = await admin(req);
        const id = target(req, user, 'change the role of');
        const { role } = jsonBody(req, schemas.userRole);
        const before = await store.getUser(id);
        if (before === null) throw noUser(id);
        const after = await store.setUserRole(id, role, audit(user, req, 'user.role', id, { from: before.role, to: role }));
        if (after === null) throw noUser(id);
        // The new role is in the user's next access token (a login or a refresh).
        return json(200, publicUser(after, true));
      },
    },
    {
      method: 'POST',
      path: `${prefix}/users/:id/ban`,
      handler: async (req) => {
        const user = await admin(req);
        const id = target(req, user, 'ban');
        const b = jsonBody(req, schemas.userBan);
        const until = b.duration_s == null ? null : new Date(Date.now() + b.duration_s * 1000).toISOString();
        const reason = b.reason ?? null;
        const row = await store.banUser(id, { until, reason }, audit(user, req, 'user.ban', id, { until, reason }));
        if (row === null) throw noUser(id);
        deps.onUserBanned(id);
        return json(200, { user_id: id, banned: true, banned_until: row.banned_until, reason });
      },
    },
    {
      method: 'DELETE',
      path: `${prefix}/users/:id/ban`,
      handler: async (req) => {
        const user = await admin(req);
        const id = target(req, user, 'unban');
        const before = await store.getUser(id);
        if (before === null) throw noUser(id);
        const row = await store.unbanUser(id, audit(user, req, 'user.unban', id));
        if (row === null) throw noUser(id);
        return json(200, { user_id: id, banned: false, changed: before.banned_at !== null, banned_until: null });
      },
    },
  ];
}
