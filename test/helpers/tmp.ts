/**
 * Temporary directories a test file makes, all removed when the file's tests end: a node's
 * embedded database alone is 40 MiB, and /tmp is not cleaned between runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/** A maker of fresh directories named `<prefix>-XXXXXX`, each removed at `t`'s teardown. */
export function tempDirs(t: Pick<Test, 'teardown'>, prefix: string): () => string {
  const made: string[] = [];
  t.teardown(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    made.push(dir);
    return dir;
  };
}
