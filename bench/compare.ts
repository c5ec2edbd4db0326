/**
 * `make bench-compare BASE=<commit>`: this tree's bin/lastopens beside the one of another commit,
 * built from `git archive` into a temporary directory, runs alternated in one invocation (see
 * bench/alternate.ts). A refactor claims "figures unchanged" with this: the medians of both, their
 * ratio, and the CPU count and load average beside every run.
 *
 * Usage: node --import tsx bench/compare.ts <commit> [rounds, default 5]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alternate, median } from './alternate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const commit = process.argv[2];
const rounds = Number(process.argv[3] ?? 5);
if (!commit || !(Number.isInteger(rounds) && rounds >= 1)) {
  process.stderr.write('usage: bench/compare.ts <commit> [rounds >= 1]\n');
  process.exit(2);
}

/** Builds `commit` into a directory of its own (once; reused after) with its own build script. */
function buildBase(rev: string): string {
  const sha = execFileSync('git', ['rev-parse', '--short=12', rev], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dir = join(tmpdir(), `kinesis-streams-base-${sha}`);
  if (existsSync(join(dir, '.built'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`building ${sha} in ${dir}\n`);
  execFileSync('sh', ['-c', `git archive ${sha} | tar -x -C "${dir}"`], { cwd: ROOT, stdio: 'inherit' });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: dir, stdio: 'inherit' });
  execFileSync('touch', [join(dir, '.built')]);
  return dir;
}

const base = buildBase(commit);
execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
const summary = await alternate(
  [
    { name: 'this tree', env: { BENCH_LASTOPENS: undefined } },
    { name: `base ${commit}`, env: { BENCH_LASTOPENS: join(base, 'bin/lastopens') } },
  ],
  rounds,
);
const { runs: nowRuns, ...now } = summary['this tree']!;
const { runs: thenRuns, ...then } = summary[`base ${commit}`]!;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const ratio = (a: number, b: number): number => round3(a / b);
// The machine's speed drifts between rounds more than between the two runs of a round: the
// median of the per-round ratios is the steadier figure.
const paired = (key: keyof typeof now): number => round3(median(nowRuns.map((r, i) => r[key] / thenRuns[i]![key])));
process.stdout.write(
  `${JSON.stringify({
    bench: 'compare',
    base: commit,
    rounds,
    cpus: cpus().length,
    loadAvg1m: Number(loadavg()[0]!.toFixed(2)),
    this_tree: now,
    base_tree: then,
    ratio_records_per_sec: ratio(now.records_per_sec, then.records_per_sec),
    ratio_worker_cpu_us_per_record: ratio(now.worker_cpu_us_per_record, then.worker_cpu_us_per_record),
    paired_ratio_records_per_sec: paired('records_per_sec'),
    paired_ratio_worker_cpu_us_per_record: paired('worker_cpu_us_per_record'),
    paired_ratio_redis_cpu_us_per_record: paired('redis_cpu_us_per_record'),
  })}\n`,
);
