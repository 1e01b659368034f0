/**
 * HTTP test helpers: a real uWS App on loopback (port 0) serving a route table, closed at teardown
 * (a process that exits with an open App aborts), and small fetch wrappers.
 */
import type { Test } from 'tap';
import { attachRoutes } from '../../src/net/http/uws-adapter.js';
import type { Route } from '../../src/net/http/types.js';
import { closeApp, createApp, listen, type App } from '../../src/net/uws.js';

export interface Served {
  app: App;
  port: number;
  url: string;
}

export async function serveRoutes(t: Test, routes: Route[], opts: { maxBodyBytes?: number } = {}): Promise<Served> {
  const app = createApp();
  attachRoutes(app, routes, { maxBodyBytes: opts.maxBodyBytes ?? 64 * 1024 });
  const listening = await listen(app, '127.0.0.1', 0);
  t.teardown(() => closeApp(app, listening));
  return { app, port: listening.port, url: `http://127.0.0.1:${listening.port}` };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty body. */
  body: any;
  text: string;
}

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string | Uint8Array; token?: string; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | Blob | undefined;
  if (opts.raw !== undefined) body = typeof opts.raw === 'string' ? opts.raw : new Blob([Buffer.from(opts.raw)]);
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined, text };
}

// ------------------------------------------------------------------ the auth surface on a real store

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessTokens } from '../../src/auth/jwt.js';
import { AuthService } from '../../src/auth/service.js';
import { inlineHasher, type PasswordHasher } from '../../src/auth/hasher.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { authRoutes } from '../../src/net/http/routes-auth.js';
import { healthRoutes } from '../../src/net/http/routes-health.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freshDatabase } from './services.js';

export type Backend = 'pglite' | 'postgres';
export const BACKENDS: readonly Backend[] = ['pglite', 'postgres'];
export const TEST_SECRET = 'http-test-secret-'.padEnd(48, 'q');

export interface AuthServer extends Served {
  backend: Backend;
  config: Config;
  store: Store;
  auth: AuthService;
  tokens: AccessTokens;
  /** Counts of hasher calls, to see that both login failures do the same work. */
  hashCalls: { hash: number; verify: number };
  /** Flip to make `/ready`'s extra check fail. */
  redisUp: { value: boolean };
}

/**
 * The auth and health routes over a real store of `backend`, on loopback, torn down with `t`.
 * Null (after skipping or failing `t`) when PostgreSQL is asked for and not configured.
 */
export async function startAuthServer(
  t: Test,
  backend: Backend,
  opts: { maxBodyBytes?: number } = {},
): Promise<AuthServer | null> {
  const url = backend === 'postgres' ? await freshDatabase(t) : undefined;
  if (url === null) return null;
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-http-'));
  let opened: Awaited<ReturnType<typeof openStore>> | undefined;
  // The store closes before its directory goes, and the directory goes even if opening failed.
  t.teardown(async () => {
    await opened?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const config = loadConfig({
    env: {},
    flags: {
      dataDir,
      database: { url },
      // Every request comes from 127.0.0.1: a per-source budget that the scenarios do not exhaust.
      auth: { jwtSecret: TEST_SECRET, scryptLogN: 10, sourceAttemptsPerMinute: 10_000 },
      server: { maxBodyBytes: opts.maxBodyBytes ?? 4096 },
    },
  });
  opened = await openStore(config);
  return serveAuth(t, backend, config, opened.store);
}

/** The auth and health routes over `store` on a new App (so one store can serve several set-ups). */
export async function serveAuth(t: Test, backend: Backend, config: Config, store: Store): Promise<AuthServer> {
  const hashCalls = { hash: 0, verify: 0 };
  const inner = inlineHasher({ logN: config.auth.scryptLogN, r: config.auth.scryptR, p: config.auth.scryptP });
  const hasher: PasswordHasher = {
    hash: (pw) => (hashCalls.hash++, inner.hash(pw)),
    verify: (pw, enc) => (hashCalls.verify++, inner.verify(pw, enc)),
  };
  const tokens = new AccessTokens(TEST_SECRET, { ttlS: config.auth.accessTtlS });
  const auth = new AuthService({ store, hasher, tokens, settings: config.auth });
  const redisUp = { value: true };
  const routes = [
    ...healthRoutes({
      checks: {
        database: () => store.ping(),
        redis: async () => {
          if (!redisUp.value) throw new Error('redis down');
        },
      },
    }),
    ...authRoutes({ auth }),
  ];
  const served = await serveRoutes(t, routes, { maxBodyBytes: config.server.maxBodyBytes });
  return { ...served, backend, config, store, auth, tokens, hashCalls, redisUp };
}
