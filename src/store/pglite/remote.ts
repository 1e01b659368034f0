import type { MessagePort } from 'node:worker_threads';
import { ChatError } from '../../errors.js';
import { errorFromWire, errorToWire, type WireError } from '../../runtime/transport/codec.js';
import { log } from '../../log.js';
import { PendingRequests } from '../../runtime/requests.js';
import type { Store } from '../store.js';

/**
 * The store across a thread boundary. Embedded PGlite lives in one thread (the main thread); a
 * worker that needs the store gets `remoteStore(port)`, and the owner answers with
 * `serveStore(store, port)` on the other end of the channel. Arguments and results are
 * structured-cloned (rows are plain objects with ISO strings; Date arguments survive).
 */

/** Every Store method a remote caller may invoke. A Record, so adding a method to Store without
 * listing it here fails to compile; the server dispatches only these names. */
type Method = Exclude<keyof Store, 'backend' | 'close'>;
const METHODS: Readonly<Record<Method, true>> = Object.freeze({
  createUser: true,
  getUser: true,
  getUserByUsername: true,
  getCredentials: true,
  touchUser: true,
  usernames: true,
  accountsCreated: true,
  usersByName: true,
  insertRefreshToken: true,
  rotateRefreshToken: true,
  revokeRefreshToken: true,
  revokeUserRefreshTokens: true,
  recentRevocations: true,
  setPasswordHash: true,
  listAudit: true,
  recordLoginFailure: true,
  loginFailures: true,
  clearLoginFailures: true,
  createRoom: true,
  getConversation: true,
  getConversations: true,
  listVisibleRooms: true,
  listDms: true,
  getOrCreateDm: true,
  addMember: true,
  joinRoom: true,
  removeMember: true,
  getMember: true,
  listMembers: true,
  countMemberships: true,
  listPresenceTargets: true,
  markRead: true,
  unreadCounts: true,
  updateRoom: true,
  deleteRoom: true,
  insertMessages: true,
  getMessage: true,
  findByClientId: true,
  findByClientIds: true,
  listMessages: true,
  listReplies: true,
  messagesAfterSeq: true,
  lastSeq: true,
  applyChange: true,
  eventsAfterSeq: true,
  reactionsFor: true,
  pinnedMessages: true,
  setMemberRole: true,
  kickMember: true,
  banMember: true,
  unbanMember: true,
  muteMember: true,
  listSanctions: true,
  setUserRole: true,
  banUser: true,
  unbanUser: true,
  audit: true,
  ping: true,
});

// ---------------------------------------------------------------- messages on a store port

interface StoreCall {
  type: 'call';
  id: number;
  method: Method;
  args: unknown[];
}

type StoreReply = { type: 'result'; id: number; value: unknown } | { type: 'error'; id: number; error: WireError };

const isMethod = (m: unknown): m is Method => typeof m === 'string' && Object.hasOwn(METHODS, m);

// ---------------------------------------------------------------- owner side

/**
 * Answers store calls arriving on `port` until `close()` or until the other end goes away.
 * Closing stops serving; it does not close `store`.
 */
export function serveStore(store: Store, port: MessagePort): { close(): void } {
  const reply = (msg: StoreReply): void => {
    try {
      port.postMessage(msg);
    } catch (e) {
      // A result that cannot be cloned: tell the caller rather than leave it waiting.
      log.error('store: reply could not be sent', { err: e instanceof Error ? e : new Error(String(e)) });
      port.postMessage({ type: 'error', id: msg.id, error: errorToWire(new ChatError('internal', 'store reply could not be sent')) });
    }
  };
  port.on('message', (msg: Partial<StoreCall> | null) => {
    if (msg?.type !== 'call' || typeof msg.id !== 'number') {
      log.warn('store: ignoring a malformed message on a store port');
      return;
    }
    const { id, method, args } = msg;
    if (!isMethod(method) || !Array.isArray(args)) {
      reply({ type: 'error', id, error: errorToWire(new ChatError('internal', `no store method ${String(method)}`)) });
      return;
    }
    const fn = store[method] as (...a: unknown[]) => Promise<unknown>;
    fn.apply(store, args).then(
      (value) => reply({ type: 'result', id, value }),
      (e: unknown) => {
        if (!(e instanceof ChatError) || e.code === 'internal') {
          log.error('store: remote call failed', {
            method,
            err: e instanceof Error ? e : new Error(String(e)),
            cause: e instanceof Error && e.cause instanceof Error ? e.cause.message : undefined,
          });
        }
        reply({ type: 'error', id, error: errorToWire(e) });
      },
    );
  });
  return { close: () => port.close() };
}

// ---------------------------------------------------------------- caller side

/**
 * A Store whose every call goes over `port`. Errors come back as ChatError with the same code
 * (non-ChatErrors as `internal`, their text withheld). When the channel closes, from either end,
 * pending calls fail with `internal` and later calls fail at once. `close()` closes the channel,
 * not the store behind it. The port holds the event loop open only while calls are pending.
 */
export function remoteStore(port: MessagePort): Store {
  let closed = false;
  // The port holds the event loop open only while calls are pending.
  const pending = new PendingRequests({ onBusy: () => port.ref(), onIdle: () => port.unref() });
  const gone = () => new ChatError('internal', 'store connection closed');

  port.on('message', (msg: StoreReply) => {
    if (msg.type === 'result') pending.resolve(msg.id, msg.value);
    else pending.reject(msg.id, errorFromWire(msg.error));
  });
  port.on('close', () => {
    closed = true;
    pending.close(gone());
  });
  port.unref();

  const call = (method: Method, args: unknown[]): Promise<unknown> => {
    if (closed) return Promise.reject(gone());
    return pending.promise((id) => {
      try {
        port.postMessage({ type: 'call', id, method, args } satisfies StoreCall);
      } catch (e) {
        throw new ChatError('internal', `arguments of ${method} cannot be sent to the store`, { cause: e });
      }
    });
  };

  const proxy: Record<string, unknown> = {
    backend: 'remote',
    close: async () => {
      if (closed) return;
      closed = true;
      port.close();
    },
  };
  for (const method of Object.keys(METHODS) as Method[]) {
    proxy[method] = (...args: unknown[]) => call(method, args);
  }
  return proxy as unknown as Store;
}
