/**
 * CLI entry of the reference server: `node dist/bench/baseline-main.js [--port N] [--host H]
 * [--idle-timeout S] [--exit-on-stdin-close]`. Prints one JSON line
 * `{"event":"listening","port":N,"pid":P}` on stdout, then serves until SIGTERM or SIGINT (or
 * stdin closing, with the flag: `spawnBaseline` sets it so a child never outlives its parent).
 * It closes the uWS App before exiting (an exit with an App open aborts the process,
 * ECOSYSTEM.md).
 */
import { parseArgs } from 'node:util';
import { nameThisThread } from '../src/runtime/threads/thread-name.js';
import { serveAsChild } from './child-server.js';
import { startBaseline } from './uws-baseline.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'idle-timeout': { type: 'string' },
    'exit-on-stdin-close': { type: 'boolean', default: false },
  },
});

nameThisThread('uws-baseline');
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`baseline: bad --port ${values.port}\n`);
  process.exit(2);
}
const idle = values['idle-timeout'];
const server = await startBaseline({
  port,
  host: values.host,
  ...(idle === undefined ? {} : { idleTimeoutS: Number(idle) }),
});
serveAsChild('baseline', server.port, values['exit-on-stdin-close'] === true, () => server.close());
