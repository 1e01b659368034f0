/**
 * Entry of a front thread: imports the front module named by the supervisor and runs its `setup`
 * with an ActorClient (tell/ask, backpressure events per shard link) and a handler slot for the raw
 * messages actors post to this front. The module owns the sockets; the runtime owns the rings.
 */
import { workerData } from 'node:worker_threads';
import type { WorkerBoot } from './control-messages.js';
import { nameThisThread } from './thread-name.js';
import { WorkerRuntime } from './worker-runtime.js';
import type { FrontContext, FrontModule, FrontServices } from '../types.js';

const boot = workerData as WorkerBoot;
nameThisThread(`veza-front-${boot.index}`);
const rt = new WorkerRuntime(boot);
let onPost: ((msg: unknown, from: { shard: number }) => void) | null = null;

const ctx: FrontContext = {
  index: boot.index,
  fronts: boot.fronts,
  shards: boot.shards,
  data: boot.data,
  config: boot.config,
  actors: rt.client,
  cpu: rt.cpu,
  ports: boot.ports ?? {},
  log: rt.log,
  onPost(handler) {
    onPost = handler;
  },
  main: (msg) => rt.askMain(msg),
};

await rt.run<FrontServices>({
  onEnvelope(env, peer) {
    if (env.type !== 'post') {
      rt.log.warn('a front got an actor envelope; dropped', { type: env.type, peer });
      return;
    }
    if (onPost) onPost(env.msg, { shard: rt.topology.refOf(peer).index });
    else rt.log.warn('a post arrived before the front registered onPost; dropped');
  },
  async setup() {
    const mod = (await import(boot.module)) as Partial<FrontModule>;
    if (typeof mod.setup !== 'function') throw new TypeError(`front module ${boot.module} exports no setup()`);
    return mod.setup(ctx);
  },
  async stop(services) {
    await services.stop?.();
  },
  control(services, msg) {
    if (!services.control) throw new TypeError('this front module has no control()');
    return services.control(msg);
  },
});
