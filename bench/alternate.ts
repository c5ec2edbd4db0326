/**
 * Runs of bin/lastopens under two or more variants (another Node, another build), alternated
 * round by round so that a change in the machine's load hits every variant alike; medians per
 * variant, with the CPU count and load average beside every line. Used by bench/nodes.ts and
 * bench/compare.ts.
 */
import { cpus, loadavg } from 'node:os';
import { runWorkerBench } from './worker.js';

/** One way of running bin/lastopens: environment variables set (a string) or removed (undefined) for its runs. */
export interface Variant {
  name: string;
  env: Record<string, string | undefined>;
}

/** One run's figures, or (in the summary) the medians of a variant's runs, with `runs` in round order. */
export interface VariantSummary {
  records_per_sec: number;
  worker_cpu_us_per_record: number;
  redis_cpu_us_per_record: number;
  p99_batch_ms: number;
  rss_mb: number;
}

/** The median (the upper one of an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const machine = (): string => `${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;

/**
 * `rounds` rounds, each running every variant once (in reverse order on odd rounds); one
 * bin/lastopens run per call, no baseline and no per-event runs: only the variant differs.
 *
 * @example
 * const summary = await alternate([{ name: 'now', env: {} }, { name: 'base', env: { BENCH_LASTOPENS: '/tmp/base/bin/lastopens' } }], 3);
 */
export async function alternate(variants: readonly Variant[], rounds: number): Promise<Record<string, VariantSummary & { runs: VariantSummary[] }>> {
  Object.assign(process.env, { BENCH_RUNS: '1', BENCH_BASELINE_RUNS: '0', BENCH_SINGLE_RUNS: '0' });
  const results = new Map<string, VariantSummary[]>(variants.map((v) => [v.name, []]));
  const quiet = (): void => {};
  for (let round = 0; round < rounds; round++) {
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      for (const [key, value] of Object.entries(v.env)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      const r = await runWorkerBench(quiet);
      const run: VariantSummary = {
        records_per_sec: r.records_per_sec,
        worker_cpu_us_per_record: r.worker_cpu_us_per_record,
        redis_cpu_us_per_record: r.redis_cpu_us_per_record,
        p99_batch_ms: r.p99_batch_ms,
        rss_mb: r.rss_mb,
      };
      results.get(v.name)!.push(run);
      process.stdout.write(
        `round ${round + 1} ${v.name}: ${run.records_per_sec.toLocaleString('en-US')} records/s, worker ${run.worker_cpu_us_per_record} us/record, redis ${run.redis_cpu_us_per_record} us/record, p99 ${run.p99_batch_ms} ms, RSS ${run.rss_mb} MB [${machine()}]\n`,
      );
    }
  }
  return Object.fromEntries(
    [...results].map(([name, rs]): [string, VariantSummary & { runs: VariantSummary[] }] => [
      name,
      {
        runs: rs,
        records_per_sec: median(rs.map((r) => r.records_per_sec)),
        worker_cpu_us_per_record: median(rs.map((r) => r.worker_cpu_us_per_record)),
        redis_cpu_us_per_record: median(rs.map((r) => r.redis_cpu_us_per_record)),
        p99_batch_ms: median(rs.map((r) => r.p99_batch_ms)),
        rss_mb: median(rs.map((r) => r.rss_mb)),
      },
    ]),
  );
}
