/**
 * The shard module: what runs on every shard thread. It opens the thread's store, its group
 * committer, and registers the chat actor kinds (rooms, users).
 */
import { GroupCommitter } from '../actors/group-commit.js';
import type { ChatContext, ShardServices as ChatServices } from '../actors/context.js';
import { ROOM, SESSION, USER, type ChatActorKind } from '../actors/messages.js';
import { SessionActor } from '../actors/session.js';
import { RoomActor } from '../actors/room.js';
import { UserActor } from '../actors/user.js';
import type { ActorContext, ShardServices, ShardSetupContext } from '../runtime/types.js';
import { threadStore } from './thread-store.js';

export async function setup(ctx: ShardSetupContext): Promise<ShardServices> {
  const { config } = ctx;
  const store = await threadStore(config, ctx.ports, Math.max(2, Math.ceil(config.database.poolSize / config.server.shards)));
  const committer = new GroupCommitter(store, {
    maxBatch: config.runtime.commitBatch,
    windowMs: config.runtime.commitWindowMs,
  });
  const names = new Map<number, string>();
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
    },
  };
  const chat = (actor: ActorContext): ChatContext => ({
    services,
    post: (front, msg) => void actor.post(front, msg),
    tell: (kind: ChatActorKind, id, msg) => void actor.tell(kind, String(id), msg),
    ask: (kind: ChatActorKind, id, msg) => actor.ask(kind, String(id), msg),
    defer: (p) => actor.defer(p),
    stopSelf: () => actor.stopSelf(),
  });
  return {
    kinds: {
      [ROOM]: (id, actor) => new RoomActor(Number(id), chat(actor)),
      [USER]: (id, actor) => new UserActor(Number(id), chat(actor)),
      // A session lives as long as its connection and stops itself when told it closed.
      [SESSION]: { create: (id, actor) => new SessionActor(id, chat(actor)), passivateAfterMs: 2 ** 31 - 1 },
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
