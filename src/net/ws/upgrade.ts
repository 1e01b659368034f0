/**
 * The HTTP upgrade to WebSocket: the sub-protocol, the Origin allowlist, and a token given at the
 * upgrade (`Authorization: Bearer`, or `?access_token=`), verified here by the one verification
 * path (`AccessTokens.verify`: header rules, signature, claims, expiry, revoked session),
 * synchronously, so the upgrade happens in the same handler (no async upgrade). A refusal is an HTTP answer with the
 * REST error body; nothing is upgraded.
 */
import type { AccessTokens } from '../../auth/jwt.js';
import { bearerToken } from '../../auth/jwt.js';
import type { Config } from '../../config/schema.js';
import { toChatError } from '../../errors.js';
import { selectSubprotocol } from '../../protocol/codec.js';
import type { HttpRequest, HttpResponse, us_socket_context_t } from '../uws.js';
import { observeAuth } from '../../metrics/index.js';
import type { Budgets } from '../../limits/budgets.js';
import type { ConnectionCaps } from './caps.js';
import { newConn, type SocketData } from './conn.js';

export function upgradeHandler(config: Config, tokens: AccessTokens, caps: ConnectionCaps | null = null, budgets: Budgets | null = null) {
  return (res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void => {
    const key = req.getHeader('sec-websocket-key');
    const offered = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const origin = req.getHeader('origin');
    const token = bearerToken(req.getHeader('authorization')) ?? new URLSearchParams(req.getQuery() ?? '').get('access_token');
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
    const protocol = selectSubprotocol(offered);
    if (protocol === null) return refuse(res, 400, 'validation_failed', 'no supported sub-protocol offered (veza.json, veza.msgpack)');
    // The allowlist keeps other sites' pages from opening sockets with a user's token: a browser
    // always sends Origin on a WebSocket upgrade. A client without one is not a browser, and
    // refusing it would protect nothing (any other client can send an allowed Origin).
    const allow = config.server.originAllowlist;
    if (allow.length > 0 && origin !== '' && !allow.includes(origin)) return refuse(res, 403, 'forbidden', 'origin not allowed');
    const conn = newConn(protocol, remote);
    // Echo the sub-protocol only when the client offered one (RFC 6455 §4.2.2).
    const echoed = offered ? protocol : '';
    if (token) {
      // Counted and timed as `authenticate` is (session.ts): the counter and the histogram agree.
      const started = performance.now();
      try {
        const claims = tokens.verify(token);
        conn.user = { id: claims.user_id, username: claims.username, role: claims.role };
        conn.expiresAt = claims.exp * 1000;
        conn.authSession = claims.sid ?? '';
      } catch (e) {
        observeAuth('token', false, (performance.now() - started) / 1000);
        const err = toChatError(e);
        return refuse(res, 401, 'unauthenticated', err.code === 'unauthenticated' ? err.message : 'invalid token');
      }
      observeAuth('token', true, (performance.now() - started) / 1000);
    }
    const refused = caps?.refusal(remote, conn.user?.id ?? null) ?? null;
    if (refused !== null) return refuse(res, 429, 'rate_limited', refused);
    if (budgets !== null && conn.user !== null && !budgets.take(conn.user, 'connect').ok) return refuse(res, 429, 'rate_limited', 'connect: too many connections opened');
    res.upgrade<SocketData>({ conn }, key, echoed, extensions, context);
  };
}

function refuse(res: HttpResponse, status: number, code: string, message: string): void {
  const text = status === 401 ? '401 Unauthorized' : status === 403 ? '403 Forbidden' : status === 429 ? '429 Too Many Requests' : '400 Bad Request';
  res
    .writeStatus(text)
    .writeHeader('content-type', 'application/json; charset=utf-8')
    .end(JSON.stringify({ error: { code, message } }));
}
