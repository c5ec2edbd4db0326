/**
 * `make bench-nodes` (part of `make bench`): bin/lastopens on the machine's Node and on the
 * current LTS (`make node-lts`), side by side in one invocation, runs alternated so that a change in
 * the machine's load hits both alike. Medians of records/s and of worker CPU per record; the
 * figures go into docs/performance.md with nproc and the load average.
 *
 * Usage: node --import tsx bench/nodes.ts <dir of the second node> [rounds, default 3]
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { runWorkerBench } from './worker.js';

const lts = process.argv[2];
const rounds = Number(process.argv[3] ?? 3);
if (!lts) {
  process.stderr.write('usage: bench/nodes.ts <folder holding the second node binary> [rounds]\n');
  process.exit(2);
}
const machineNode = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
const ltsNode = execFileSync(join(lts, 'node'), ['--version'], { encoding: 'utf8' }).trim();
const nodes: Array<{ version: string; dir: string | undefined }> = [
  { version: machineNode, dir: undefined },
  { version: ltsNode, dir: lts },
];
// One bin/lastopens run per call; no baseline, no per-event runs: only the Node differs.
Object.assign(process.env, { BENCH_RUNS: '1', BENCH_BASELINE_RUNS: '0', BENCH_SINGLE_RUNS: '0' });
const results = new Map<string, Array<{ rps: number; cpu: number; p99: number; rss: number }>>(nodes.map((n) => [n.version, []]));
const quiet = (): void => {};
for (let round = 0; round < rounds; round++) {
  for (const n of round % 2 === 0 ? nodes : [...nodes].reverse()) {
    if (n.dir === undefined) delete process.env.BENCH_NODE_DIR;
    else process.env.BENCH_NODE_DIR = n.dir;
    const r = await runWorkerBench(quiet);
    results.get(n.version)!.push({ rps: r.records_per_sec, cpu: r.worker_cpu_us_per_record, p99: r.p99_batch_ms, rss: r.rss_mb });
    process.stdout.write(`round ${round + 1} node ${n.version}: ${r.records_per_sec.toLocaleString('en-US')} records/s, worker ${r.worker_cpu_us_per_record} us/record, p99 ${r.p99_batch_ms} ms, RSS ${r.rss_mb} MB [${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}]\n`);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = Object.fromEntries(
  [...results].map(([version, rs]) => [version, { records_per_sec: median(rs.map((r) => r.rps)), worker_cpu_us_per_record: median(rs.map((r) => r.cpu)), p99_batch_ms: median(rs.map((r) => r.p99)), rss_mb: median(rs.map((r) => r.rss)) }]),
);
process.stdout.write(`${JSON.stringify({ bench: 'nodes', rounds, cpus: cpus().length, loadAvg1m: Number(loadavg()[0]!.toFixed(2)), ...summary })}\n`);
