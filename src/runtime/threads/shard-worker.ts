/**
 * Entry of a shard thread: hosts actors. Imports the shard module named by the supervisor, runs its
 * `setup` (shard-level services, actor kinds), and feeds the ActorHost with the envelopes that
 * arrive on its rings. When the host's backlog passes its limit, the shard stops reading its front
 * links (shard-to-shard links keep flowing, so two shards waiting on each other cannot deadlock)
 * until the backlog halves: a slow actor becomes backpressure on the fronts.
 */
import { workerData } from 'node:worker_threads';
import { ActorHost } from '../actors/host.js';
import type { WorkerBoot } from './control-messages.js';
import { nameThisThread } from './thread-name.js';
import { WorkerRuntime } from './worker-runtime.js';
import { actorsActive, mailboxDepth, onCollect } from '../../metrics/index.js';
import type { ShardModule, ShardServices, ShardSetupContext } from '../types.js';

const boot = workerData as WorkerBoot;
nameThisThread(`veza-shard-${boot.index}`);
// The client delivers to this shard's own actors through `host`, declared just below.
const rt = new WorkerRuntime(boot, (env, peer) => host.deliver(env, peer));
const { config } = boot;

const host = new ActorHost({
  shard: boot.index,
  topology: rt.topology,
  client: rt.client,
  reply: (peer, env) => rt.reply(peer, env),
  post: (front, msg) => rt.post(front, msg),
  passivateAfterMs: config.runtime.passivateAfterMs,
  backlogLimit: config.runtime.overflowLimit,
  onBacklog: (high) => {
    for (let f = 0; f < rt.topology.fronts; f++) {
      const link = rt.links.get(rt.topology.frontPeer(f))!;
      if (high) link.pauseReading();
      else link.resumeReading();
    }
  },
  log: rt.log,
});

const shardLabel = { shard: String(boot.index) };
onCollect(() => {
  actorsActive.set(shardLabel, host.size);
  mailboxDepth.set(shardLabel, host.backlog);
});

const ctx: ShardSetupContext = {
  index: boot.index,
  fronts: boot.fronts,
  shards: boot.shards,
  data: boot.data,
  config,
  actors: rt.client,
  cpu: rt.cpu,
  ports: boot.ports ?? {},
  log: rt.log,
  post: (front, msg) => rt.post(front, msg),
  broadcast: (msg) => {
    let all = true;
    for (let f = 0; f < boot.fronts; f++) all = rt.post(f, msg) && all;
    return all;
  },
};

await rt.run<ShardServices>({
  onEnvelope(env, peer) {
    if (env.type === 'post') rt.log.warn('a shard got a post envelope; dropped', { peer });
    else host.deliver(env, peer);
  },
  async setup() {
    const mod = (await import(boot.module)) as Partial<ShardModule>;
    if (typeof mod.setup !== 'function') throw new TypeError(`shard module ${boot.module} exports no setup()`);
    const services = await mod.setup(ctx);
    host.setKinds(services.kinds);
    return services;
  },
  async stop(services) {
    await host.stopAll();
    await services.stop?.();
  },
  control(services, msg) {
    // Actors in memory on this shard (tests: an id that does not exist leaves none behind).
    if ((msg as { t?: string }).t === 'activations') return { activations: host.size };
    if (!services.control) throw new TypeError('this shard module has no control()');
    return services.control(msg);
  },
});
