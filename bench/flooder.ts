/**
 * The attacker of the `flood` suite and of test/live-flood.ts (issue 17's finding): one user
 * pushing `fetch_history` and `resume` (200 ids a frame, real and made-up conversations) as fast
 * as one socket takes them, and reconnecting at once whenever the server closes it (4429) or
 * refuses the upgrade (429): no back-off, no `Retry-After` honoured.
 *
 * A child process of its own, so that its memory is not the server's, nor its CPU the load
 * generator's; the parent lowers its priority (`os.setPriority`): the attacker is another machine,
 * whose own work (a core spent writing frames) is not the server's to absorb, so here it may only
 * use what the server and the victims leave. The frames are made and masked once: what the
 * flooder spends per frame is a socket write.
 *
 * `process.argv[2]`: JSON `FloodArgs`. Runs until SIGTERM (or `seconds`), then prints one JSON
 * line, `FloodStats`, and exits 0.
 */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { workerExecArgv } from '../src/runtime/threads/entry.js';
import { siblingEntry } from './child-server.js';
import { encodeClientFrame, WsClientError, WsConnection } from './ws-client.js';

export interface FloodArgs {
  wsUrl: string;
  token: string;
  /** Conversations that exist (the victims' rooms): some requests name them, the rest are made up. */
  rooms: number[];
  /** Stop by itself after this long (the parent normally stops it with SIGTERM first). */
  seconds: number;
}

export interface FloodStats {
  /** Frames handed to the socket. */
  sent: number;
  /** Replies (`reply_to`) received, and how many of them were `rate_limited`. */
  replies: number;
  limited: number;
  /** Sockets opened, and how they ended, by close code. */
  opened: number;
  closes: Record<string, number>;
  /** Upgrades refused, by HTTP status (429: the connect budget or a connection cap). */
  refused: Record<string, number>;
}

/** Bytes queued in the socket before the pump waits for the next turn. */
const HIGH_WATER = 256 * 1024;
const FRAMES = 64;
const PER_TURN = 4096;

/** The frames, made once: resume with 200 positions, and fetch_history of real and made-up ids. */
export function floodFrames(rooms: readonly number[]): Buffer[] {
  const frames: Buffer[] = [];
  for (let n = 0; n < FRAMES; n++) {
    let frame: unknown;
    if (n % 2 === 0) {
      const positions: Record<string, number> = {};
      for (let i = 0; i < 200; i++) positions[i < rooms.length ? (rooms[i] as number) : 700_000_000 + n * 200 + i] = 0;
      frame = { type: 'resume', id: `r${n}`, data: { positions } };
    } else {
      const id = n % 4 === 1 && rooms.length > 0 ? (rooms[n % rooms.length] as number) : 800_000_000 + n;
      frame = { type: 'fetch_history', id: `h${n}`, data: { conversation_id: id, limit: 50 } };
    }
    // Masked once with one key: servers do not check that keys vary (RFC 6455 asks clients to).
    frames.push(encodeClientFrame(0x1, JSON.stringify(frame)));
  }
  return frames;
}

function flood(args: FloodArgs): void {
  const frames = floodFrames(args.rooms);
  const stats: FloodStats = { sent: 0, replies: 0, limited: 0, opened: 0, closes: {}, refused: {} };
  const until = Date.now() + args.seconds * 1000;
  let stopping = false;
  const done = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(JSON.stringify(stats) + '\n', () => process.exit(0));
  };
  process.on('SIGTERM', done);
  process.on('SIGINT', done);
  let n = 0;
  const connect = (): void => {
    if (stopping) return;
    if (Date.now() >= until) return done();
    let conn: WsConnection | null = null;
    const pump = (): void => {
      if (conn === null || stopping) return;
      // At most PER_TURN frames a turn: a socket the server has reset buffers nothing until its
      // 'close' event (which needs a turn), and a loop bounded by the buffer alone never ended.
      for (let k = 0; k < PER_TURN && conn.bufferedAmount < HIGH_WATER; k++) {
        if (!conn.sendRaw(frames[n++ & (FRAMES - 1)] as Buffer)) return; // closing: onClose reconnects
        stats.sent++;
      }
      setImmediate(pump);
    };
    WsConnection.connect({
      url: args.wsUrl,
      protocols: ['veza.json'],
      headers: { authorization: `Bearer ${args.token}` },
      closeTimeoutMs: 1000,
      onMessage: (data) => {
        // Cheap tests on the bytes: the flooder does not parse what it does not need.
        if (data.includes('"reply_to"')) stats.replies++;
        if (data.includes('"rate_limited"')) stats.limited++;
      },
      onClose: (code) => {
        conn = null;
        stats.closes[code] = (stats.closes[code] ?? 0) + 1;
        setImmediate(connect);
      },
    }).then(
      (c) => {
        conn = c;
        stats.opened++;
        pump();
      },
      (e: unknown) => {
        const key = e instanceof WsClientError ? (e.code === 'handshake_status' ? String(e.detail) : e.code) : 'error';
        stats.refused[key] = (stats.refused[key] ?? 0) + 1;
        setImmediate(connect);
      },
    );
  };
  connect();
}

export interface Flooder {
  readonly pid: number;
  /** SIGTERM (after SIGCONT, should it be stopped), then its figures. */
  stop(): Promise<FloodStats | null>;
}

/** Start the flooder as a child process at the lowest priority (see the file comment). */
export function startFlooder(args: FloodArgs): Flooder {
  const entry = siblingEntry('flooder');
  const child = spawn(process.execPath, [...workerExecArgv(entry), fileURLToPath(entry), JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (child.pid === undefined) throw new Error('the flooder did not start');
  try {
    // The attacker's machine is not this one: it gets what the server and the victims leave.
    setPriority(child.pid, 19);
  } catch {
    // Not allowed here: it runs at our priority (the figures then err against the server).
  }
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      }
      await exited;
      try {
        return JSON.parse(out.trim().split('\n').pop() ?? '') as FloodStats;
      } catch {
        return null;
      }
    },
  };
}

const arg = process.argv[2];
if (arg !== undefined && process.argv[1] !== undefined && /flooder\.[jt]s$/.test(process.argv[1])) flood(JSON.parse(arg) as FloodArgs);
