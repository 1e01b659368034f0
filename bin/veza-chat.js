#!/usr/bin/env node
// The installed entry point runs the compiled CLI (npm runs `prepare`, which builds dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('veza-chat: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(main.href);
