/**
 * The `/api/v1` endpoints of the contract (PROTOCOL.md "REST") that are not built yet. Each one is
 * a route that authenticates like the real endpoint will (401 without a valid bearer token) and
 * then answers 501 `not_implemented` naming the operation, so a client can tell a missing feature
 * from a bad request (400) or a path that does not exist (404, 405). Building an endpoint means
 * removing its line here and adding the real route (the router refuses a duplicate).
 */
import type { AccessTokens } from '../../auth/jwt.js';
import { ChatError } from '../../errors.js';
import { requestCaller } from './caller.js';
import { API_PREFIX } from './routes-auth.js';
import type { Method, Route } from './types.js';

/** Method, path under the prefix, and the operation's name as the 501 message says it. */
const NOT_IMPLEMENTED: readonly (readonly [Method, string, string])[] = [
  ['POST', '/files', 'upload file'],
  ['GET', '/files/:id', 'get file'],
];

export function notImplementedRoutes({ tokens }: { tokens: AccessTokens }, prefix = API_PREFIX): Route[] {
  return NOT_IMPLEMENTED.map(([method, path, operation]) => ({
    method,
    path: prefix + path,
    handler: async (req) => {
      await requestCaller(tokens, req);
      throw new ChatError('not_implemented', `${operation} (${method} ${prefix}${path}) is not implemented yet`);
    },
  }));
}
