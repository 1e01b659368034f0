/**
 * The node's revocation set at start (main thread, before any thread serves): every session the
 * store says was revoked within the access-token lifetime (and a minute), so a restart does not
 * let a logged-out token pass again.
 */
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { RevocationSet } from './revocations.js';

const SLACK_MS = 60_000;

export async function loadRevocations(store: Pick<Store, 'recentRevocations'>, accessTtlS: number, log: Logger): Promise<SharedArrayBuffer> {
  const buffer = RevocationSet.allocate();
  const set = new RevocationSet(buffer);
  const now = Date.now();
  const sessions = await store.recentRevocations(new Date(now - accessTtlS * 1000 - SLACK_MS));
  for (const s of sessions) set.revokeSession(s.familyId, s.revokedAt.getTime() + accessTtlS * 1000 + SLACK_MS);
  if (sessions.length > 0) log.info('revoked sessions loaded', { sessions: sessions.length });
  return buffer;
}
