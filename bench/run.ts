/**
 * `make bench`: runs the benchmarks in turn. The last line printed is the JSON summary of the
 * worker benchmark (see bench/worker.ts and docs/performance.md).
 */
import { runWorkerBench } from './worker.js';

// BENCH_WAIT_REPLICAS=1: also the cost of REDIS_WAIT_REPLICAS on a cluster with replicas
// (bench/waitReplicas.ts), printed before the worker summary so that stays the last line.
if (process.env.BENCH_WAIT_REPLICAS === '1') {
  const { runWaitBench } = await import('./waitReplicas.js');
  process.stdout.write(`${JSON.stringify(await runWaitBench())}\n`);
}
const worker = await runWorkerBench();
process.stdout.write(`${JSON.stringify(worker)}\n`);
