/**
 * Ring vs postMessage between two threads, and round-trip latency over rings.
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs bench/ring.ts [envelopes]
 * (or, built: `node dist/bench/ring.js [envelopes]`)
 * Prints one JSON object.
 */
import { runRingBench } from './ring-bench.js';

export { runRingBench };

const envelopes = Number(process.argv[2] ?? 1_000_000);
const result = await runRingBench({ envelopes });
process.stdout.write(JSON.stringify(result) + '\n');
