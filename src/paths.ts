/**
 * Where the package's own files are. Modules run from two places, src/ under the test runner and
 * dist/ once built (dist/src/, dist/bench/), so a path written relative to one module is right in
 * one of them only: the package root, found by walking up to package.json, is right in both.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`veza-chat: no package.json above ${from}`);
  }
}

/** The directory holding veza-chat's package.json, bin/, migrations/ and dist/. */
export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
