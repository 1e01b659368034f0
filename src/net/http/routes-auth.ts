/**
 * `/api/v1/auth/*` and `/api/v1/users/*`. Register answers `{ user }`; `GET /users/me` and
 * `GET /users/:id` answer the user object itself.
 */
import { publicUser, type AuthService } from '../../auth/service.js';
import { json, noContent } from './reply.js';
import type { Route } from './types.js';
import { idParam, readJson } from './validate.js';

export const API_PREFIX = '/api/v1';

export interface AuthRouteDeps {
  auth: AuthService;
}

export function authRoutes({ auth }: AuthRouteDeps, prefix = API_PREFIX): Route[] {
  return [
    {
      method: 'POST',
      path: `${prefix}/auth/register`,
      handler: async (req) => json(201, { user: publicUser(await auth.register(readJson(req), { ip: req.ip }), true) }),
    },
    {
      method: 'POST',
      path: `${prefix}/auth/login`,
      handler: async (req) => json(200, await auth.login(readJson(req), { ip: req.ip })),
    },
    {
      method: 'POST',
      path: `${prefix}/auth/refresh`,
      handler: async (req) => json(200, await auth.refresh(readJson(req), { ip: req.ip })),
    },
    {
      method: 'POST',
      path: `${prefix}/auth/logout`,
      // The session's sockets are closed by the service (src/auth/sessions.ts).
      handler: async (req) => {
        await auth.logout(readJson(req), { ip: req.ip });
        return noContent();
      },
    },
    {
      method: 'POST',
      path: `${prefix}/auth/password`,
      handler: async (req) => {
        const claims = auth.authenticate(req.headers.authorization);
        return json(200, await auth.changePassword(claims, readJson(req), { ip: req.ip }));
      },
    },
    {
      method: 'GET',
      path: `${prefix}/users/me`,
      handler: async (req) => json(200, await auth.me(auth.authenticate(req.headers.authorization))),
    },
    {
      method: 'GET',
      path: `${prefix}/users/:id`,
      handler: async (req) => {
        const viewer = auth.authenticate(req.headers.authorization);
        return json(200, await auth.getUser(viewer, idParam(req, 'id')));
      },
    },
  ];
}
