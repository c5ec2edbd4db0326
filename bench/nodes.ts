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
import { alternate } from './alternate.js';

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
const summary = await alternate(
  nodes.map((n) => ({ name: n.version, env: { BENCH_NODE_DIR: n.dir } })),
  rounds,
);
const medians = Object.fromEntries(Object.entries(summary).map(([name, { runs: _runs, ...m }]) => [name, m]));
process.stdout.write(`${JSON.stringify({ bench: 'nodes', rounds, cpus: cpus().length, loadAvg1m: Number(loadavg()[0]!.toFixed(2)), ...medians })}\n`);
