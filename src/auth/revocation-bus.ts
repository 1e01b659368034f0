/**
 * Revocations between nodes, over Redis pub/sub when `redis.url` is set: a node that ends a session
 * publishes it on one channel; every front of every node subscribes and adds what it hears to its
 * node's revocation set (./sessions.ts `remote`). Within a node nothing goes through Redis: the
 * revocation set is shared memory. A message lost while Redis is down is made up for at the next
 * start of a node (the set is loaded from the store), not before: said in ARCHITECTURE.md.
 */
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../log.js';

export const REVOCATION_CHANNEL = 'veza:revocations';

const messageSchema = z.object({
  sessions: z.array(z.string().length(36)).max(10_000),
  users: z.array(z.number().int().positive()).max(100),
});

export type RevocationMessage = z.infer<typeof messageSchema>;

export interface RevocationBus {
  publish(msg: RevocationMessage): void;
  close(): Promise<void>;
}

export function revocationBus(url: string, log: Logger, onMessage: (msg: RevocationMessage) => void): RevocationBus {
  const opts = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: (n: number) => Math.min(n * 200, 5000) };
  const pub = new Redis(url, opts);
  // A subscriber needs its own connection; it queues its SUBSCRIBE until connected.
  const sub = new Redis(url, { ...opts, enableOfflineQueue: true });
  let warned = false;
  const onError = (err: Error) => {
    if (!warned) log.warn('revocation bus: redis unreachable; retrying', { err });
    warned = true;
  };
  pub.on('error', onError);
  sub.on('error', onError);
  sub.on('ready', () => {
    warned = false;
  });
  sub.subscribe(REVOCATION_CHANNEL).catch(onError);
  sub.on('message', (channel: string, text: string) => {
    if (channel !== REVOCATION_CHANNEL) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: not a message of ours (anyone on the Redis server may publish here). Ignored.
      return;
    }
    const msg = messageSchema.safeParse(parsed);
    if (msg.success) onMessage(msg.data);
  });
  return {
    publish(msg) {
      pub.publish(REVOCATION_CHANNEL, JSON.stringify(msg)).catch((err: Error) => log.warn('revocation bus: publish failed', { err }));
    },
    async close() {
      pub.disconnect();
      sub.disconnect();
    },
  };
}
