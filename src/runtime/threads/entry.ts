/**
 * Worker entry files live next to the module that starts them and share its extension: `.ts` when
 * the runtime runs from src (tests under tap's loader, which workers inherit through execArgv),
 * `.js` when it runs from the compiled dist.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The URL of `./<name><ext>` beside `base` (an `import.meta.url`), with `base`'s extension. */
export function siblingModule(name: string, base: string): URL {
  const ext = extname(fileURLToPath(base)) || '.js';
  return new URL(`./${name}${ext}`, base);
}

/**
 * The Node flags for a worker that runs `entry`. A `.ts` entry needs the loader its parent was
 * started with (tap's TypeScript hooks), so it inherits them. A compiled `.js` entry needs none:
 * dropping module hooks (--import, --loader, --require) spares each thread loading a TypeScript
 * compiler it will never use, which otherwise dominates start-up under a test runner.
 */
export function workerExecArgv(entry: URL, parent: readonly string[] = process.execArgv): string[] {
  if (!entry.pathname.endsWith('.js')) return [...parent];
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i]!;
    if (/^--(import|loader|experimental-loader|require)=/.test(a)) continue;
    if (/^(--import|--loader|--experimental-loader|--require|-r)$/.test(a)) {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}
