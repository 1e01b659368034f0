/**
 * The only file that wires the HTTP layer to uWebSockets.js. It reads the request, buffers the body
 * up to a limit, asks the router, runs the handler and writes the reply; everything else is in
 * plain functions (./router.ts, ./reply.ts, the handlers).
 *
 * uWS rules this file keeps: the HttpRequest is only valid during the synchronous callback (read it
 * all first); an HttpResponse must have `onAborted` before the callback returns, and must never be
 * touched after it fired or after the reply was ended; writes after an `await` are corked.
 */
import { ChatError } from '../../errors.js';
import { log as rootLog, type Logger } from '../../log.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../uws.js';
import { errorReply, JSON_TYPE, statusLine } from './reply.js';
import { Router } from './router.js';
import type { Reply, Request, Route } from './types.js';

export interface AttachOptions {
  /** Largest request body in bytes (config `server.maxBodyBytes`); more is 413 `payload_too_large`. */
  maxBodyBytes: number;
  log?: Logger;
  /** The uWS pattern this layer serves; more specific uWS routes (`app.ws('/ws')`) still win. */
  pattern?: string;
}

interface Exchange {
  res: HttpResponse;
  /** Set by `onAborted`: the response is gone and must not be touched. */
  aborted: boolean;
  /** Set when the reply was written: later writes (a late handler, more body) are dropped. */
  answered: boolean;
}

/**
 * Serve `routes` on `app`. Unknown path: 404 `not_found`. Known path, other method: 405
 * `method_not_allowed` with `Allow` listing the path's methods. Returns the router.
 */
export function attachRoutes(app: TemplatedApp, routes: Iterable<Route> | Router, opts: AttachOptions): Router {
  const router = routes instanceof Router ? routes : new Router(routes);
  const log = (opts.log ?? rootLog).child({ component: 'http' });
  app.any(opts.pattern ?? '/*', (res, req) => serve(res, req, router, opts.maxBodyBytes, log));
  return router;
}

function serve(res: HttpResponse, uReq: HttpRequest, router: Router, maxBodyBytes: number, log: Logger): void {
  const ex: Exchange = { res, aborted: false, answered: false };
  res.onAborted(() => {
    ex.aborted = true;
  });

  // The HttpRequest is stack-allocated: copy everything before the first callback or await.
  const method = uReq.getMethod().toUpperCase();
  const path = uReq.getUrl();
  const query: Record<string, string> = Object.fromEntries(new URLSearchParams(uReq.getQuery() ?? ''));
  const headers: Record<string, string> = {};
  uReq.forEach((key, value) => {
    headers[key] = value;
  });
  const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
  const where = { method, path };

  const tooLarge = () =>
    write(ex, render(errorReply(new ChatError('payload_too_large', `request body exceeds ${maxBodyBytes} bytes`), where, log)), true);

  // A declared length over the limit is refused before reading a byte; the connection is closed,
  // since the rest of the body would otherwise have to be read and thrown away.
  const declared = Number(headers['content-length'] ?? 0);
  if (declared > maxBodyBytes) {
    tooLarge();
    return;
  }

  const chunks: Buffer[] = [];
  let size = 0;
  // uWS calls onData for every request, with an empty last chunk when there is no body.
  res.onData((chunk, isLast) => {
    if (ex.answered || ex.aborted) return;
    size += chunk.byteLength;
    if (size > maxBodyBytes) {
      // A chunked body that grew past the limit: answer now and stop reading (close).
      tooLarge();
      return;
    }
    // The ArrayBuffer is neutered when this callback returns: copy it.
    if (chunk.byteLength > 0) chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    const req: Request = { method, path, params: {}, query, headers, ip, body: Buffer.concat(chunks, size) };
    // dispatch catches what handlers throw; this is for a failure of the layer itself.
    dispatch(ex, router, req, log).catch((err: unknown) => log.error('http layer failed', { method, path, err }));
  });
}

async function dispatch(ex: Exchange, router: Router, req: Request, log: Logger): Promise<void> {
  let out: Rendered;
  try {
    const match = router.match(req.method, req.path);
    if (match.kind === 'not_found') throw new ChatError('not_found', `no route for ${req.method} ${req.path}`);
    if (match.kind === 'method_not_allowed') {
      const allow = match.allow.join(', ');
      const reply = errorReply(new ChatError('method_not_allowed', `${req.method} is not allowed on ${req.path} (allowed: ${allow})`), req, log);
      out = render({ ...reply, headers: { ...reply.headers, allow } });
    } else {
      // Serialising inside the try: a body JSON cannot carry (a BigInt, a cycle) is a 500 too.
      out = render(await match.route.handler({ ...req, params: match.params }));
    }
  } catch (e) {
    out = render(errorReply(e, req, log));
  }
  write(ex, out, false);
}

interface Rendered {
  status: number;
  headers: Record<string, string>;
  payload: string | Uint8Array | undefined;
}

function render(reply: Reply): Rendered {
  const payload = reply.raw ?? (reply.body === undefined ? undefined : JSON.stringify(reply.body));
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  };
  if (reply.raw === undefined && payload !== undefined) headers['content-type'] = JSON_TYPE;
  for (const [k, v] of Object.entries(reply.headers ?? {})) headers[k.toLowerCase()] = v;
  return { status: reply.status, headers, payload };
}

/** Status, headers and body in one corked block, unless the client left or a reply went out. */
function write(ex: Exchange, out: Rendered, closeConnection: boolean): void {
  if (ex.aborted || ex.answered) return;
  ex.answered = true;
  const { res } = ex;
  res.cork(() => {
    res.writeStatus(statusLine(out.status));
    for (const [k, v] of Object.entries(out.headers)) res.writeHeader(k, v);
    if (out.payload === undefined) res.endWithoutBody(undefined, closeConnection);
    else res.end(out.payload, closeConnection);
  });
}
