/**
 * The HTTP layer's vocabulary. Handlers are plain async functions from a request to a reply, so
 * they run in tests without a socket; only ./uws-adapter.ts knows about uWebSockets.js.
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Request {
  method: string;
  /** The path as sent (percent-encoded), without the query string. */
  path: string;
  /** Values of the route's `:name` segments, percent-decoded. */
  params: Readonly<Record<string, string>>;
  /** The query string; a repeated key keeps its last value. */
  query: Readonly<Record<string, string>>;
  /** Header names lower-cased. */
  headers: Readonly<Record<string, string>>;
  /** The peer's address as text. */
  ip: string;
  /** The raw body (empty when there is none); read it with `jsonBody`. */
  body: Buffer;
}

export interface Reply {
  status: number;
  /** Serialised as JSON; absent means no body (204). */
  body?: unknown;
  /** Sent as is instead of `body` (static files); set its `content-type` in `headers`. */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
}

export type Handler = (req: Request) => Promise<Reply>;

export interface Route {
  method: Method;
  /** `/api/v1/users/:id`: literal segments and `:name` parameters. */
  path: string;
  handler: Handler;
}
