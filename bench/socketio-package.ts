/**
 * socket.io is a devDependency: only the Socket.IO reference server (`--target socketio`,
 * `--compare-socketio`) needs it, so the bench loads it on demand and says how to add it when it
 * is missing (an installed veza-chat does not bring it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { PACKAGE_ROOT } from '../src/paths.js';

const require = createRequire(import.meta.url);

/** The version package.json names (devDependencies), for the install hint. */
function wantedVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
    const v = pkg.devDependencies?.['socket.io'];
    if (typeof v === 'string' && v.length > 0) return v;
  } catch {
    // Fall through to the major version.
  }
  return '4';
}

export class SocketIoMissing extends Error {
  constructor(cause?: unknown) {
    super(`the Socket.IO reference needs the socket.io package: npm install socket.io@${wantedVersion()}`, cause === undefined ? undefined : { cause });
    this.name = 'SocketIoMissing';
  }
}

/** The installed socket.io's version; throws SocketIoMissing when it is not installed. */
export function socketIoVersion(): string {
  let pkg: { version?: unknown };
  try {
    pkg = require('socket.io/package.json') as { version?: unknown };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') throw new SocketIoMissing(e);
    throw e;
  }
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/** Throws SocketIoMissing when socket.io is not installed: call it before starting anything. */
export function requireSocketIo(): void {
  socketIoVersion();
}

/** socket.io's module, loaded on first use. */
export async function loadSocketIo(): Promise<typeof import('socket.io')> {
  requireSocketIo();
  return import('socket.io');
}
