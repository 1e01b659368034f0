import { threadId } from 'node:worker_threads';

/** Structured JSON logs on stderr, one object per line. */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

let threshold = RANK[(process.env.VEZA_LOG_LEVEL as Level | undefined) ?? 'info'] ?? RANK.info;

export function setLogLevel(level: Level): void {
  threshold = RANK[level];
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

function errorFields(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!fields) return fields;
  const err = fields.err;
  if (err instanceof Error) return { ...fields, err: { name: err.name, message: err.message, stack: err.stack } };
  return fields;
}

export function createLogger(bindings: Record<string, unknown> = {}): Logger {
  const write = (level: Exclude<Level, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < threshold) return;
    const line = { time: new Date().toISOString(), level, thread: threadId, ...bindings, msg, ...errorFields(fields) };
    process.stderr.write(JSON.stringify(line) + '\n');
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (b) => createLogger({ ...bindings, ...b }),
  };
}

export const log = createLogger();
