/**
 * A reference server in a child process (the uWS baseline, the Socket.IO server), so its CPU and
 * RSS are read from /proc apart from the load generator's. The child's entry prints one JSON line
 * `{"event":"listening","port":N,"pid":P}` on stdout once it listens, stops on SIGTERM, and, given
 * `--exit-on-stdin-close`, when its stdin closes (so it never outlives the bench).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { siblingModule, workerExecArgv } from '../src/runtime/threads/entry.js';

export interface ChildServer {
  readonly pid: number;
  readonly port: number;
  /** SIGTERM, then wait for the exit code (the child closes its server first). */
  stop(): Promise<number | null>;
}

/** See `runEntriesFrom`. */
let compiledDir: string | null = null;

/**
 * Start the bench's threads and child processes from the compiled modules in `dir` (dist/bench)
 * instead of this module's siblings; null goes back to the siblings. For the tests, which run the
 * bench from the TypeScript sources: a .ts entry compiles every module it loads again, in every
 * thread and child (a second or more each), under the test runner's own loaders. The caller
 * checks that `dir` is as new as the sources.
 */
export function runEntriesFrom(dir: string | null): void {
  compiledDir = dir;
}

/**
 * The bench entry `name` (a thread's or a child process's): beside this module with its extension
 * (`siblingModule`), or in the directory `runEntriesFrom` set.
 */
export function siblingEntry(name: string): URL {
  return compiledDir !== null ? pathToFileURL(join(compiledDir, `${name}.js`)) : siblingModule(name, import.meta.url);
}

/**
 * Start `entry` with `args` (and `--exit-on-stdin-close`) and wait for its `listening` line; `what`
 * names the server in errors. It gets this process's Node flags as a worker would
 * (`workerExecArgv`: a .ts entry needs the loader that runs us, a .js one no module hooks).
 */
export function spawnChildServer(what: string, entry: URL, args: readonly string[], startTimeoutMs = 15_000): Promise<ChildServer> {
  const child = spawn(process.execPath, [...workerExecArgv(entry), fileURLToPath(entry), ...args, '--exit-on-stdin-close'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} child did not start in time`));
    }, startTimeoutMs);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      let msg: { event?: string; port?: number };
      try {
        msg = JSON.parse(line) as { event?: string; port?: number };
      } catch (e) {
        child.kill('SIGKILL');
        reject(new Error(`${what} child said ${JSON.stringify(line)}`, { cause: e }));
        return;
      }
      if (msg.event !== 'listening' || typeof msg.port !== 'number' || child.pid === undefined) {
        child.kill('SIGKILL');
        reject(new Error(`${what} child said ${line}`));
        return;
      }
      resolve({
        pid: child.pid,
        port: msg.port,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} child exited with ${code} before listening`));
    });
  });
}

/**
 * The child's side, once its server listens: print the `listening` line, then close the server
 * and exit on SIGTERM or SIGINT, or when stdin closes if `exitOnStdinClose` (a parent that dies
 * without signalling still closes our stdin: the child does not outlive it). Exit 0 once closed,
 * 1 if closing failed.
 */
export function serveAsChild(what: string, port: number, exitOnStdinClose: boolean, close: () => void | Promise<void>): void {
  process.stdout.write(JSON.stringify({ event: 'listening', port, pid: process.pid }) + '\n');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    Promise.resolve()
      .then(close)
      .then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`${what}: close failed: ${String(e)}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (exitOnStdinClose) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}
