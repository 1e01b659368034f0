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
