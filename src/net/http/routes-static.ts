/**
 * The web client at `/` (web/index.html, web/app.css, and the page's modules compiled by tsc:
 * dist/src/web/*.js and the client library dist/src/client/*.js). Every file is read once, when the
 * routes are made, into a table keyed by its exact name: a request names a file of that table or
 * gets 404, so no path from the wire ever reaches the file system (no traversal to guard).
 *
 * Each reply carries a strict Content-Security-Policy: scripts, styles and connections from this
 * origin only (the page's WebSocket included), nothing inline, no plugins, no framing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChatError } from '../../errors.js';
import { PACKAGE_ROOT } from '../../paths.js';
import type { Reply, Route } from './types.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/** `name` → the file's bytes, for the files of `dir` with one of `exts` (none when it is absent). */
function readDir(dir: string, exts: string[]): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && exts.some((e) => entry.name.endsWith(e))) files.set(entry.name, readFileSync(join(dir, entry.name)));
  }
  return files;
}

function asset(name: string, bytes: Buffer): Reply {
  const ext = name.slice(name.lastIndexOf('.'));
  return {
    status: 200,
    raw: bytes,
    headers: {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      // The files change with the package version only; a reload must still see a new install.
      'cache-control': 'no-cache',
    },
  };
}

export function staticRoutes(root: string = PACKAGE_ROOT): Route[] {
  const pages = readDir(join(root, 'web'), ['.html', '.css']);
  const dirs: Record<string, Map<string, Buffer>> = {
    web: readDir(join(root, 'dist/src/web'), ['.js']),
    client: readDir(join(root, 'dist/src/client'), ['.js']),
  };
  const serve = (files: Map<string, Buffer>, name: string): Reply => {
    const bytes = files.get(name);
    if (!bytes) throw new ChatError('not_found', 'no such file');
    return asset(name, bytes);
  };
  const routes: Route[] = [
    { method: 'GET', path: '/', handler: async () => serve(pages, 'index.html') },
    { method: 'GET', path: '/app.css', handler: async () => serve(pages, 'app.css') },
  ];
  for (const [prefix, files] of Object.entries(dirs)) {
    routes.push({ method: 'GET', path: `/${prefix}/:file`, handler: async (req) => serve(files, req.params.file ?? '') });
  }
  return routes;
}
