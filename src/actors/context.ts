/**
 * What a chat actor needs from the shard it lives on: the store, the shard's group committer,
 * configuration, and ways to reach other actors and the front threads. The shard entry
 * (./shard.ts) builds one per actor from the runtime's actor context.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { ChatActorKind, FrontPost } from './messages.js';
import type { GroupCommitter } from './group-commit.js';

export interface ShardServices {
  readonly store: Store;
  readonly committer: GroupCommitter;
  readonly config: Config;
  readonly log: Logger;
  /** How many front threads there are (posts address them by index 0..fronts-1). */
  readonly fronts: number;
  /** Usernames by id (authors of history and resume), cached per shard; one query for the misses. */
  usernames(ids: Iterable<number>): Promise<Map<number, string>>;
  rememberUsername(id: number, name: string): void;
  /**
   * User ids by username, case-insensitively (keys lower-cased; unknown names absent), cached per
   * shard (a username never changes owner: users are neither renamed nor deleted); one query for
   * the misses. Unknown names are not cached: the name may be registered a moment later.
   */
  userIds(names: Iterable<string>): Promise<Map<string, number>>;
}

export interface ChatContext {
  readonly services: ShardServices;
  post(front: number, msg: FrontPost): void;
  /** The same post to every front. */
  broadcast(msg: FrontPost): void;
  tell(kind: ChatActorKind, id: number | string, msg: unknown): void;
  ask<R>(kind: ChatActorKind, id: number | string, msg: unknown): Promise<R>;
  /**
   * Answer the current message later: the mailbox moves on to the next message now, and the reply
   * is sent when `p` settles. Group commit needs it: a room accepts many sends before one flush.
   */
  defer<R>(p: Promise<R>): R;
  /**
   * Answer the current ask now, ahead of any post this actor makes after the call (see the
   * runtime's ActorContext.answer); returns `value`, so a handler can `return ctx.answer(x)`.
   */
  answer<R>(value: R): R;
  /** Stop this actor once the current message is handled. */
  stopSelf(): void;
}
