/**
 * CLI entry of the Socket.IO reference server: `node dist/bench/socketio-main.js [--port N]
 * [--host H] [--ping-interval MS] [--ping-timeout MS] [--exit-on-stdin-close]`. Prints one JSON
 * line `{"event":"listening","port":N,"pid":P}` on stdout, then serves until SIGTERM or SIGINT
 * (or stdin closing, with the flag: `spawnSocketIoServer` sets it so a child never outlives its
 * parent).
 */
import { parseArgs } from 'node:util';
import { serveAsChild } from './child-server.js';
import { startSocketIoServer } from './socketio-server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'ping-interval': { type: 'string' },
    'ping-timeout': { type: 'string' },
    'exit-on-stdin-close': { type: 'boolean', default: false },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`socket.io: bad --port ${values.port}\n`);
  process.exit(2);
}
/** A positive integer of milliseconds, or undefined when the flag is absent. */
const ms = (flag: 'ping-interval' | 'ping-timeout'): number | undefined => {
  const v = values[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`socket.io: bad --${flag} ${v}\n`);
    process.exit(2);
  }
  return n;
};
const pingIntervalMs = ms('ping-interval');
const pingTimeoutMs = ms('ping-timeout');
const server = await startSocketIoServer({
  port,
  host: values.host,
  ...(pingIntervalMs === undefined ? {} : { pingIntervalMs }),
  ...(pingTimeoutMs === undefined ? {} : { pingTimeoutMs }),
});
serveAsChild('socket.io', server.port, values['exit-on-stdin-close'] === true, () => server.close());
