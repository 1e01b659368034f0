import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import { nameThisThread } from '../../runtime/threads/thread-name.js';
import { CliError, type CliIO } from '../io.js';
import { configFromFlags, withServerFlags, type ServerFlags } from '../options.js';

type StartNode = (config: Config) => Promise<unknown>;

/**
 * The node's entry (src/node/start.ts). Imported by a computed specifier, so the CLI compiles and
 * its other commands run while that module does not exist yet.
 */
async function loadStartNode(): Promise<StartNode> {
  const specifier = new URL('../../server/start.js', import.meta.url).href;
  let mod: { startNode?: unknown };
  try {
    mod = (await import(specifier)) as { startNode?: unknown };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('node/start')) {
      throw new CliError('this build has no server entry (src/node/start.ts); rebuild with `npm run build`', 1, { cause: e });
    }
    throw e;
  }
  if (typeof mod.startNode !== 'function') throw new CliError('src/node/start.ts does not export startNode(config)');
  return mod.startNode as StartNode;
}

export function registerStart(program: Command, io: CliIO): void {
  withServerFlags(program.command('start').description('start a node: REST and WebSocket on --host:--port')).action(
    async (flags: ServerFlags) => {
      const config = configFromFlags(flags, io);
      // Here rather than in startNode: tests start nodes inside the test runner's process, whose
      // main thread is not theirs to rename. This process is the node.
      nameThisThread('veza-main');
      const startNode = await loadStartNode();
      await startNode(config);
    },
  );
}
