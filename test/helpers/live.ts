/**
 * A real node for end-to-end tests: startNode() in this process (shard and front worker threads,
 * uWS on a loopback port, embedded PGlite in a temp dir or a fresh PostgreSQL database), real
 * REST calls with fetch and real WebSocket clients (the `ws` package).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { loadConfig, type Config } from '../../src/config/index.js';
import type { RunningNode } from '../../src/server/start.js';
import { compiledNode } from './dist.js';
import { seedPgliteDir } from './pglite-seed.js';
import { call } from './http.js';
import { makeDatabase } from './services.js';

export type Backend = 'pglite' | 'postgres';

export interface Live {
  node: RunningNode;
  config: Config;
  url: string;
  wsUrl: string;
  /** Register and log in a new user. */
  user(name?: string): Promise<TestUser>;
  client(token: string | null, opts?: ClientOptions): Promise<TestClient>;
}

export interface TestUser {
  id: number;
  username: string;
  token: string;
  refreshToken: string;
}

let seq = 0;

/** Null when the backend is unavailable (the test was skipped or failed by services.ts). */
export async function startLive(t: Test, backend: Backend, flags: Record<string, unknown> = {}): Promise<Live | null> {
  let database: Record<string, unknown> = {};
  let drop = async () => {};
  if (backend === 'postgres') {
    const made = await makeDatabase(t);
    if (made === null) return null;
    database = { url: made.url };
    drop = made.drop;
  }
  // Made once the backend is there: a skipped test leaves no directory behind.
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-live-'));
  const base = {
    dataDir,
    database,
    server: { port: 0, fronts: 2, shards: 2 },
    // Every client is 127.0.0.1: per-source login budgets the tests' many users do not exhaust (test/live-sessions.ts sets real ones).
    auth: { scryptLogN: 10, sourceAttemptsPerMinute: 100_000, hashPerSource: 1000, hashMaxQueued: 1000, ...(backend === 'postgres' ? { jwtSecret: 'x'.repeat(48) } : {}) },
    runtime: { cpuThreads: 1 },
    // Every test user is seconds old: budgets as for established accounts, unless a test asks
    // for the new-account factor (test/live-limits.ts).
    limits: { adaptive: { newAccountFactor: 1 } },
    // Tests send the same short texts again and again ('x', 'bad reply'): not spam to catch here,
    // unless a test asks for the default (test/live-content.ts).
    content: { repeatLimit: 1_000_000 },
    log: { level: 'warn' },
  };
  const config = loadConfig({ env: {}, flags: merge(base, flags) });
  let node: RunningNode;
  try {
    const { startNode } = await compiledNode();
    if (backend === 'pglite') await seedPgliteDir(dataDir);
    node = await startNode(config, { signals: false, announce: false });
  } catch (e) {
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  // The node stops before its database and its data directory (40 MiB with PGlite) go.
  t.teardown(async () => {
    await node.stop();
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const url = node.url;
  const live: Live = {
    node,
    config,
    url,
    wsUrl: `${url.replace('http', 'ws')}/ws`,
    async user(name = 'u') {
      const username = `${name}${process.pid % 1000}x${++seq}`;
      const password = 'correct horse battery';
      const reg = await call(url, 'POST', '/api/v1/auth/register', { body: { username, email: `${username}@example.test`, password } });
      if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.text}`);
      const login = await call(url, 'POST', '/api/v1/auth/login', { body: { username, password } });
      if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
      return { id: reg.body.user.id, username, token: login.body.access_token, refreshToken: login.body.refresh_token };
    },
    client: (token, opts) => openClient(live.wsUrl, token, opts),
  };
  return live;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' ? merge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface ClientOptions {
  protocol?: 'veza.json' | 'veza.msgpack' | null;
  /** Authenticate at the upgrade (default) or leave the socket unauthenticated. */
  atUpgrade?: boolean;
  headers?: Record<string, string>;
}

export interface Frame {
  type: string;
  id?: string;
  reply_to?: string;
  data?: any;
}

export class TestClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  #waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  #closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];
  #next = 0;
  #decode: (data: WebSocket.RawData, isBinary: boolean) => Frame;

  constructor(ws: WebSocket, decode: (data: WebSocket.RawData, isBinary: boolean) => Frame) {
    this.ws = ws;
    this.#decode = decode;
    ws.on('message', (data, isBinary) => {
      const f = this.#decode(data, isBinary);
      this.frames.push(f);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.#closeWaiters) w(this.closed);
    });
  }

  /** The first frame (already received or to come) matching `pred`. */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    const seen = this.frames.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.#waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Frames of `type` received so far. */
  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  send(frame: unknown): void {
    this.ws.send(this.ws.protocol === 'veza.msgpack' ? packFrame(frame) : JSON.stringify(frame));
  }

  /** Send an operation with an id; resolves with the ack or error frame answering it. */
  async request(type: string, data?: unknown): Promise<Frame> {
    const id = `c-${++this.#next}`;
    const reply = this.waitFor((f) => f.reply_to === id && (f.type === 'ack' || f.type === 'error'));
    this.send(data === undefined ? { type, id } : { type, id, data });
    return reply;
  }

  /** The ack's data, or throw with the error. */
  async ok(type: string, data?: unknown): Promise<any> {
    const r = await this.request(type, data);
    if (r.type === 'error') throw new Error(`${type}: ${JSON.stringify(r.data)}`);
    return r.data;
  }

  waitClose(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.#closeWaiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }

  close(): void {
    if (!this.closed) this.ws.close();
  }
}

import { pack, unpack } from 'msgpackr';
const packFrame = (f: unknown) => pack(f);

export async function openClient(wsUrl: string, token: string | null, opts: ClientOptions = {}): Promise<TestClient> {
  const protocol = opts.protocol === undefined ? 'veza.json' : opts.protocol;
  const headers: Record<string, string> = { ...opts.headers };
  if (token && opts.atUpgrade !== false) headers.authorization = `Bearer ${token}`;
  const ws = new WebSocket(wsUrl, protocol ? [protocol] : [], { headers });
  const client = new TestClient(ws, (data, isBinary) =>
    isBinary ? (unpack(data as Buffer) as Frame) : (JSON.parse(data.toString()) as Frame),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
  });
  return client;
}

/** Create a room as the holder of `token`; its id. */
export async function room(live: Live, token: string, name = 'general', isPublic = true): Promise<number> {
  const r = await call(live.url, 'POST', '/api/v1/rooms', { token, body: { name, is_public: isPublic } });
  if (r.status !== 201) throw new Error(`create room: ${r.status} ${r.text}`);
  return r.body.id;
}
