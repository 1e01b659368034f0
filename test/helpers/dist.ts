/**
 * End-to-end tests run the node from the compiled dist/ (what `veza-chat start` runs): its worker
 * threads then load plain JavaScript instead of compiling TypeScript once per thread, which is
 * most of a node's start-up time under tap. `npm test` builds first; a dist/ older than src/ is
 * refused rather than silently tested.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runEntriesFrom } from '../../bench/child-server.js';
import type * as Start from '../../src/server/start.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function newest(dir: string, ext: string): number {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) max = Math.max(max, newest(p, ext));
    else if (entry.name.endsWith(ext)) max = Math.max(max, statSync(p).mtimeMs);
  }
  return max;
}

let checked = false;

/** Throws unless dist/ is built and as new as src/ and bench/. */
export function checkDist(): void {
  if (!checked) {
    let built = 0;
    try {
      built = statSync(join(root, 'dist/src/server/start.js')).mtimeMs;
    } catch {
      throw new Error('dist/ is missing: run `npm run build` (npm test does) before the end-to-end tests');
    }
    if (Math.max(newest(join(root, 'src'), '.ts'), newest(join(root, 'bench'), '.ts')) > built + 1000) {
      throw new Error('dist/ is older than src/: run `npm run build` (npm test does) before the end-to-end tests');
    }
    checked = true;
  }
}

export async function compiledNode(): Promise<typeof Start> {
  checkDist();
  return (await import(new URL('../../dist/src/server/start.js', import.meta.url).href)) as typeof Start;
}

/**
 * The bench under test runs from src/, but its load-generator threads and its reference servers
 * (child processes) start from dist/bench: plain JavaScript, instead of compiling every module
 * again in each thread and child under tap's loaders (a second or more each).
 */
export function compiledBenchEntries(): void {
  checkDist();
  runEntriesFrom(join(root, 'dist/bench'));
}
