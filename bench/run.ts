/**
 * `make bench`: runs the benchmarks in turn. The last line printed is the JSON summary of the
 * worker benchmark (see bench/worker.ts and docs/performance.md).
 */
import { runWorkerBench } from './worker.js';

const worker = await runWorkerBench();
process.stdout.write(`${JSON.stringify(worker)}\n`);
