/**
 * The Redis connection of a node (ioredis), when `redis.url` is set. For now it serves readiness
 * (`GET /ready` reports Redis reachable or not); joining several nodes into one cluster over it is
 * not built yet (docs/ARCHITECTURE.md, "Not built yet").
 *
 * Reconnection is ioredis's; commands fail fast while disconnected (no offline queue), so a
 * readiness probe answers "failed" at once instead of hanging.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export interface RedisHandle {
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function connectRedis(url: string, log: Logger): RedisHandle {
  const client = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
  });
  let warned = false;
  client.on('error', (err: Error) => {
    // ioredis retries by itself; one line per outage, not one per attempt.
    if (!warned) log.warn('redis unreachable; retrying', { err });
    warned = true;
  });
  client.on('ready', () => {
    warned = false;
  });
  return {
    async ping() {
      const pong = await client.ping();
      if (pong !== 'PONG') throw new Error(`redis answered ${pong}`);
    },
    async close() {
      client.disconnect();
    },
  };
}
