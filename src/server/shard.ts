/**
 * The shard module: what runs on every shard thread. It opens the thread's store, its group
 * committer, and registers the chat actor kinds (rooms, users).
 */
import { GroupCommitter } from '../actors/group-commit.js';
import type { ChatContext, ShardServices as ChatServices } from '../actors/context.js';
import { MESSAGE, ROOM, SESSION, USER, type ChatActorKind, type FrontPost } from '../actors/messages.js';
import { SessionActor } from '../actors/session.js';
import { MessageRouter } from '../actors/message-router.js';
import { RoomActor } from '../actors/room.js';
import { UserActor } from '../actors/user.js';
import type { ActorContext, ShardServices, ShardSetupContext } from '../runtime/types.js';
import { threadStore } from './thread-store.js';
import { countCache, observeCommit } from '../metrics/index.js';

export async function setup(ctx: ShardSetupContext): Promise<ShardServices> {
  const { config } = ctx;
  const store = await threadStore(config, ctx.ports, Math.max(2, Math.ceil(config.database.poolSize / config.server.shards)));
  const committer = new GroupCommitter(store, {
    maxBatch: config.runtime.commitBatch,
    windowMs: config.runtime.commitWindowMs,
    intervalMs: config.runtime.commitIntervalMs,
    onFlush: observeCommit,
  });
  const names = new Map<number, string>();
  /** Lower-cased username → id, for mentions (the reverse of `names`). */
  const ids = new Map<string, number>();
  const services: ChatServices = {
    store,
    committer,
    config,
    log: ctx.log,
    fronts: ctx.fronts,
    async usernames(ids) {
      const out = new Map<number, string>();
      const missing: number[] = [];
      for (const id of ids) {
        const n = names.get(id);
        if (n === undefined) missing.push(id);
        else out.set(id, n);
      }
      countCache('usernames', out.size, missing.length);
      if (missing.length > 0) {
        for (const [id, n] of await store.usernames(missing)) {
          names.set(id, n);
          out.set(id, n);
        }
      }
      return out;
    },
    rememberUsername(id, name) {
      names.set(id, name);
      ids.set(name.toLowerCase(), id);
    },
    async userIds(wanted) {
      const out = new Map<string, number>();
      const missing: string[] = [];
      for (const name of wanted) {
        const lower = name.toLowerCase();
        const id = ids.get(lower);
        if (id === undefined) missing.push(lower);
        else out.set(lower, id);
      }
      if (missing.length > 0) {
        for (const [name, id] of await store.usersByName(missing)) {
          ids.set(name, id);
          out.set(name, id);
        }
      }
      return out;
    },
  };
  const chat = (actor: ActorContext): ChatContext => new ShardChatContext(services, actor);
  return {
    kinds: {
      [ROOM]: (id, actor) => new RoomActor(Number(id), chat(actor)),
      [USER]: (id, actor) => new UserActor(Number(id), chat(actor)),
      // A session lives as long as its connection and stops itself when told it closed.
      [SESSION]: { create: (id, actor) => new SessionActor(id, chat(actor)), passivateAfterMs: 2 ** 31 - 1 },
      // A router holds one number: it may go soon after its last request.
      [MESSAGE]: { create: (id, actor) => new MessageRouter(Number(id), chat(actor)), passivateAfterMs: 30_000 },
    },
    async stop() {
      await committer.close();
      await store.close();
    },
    control(msg) {
      if ((msg as { t?: string }).t === 'stats') return { pendingCommits: committer.pending };
      return undefined;
    },
  };
}

/**
 * The chat layer's view of an actor's runtime context. A class rather than an object of closures:
 * every connection has a SessionActor, so this object exists once per connection and its size counts.
 */
class ShardChatContext implements ChatContext {
  readonly services: ChatServices;
  readonly #actor: ActorContext;

  constructor(services: ChatServices, actor: ActorContext) {
    this.services = services;
    this.#actor = actor;
  }

  post(front: number, msg: FrontPost): void {
    this.#actor.post(front, msg);
  }

  broadcast(msg: FrontPost): void {
    this.#actor.broadcast(msg);
  }

  tell(kind: ChatActorKind, id: number | string, msg: unknown): void {
    this.#actor.tell(kind, String(id), msg);
  }

  tellIfActive(kind: ChatActorKind, id: number | string, msg: unknown): void {
    this.#actor.tellIfActive(kind, String(id), msg);
  }

  ask<R>(kind: ChatActorKind, id: number | string, msg: unknown): Promise<R> {
    return this.#actor.ask<R>(kind, String(id), msg);
  }

  defer<R>(p: Promise<R>): R {
    return this.#actor.defer(p);
  }

  answer<R>(value: R): R {
    this.#actor.answer(value);
    return value;
  }

  stopSelf(): void {
    this.#actor.stopSelf();
  }
}
