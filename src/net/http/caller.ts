import type { Caller } from '../../actors/messages.js';
import { bearerToken, type AccessTokens } from '../../auth/jwt.js';
import { ChatError } from '../../errors.js';
import type { Request } from './types.js';

/** The user a request's bearer token names; 401 `unauthenticated` without a valid one. */
export async function requestCaller(tokens: AccessTokens, req: Pick<Request, 'headers'>): Promise<Caller> {
  const token = bearerToken(req.headers.authorization);
  if (token === null) throw new ChatError('unauthenticated', 'missing bearer token');
  const c = tokens.verify(token);
  return { id: c.user_id, username: c.username, role: c.role };
}
