/**
 * The cost of metrics in instructions, which a loaded machine does not blur: bin/lastopens under
 * valgrind's callgrind, the same input with METRICS_PATH unset and set (METRICS_INTERVAL_MS 1000,
 * while valgrind slows the worker about fifty-fold, so far more flushes per record than in
 * production), total instructions (Ir) of each, the difference per record.
 *
 *   node --import tsx bench/callgrindMetrics.ts   (BENCH_RECORDS, default 20000; needs valgrind)
 *
 * Start-up is in both totals alike; the difference is what metrics add for this many records.
 * Caution: V8's GC and JIT decisions depend on time, so two runs of the same configuration can
 * differ by several per cent on a loaded machine (seen: 7% between two runs with metrics off).
 * Run it several times and compare the spread with the difference.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestDaemon } from '../src/testing/index.js';
import { startRedis } from '../test/helpers/redis.js';
import { buildBenchData } from './data.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LASTOPENS = join(ROOT, 'bin/lastopens');
const records = Number(process.env.BENCH_RECORDS ?? 20_000);
const data = buildBenchData({ records, batchSize: 5_000, idSpace: 1_000_000 });
const server = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'callgrind-metrics-'));

async function instructions(metrics: boolean): Promise<number> {
  const out = join(dir, `callgrind.${metrics ? 'on' : 'off'}.%p`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    RESULTS_REDIS_URL: server.url,
    STREAM_NAME: 'app-opens',
    LOG_PATH: join(dir, 'lastopens.log'),
    STATS_INTERVAL_MS: '0',
    NODE_OPTIONS: '--max-semi-space-size=32',
    ...(metrics ? { METRICS_PATH: join(dir, 'metrics.emf'), METRICS_INTERVAL_MS: '1000' } : {}),
  };
  const daemon = TestDaemon.spawn('valgrind', { args: ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, LASTOPENS], env, actionTimeoutMs: 1_200_000 });
  await daemon.initialize('shardId-000000000000');
  for (const b of data.batches) await daemon.sendPrepared(b);
  await daemon.shutdownRequested();
  const exit = await daemon.closeInput();
  if (exit.code !== 0) throw new Error(`exit ${JSON.stringify(exit)}: ${daemon.stderr.slice(-2000)}`);
  const file = readdirSync(dir).find((f) => f.startsWith(`callgrind.${metrics ? 'on' : 'off'}.`))!;
  const m = /^summary: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8')) ?? /^totals: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
  return Number(m![1]);
}

try {
  const off = await instructions(false);
  const on = await instructions(true);
  const lines = readFileSync(join(dir, 'metrics.emf'), 'utf8').split('\n').filter(Boolean).length;
  process.stdout.write(
    `${JSON.stringify({ records, instructions_off: off, instructions_on: on, metrics_lines: lines, extra_per_record: Math.round((on - off) / records), overhead_pct: Math.round(((on - off) / off) * 10_000) / 100 })}\n`,
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
