/**
 * The cost of REDIS_WAIT_REPLICAS, measured the only way that means something on a shared machine:
 * in one run, on one Redis Cluster with replicas (3 masters + 3 replicas, started here on free
 * ports), bin/lastopens alternately without and with `REDIS_WAIT_REPLICAS=1`, same input; reported
 * as same-run ratios of throughput and of worker CPU per record, pair by pair. Run by `make bench`
 * with BENCH_WAIT_REPLICAS=1, or on its own: `node --import tsx bench/waitReplicas.ts`.
 *
 * Knobs: BENCH_RECORDS (200000), BENCH_BATCH (10000), BENCH_ID_SPACE (1000000), BENCH_RUNS (3
 * pairs), REDIS_WAIT_TIMEOUT_MS for the WAIT runs (1000).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import { startRedisCluster } from '../test/helpers/redis.js';
import { buildBenchData } from './data.js';
import { fmt, timeWorker, type RunResult } from './worker.js';

const LASTOPENS = fileURLToPath(new URL('../bin/lastopens', import.meta.url));

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Same-run figures of the WAIT cost (medians over the pairs). */
export interface WaitBenchResult {
  /** records/s with WAIT divided by records/s without, same run. */
  wait_throughput_ratio: number;
  /** worker CPU microseconds per record, without and with WAIT. */
  cpu_us_per_record_without: number;
  cpu_us_per_record_with: number;
  /** batch p99 in ms, without and with WAIT (wall clock: only meaningful on a quiet machine). */
  p99_batch_ms_without: number;
  p99_batch_ms_with: number;
}

/**
 * Runs the pairs and logs each run; returns the medians.
 *
 * @example
 * const r = await runWaitBench(); // { wait_throughput_ratio: 0.9, ... }
 */
export async function runWaitBench(log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<WaitBenchResult> {
  const records = envInt('BENCH_RECORDS', 200_000);
  const batchSize = envInt('BENCH_BATCH', 10_000);
  const idSpace = envInt('BENCH_ID_SPACE', 1_000_000);
  const pairs = envInt('BENCH_RUNS', 3);
  const data = buildBenchData({ records, batchSize, idSpace });
  log(`WAIT bench: ${records.toLocaleString('en-US')} records in batches of ${batchSize.toLocaleString('en-US')}, ${pairs} pairs, cluster 3 masters + 3 replicas`);
  const cluster = await startRedisCluster({ replicas: 1 });
  const client = new Cluster(cluster.nodes);
  const dir = mkdtempSync(join(tmpdir(), 'bench-wait-'));
  const without: RunResult[] = [];
  const withWait: RunResult[] = [];
  try {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      RESULTS_REDIS_URL: cluster.url,
      STREAM_NAME: 'app-opens',
      LOG_PATH: join(dir, 'lastopens.log'),
      STATS_INTERVAL_MS: '0',
      NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '--max-semi-space-size=32',
    };
    const waitEnv = { ...env, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: process.env.REDIS_WAIT_TIMEOUT_MS ?? '1000' };
    for (let i = 0; i < pairs; i++) {
      // Alternate which goes first, so a drift of the machine's load does not favour one side.
      const order = i % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
      for (const mode of order) {
        await Promise.all(client.nodes('master').map((m) => m.flushall()));
        const r = await timeWorker(LASTOPENS, [], mode === 'with' ? waitEnv : env, data);
        const keys = (await Promise.all(client.nodes('master').map((m) => m.dbsize()))).reduce((a, b) => a + b, 0);
        if (keys === 0) throw new Error('nothing written');
        (mode === 'with' ? withWait : without).push(r);
        log(`  pair ${i + 1} ${mode === 'with' ? 'WAIT 1   ' : 'no WAIT  '}: ${fmt(r)}`);
      }
      const a = without[i]!;
      const b = withWait[i]!;
      log(`  pair ${i + 1}: throughput with/without ${(b.recordsPerSec / a.recordsPerSec).toFixed(3)}, worker CPU per record with/without ${(b.cpuSec / a.cpuSec).toFixed(3)}`);
    }
  } finally {
    client.disconnect();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const cpuUs = (r: RunResult): number => (r.cpuSec / data.records) * 1e6;
  return {
    wait_throughput_ratio: Math.round(median(without.map((a, i) => withWait[i]!.recordsPerSec / a.recordsPerSec)) * 1000) / 1000,
    cpu_us_per_record_without: Math.round(median(without.map(cpuUs)) * 100) / 100,
    cpu_us_per_record_with: Math.round(median(withWait.map(cpuUs)) * 100) / 100,
    p99_batch_ms_without: Math.round(median(without.map((r) => r.p99BatchMs))),
    p99_batch_ms_with: Math.round(median(withWait.map((r) => r.p99BatchMs))),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await runWaitBench())}\n`);
}
