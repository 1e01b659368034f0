/** The `veza-chat` executable's entry (bin/veza-chat.js imports the compiled dist/cli/main.js). */
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2));
