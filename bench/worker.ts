/**
 * The worker benchmark: the real bin/lastopens process, driven over real pipes by the test daemon
 * against a private redis-server, beside a baseline written the aws-kcl sample way and the bound
 * set by decoding alone. See docs/performance.md.
 *
 * Environment knobs (defaults in parentheses): BENCH_RECORDS (300000), BENCH_BATCH (10000),
 * BENCH_ID_SPACE (1000000), BENCH_RUNS (3), BENCH_BASELINE_RUNS (= BENCH_RUNS; 0 skips it),
 * BENCH_SINGLE_RUNS (= BENCH_BASELINE_RUNS; runs of the per-event path: bench/readmeWorker.js, a
 * worker written exactly as the README's "Write a worker" shows, one recordLastOpen per event,
 * public entry points only; reported as `per_event_*` in the summary; 0 skips it),
 * BENCH_PARTITION_KEY (`second`: the event's second of the minute, as the talk's API sets it;
 * `userId`),
 * BENCH_WORKER_ARGS (extra node flags for bin/lastopens, e.g. --cpu-prof; it is then started as
 * `node <flags of its shebang line> <these flags> bin/lastopens`),
 * BENCH_WORKER_ENV (extra KEY=VALUE pairs for it, space-separated), BENCH_NODE_OPTIONS (NODE_OPTIONS
 * of bin/lastopens, default `--max-semi-space-size=32`, the setting docs/performance.md recommends),
 * BENCH_WORKER_WRAPPER (a command line bin/lastopens is started under, e.g.
 * `valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/tmp/cg.%p`, for
 * instruction counts that do not depend on the machine's load), BENCH_LASTOPENS (another build's
 * bin/lastopens to run, e.g. main's, for a before/after in the same run).
 * BENCH_NODE_DIR (a folder whose `node` runs bin/lastopens instead of the one on PATH; bench/nodes.ts),
 * BENCH_METRICS (`off`: as shipped, no METRICS_PATH; `on`: every bin/lastopens run writes metrics;
 * `both`: each run of bin/lastopens is followed by one with metrics on, in the same invocation, and
 * the summary adds CPU per record off and on and the overhead; docs/metrics.md),
 * BENCH_METRICS_INTERVAL_MS (METRICS_INTERVAL_MS of the metrics runs, default 1000: sixty times as
 * many flushes as the production default, to be on the safe side).
 */
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { fromAvro, validate } from '../src/app-opens/model/index.js';
import { TestDaemon } from '../src/testing/index.js';
import { startRedis, type RedisServer } from '../test/helpers/redis.js';
import { buildBenchData, type BenchData } from './data.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LASTOPENS = process.env.BENCH_LASTOPENS || join(ROOT, 'bin/lastopens');
const BASELINE = join(ROOT, 'bench/baselineWorker.js');
const README_WORKER = join(ROOT, 'bench/readmeWorker.js');
const SHARD = 'shardId-000000000000';

/** The figures of one timed run of a worker. */
export interface RunResult {
  recordsPerSec: number;
  totalMs: number;
  p50BatchMs: number;
  p99BatchMs: number;
  maxBatchMs: number;
  rssMb: number;
  /** CPU seconds the worker process used during the timed part (user + system). */
  cpuSec: number;
}

/** The figures `make bench` reports for the worker (medians of the runs). */
export interface WorkerBenchResult {
  records_per_sec: number;
  baseline_records_per_sec: number;
  ratio: number;
  decode_bound_records_per_sec: number;
  p99_batch_ms: number;
  rss_mb: number;
  /** CPU time of the bin/lastopens process per record, microseconds (median of the runs). */
  worker_cpu_us_per_record: number;
  /** CPU time of redis-server per record while bin/lastopens ran, microseconds (median of the runs). */
  redis_cpu_us_per_record: number;
  /**
   * The per-event path: a worker written as the README shows (runWithSingleProcessor, one
   * recordLastOpen per event), medians of its runs; absent with BENCH_SINGLE_RUNS=0.
   */
  per_event?: {
    records_per_sec: number;
    /** To the aws-kcl baseline of the same invocation. */
    ratio: number;
    p99_batch_ms: number;
    rss_mb: number;
    worker_cpu_us_per_record: number;
    redis_cpu_us_per_record: number;
  };
  /** With BENCH_METRICS=both: worker CPU microseconds per record, medians, metrics off and on, and the overhead in %. */
  metrics?: { cpu_us_per_record_off: number; cpu_us_per_record_on: number; cpu_overhead_pct: number; records_per_sec_on: number };
}

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Nearest-rank percentile. */
const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

/** Peak resident set of a process (VmHWM), MB; 0 when /proc is not there. */
function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time a process has used (user + system), seconds; 0 when /proc is not there. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** The node flags on an executable's `#!/usr/bin/env -S node ...` line. */
function shebangFlags(path: string): string[] {
  const first = readFileSync(path, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\S*env(?: -S)? node(.*)$/.exec(first);
  return m ? m[1]!.split(' ').filter(Boolean) : [];
}

/** Drives one worker process through every batch; the clock runs from the first send to the last status. */
export async function timeWorker(command: string, args: string[], env: NodeJS.ProcessEnv, data: BenchData): Promise<RunResult> {
  const daemon = TestDaemon.spawn(command, { args, env, actionTimeoutMs: 600_000 });
  try {
    await daemon.initialize(SHARD);
    const batchMs: number[] = [];
    const cpuBefore = cpuSeconds(daemon.pid);
    const started = performance.now();
    for (const batch of data.batches) {
      const t0 = performance.now();
      const { checkpoints } = await daemon.sendPrepared(batch);
      batchMs.push(performance.now() - t0);
      const last = checkpoints[checkpoints.length - 1];
      if (last?.error !== null || last.sequenceNumber !== batch.lastSequenceNumber) {
        throw new Error(`${command}: no successful checkpoint at the end of a batch: ${JSON.stringify(checkpoints)}`);
      }
    }
    const totalMs = performance.now() - started;
    const cpuSec = cpuSeconds(daemon.pid) - cpuBefore;
    const rssMb = peakRssMb(daemon.pid);
    await daemon.shutdownRequested();
    const exit = await daemon.closeInput();
    if (daemon.strayLines.length > 0) throw new Error(`${command} wrote non-protocol lines: ${daemon.strayLines.slice(0, 3).join(' | ')}`);
    if (exit.code !== 0) throw new Error(`${command} exited with ${JSON.stringify(exit)}; stderr: ${daemon.stderr}`);
    return {
      recordsPerSec: (data.records / totalMs) * 1000,
      totalMs,
      p50BatchMs: percentile(batchMs, 50),
      p99BatchMs: percentile(batchMs, 99),
      maxBatchMs: Math.max(...batchMs),
      rssMb,
      cpuSec,
    };
  } finally {
    await daemon.stop();
  }
}

/**
 * Checks that a worker really wrote what the input says. `newest`: every field at its newest
 * timestamp (bin/lastopens, monotonic). `last`: at the timestamp of its last event in stream order
 * (the baseline: a plain HSET per record is not monotonic).
 */
async function verify(redis: Redis, data: BenchData, mode: 'newest' | 'last'): Promise<void> {
  const newest = new Map<string, number>();
  for (const line of data.lines) {
    const msg = JSON.parse(line) as { records: Array<{ data: string }> };
    for (const r of msg.records) {
      const e = fromAvro(Buffer.from(r.data, 'base64'));
      const id = `user:${e.userId}:checkpoint ${e.platform}_app_open`;
      if (mode === 'last' || (newest.get(id) ?? 0) < e.timestamp) newest.set(id, e.timestamp);
    }
  }
  const entries = [...newest.entries()];
  for (let i = 0; i < entries.length; i += 5_000) {
    const pipeline = redis.pipeline();
    const slice = entries.slice(i, i + 5_000);
    for (const [id] of slice) {
      const [key, field] = id.split(' ') as [string, string];
      pipeline.hget(key, field);
    }
    const replies = (await pipeline.exec()) ?? [];
    slice.forEach(([id, ts], k) => {
      const got = replies[k]?.[1];
      if (got !== String(ts)) throw new Error(`verification failed: ${id} is ${String(got)}, expected ${ts}`);
    });
  }
}

/** Time Redis spent in the worker's script calls per batch (INFO commandstats), then resets the stats. */
async function redisBusyMs(redis: Redis, batches: number): Promise<string> {
  const info = await redis.info('commandstats');
  await redis.config('RESETSTAT');
  const parts: string[] = [];
  // Commands a script runs are counted too (and inside the script's time): report them apart.
  for (const m of info.matchAll(/cmdstat_(evalsha|eval|hset|hget):calls=(\d+),usec=(\d+)/g)) {
    parts.push(`${m[1]} ${(Number(m[3]) / 1000 / batches).toFixed(1)} ms/batch (${m[2]} calls)`);
  }
  return `redis: ${parts.join(', ')}`;
}

/** CPU seconds redis-server has used so far (INFO cpu). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const user = /used_cpu_user:([\d.]+)/.exec(info);
  const sys = /used_cpu_sys:([\d.]+)/.exec(info);
  return Number(user?.[1] ?? 0) + Number(sys?.[1] ?? 0);
}

/** JSON.parse + base64 + fromAvro + validate of every line, in this process, no Redis. */
function decodeBound(data: BenchData): number {
  const now = Date.now() / 1000;
  let sink = 0;
  const started = performance.now();
  for (const line of data.lines) {
    const msg = JSON.parse(line) as { records: Array<{ data: string }> };
    for (const r of msg.records) {
      const e = fromAvro(Buffer.from(r.data, 'base64'));
      validate(e, now);
      sink += e.timestamp;
    }
  }
  const ms = performance.now() - started;
  if (sink === 0) throw new Error('nothing decoded');
  return (data.records / ms) * 1000;
}

/** `nproc` and the load averages, written beside every figure (a figure taken under load is not evidence). */
const machine = (): string => `[${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}]`;

export const fmt = (r: RunResult): string =>
  `${Math.round(r.recordsPerSec).toLocaleString('en-US').padStart(9)} records/s  ${(r.totalMs / 1000).toFixed(2)} s  batch p50 ${r.p50BatchMs.toFixed(1)} ms p99 ${r.p99BatchMs.toFixed(1)} ms max ${r.maxBatchMs.toFixed(1)} ms  peak RSS ${r.rssMb.toFixed(0)} MB  worker CPU ${r.cpuSec.toFixed(2)} s (${Math.round(r.cpuSec > 0 ? r.recordsPerSec * (r.totalMs / 1000 / r.cpuSec) : 0).toLocaleString('en-US')} records per CPU-second)`;

/**
 * Runs the worker benchmark and prints a table of every run to stdout; returns the medians.
 *
 * @example
 * const result = await runWorkerBench();
 * console.log(JSON.stringify(result));
 */
export async function runWorkerBench(log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<WorkerBenchResult> {
  const records = envInt('BENCH_RECORDS', 300_000);
  const batchSize = envInt('BENCH_BATCH', 10_000);
  const idSpace = envInt('BENCH_ID_SPACE', 1_000_000);
  const runs = Math.max(1, envInt('BENCH_RUNS', 3));
  const baselineRuns = envInt('BENCH_BASELINE_RUNS', runs);
  const singleRuns = envInt('BENCH_SINGLE_RUNS', baselineRuns);
  const workerArgs = (process.env.BENCH_WORKER_ARGS ?? '').split(' ').filter(Boolean);
  const extraEnv = Object.fromEntries(
    (process.env.BENCH_WORKER_ENV ?? '')
      .split(' ')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );

  const metricsMode = process.env.BENCH_METRICS ?? 'off';
  if (!['off', 'on', 'both'].includes(metricsMode)) throw new Error(`BENCH_METRICS must be off, on or both, got ${metricsMode}`);
  const metricsIntervalMs = envInt('BENCH_METRICS_INTERVAL_MS', 1_000);

  const partitionKey = process.env.BENCH_PARTITION_KEY || 'second';
  if (partitionKey !== 'second' && partitionKey !== 'userId') throw new Error(`BENCH_PARTITION_KEY must be second or userId, got ${partitionKey}`);
  log(`worker bench: ${records.toLocaleString('en-US')} records in batches of ${batchSize.toLocaleString('en-US')}, userIds from 1..${idSpace.toLocaleString('en-US')}, partition key: ${partitionKey}, ${runs} runs`);
  const data = buildBenchData({ records, batchSize, idSpace, partitionKey });
  log(
    `input: ${data.batches.length} processRecords lines of ${(data.avgLineBytes / 1e6).toFixed(2)} MB, Avro payload ${data.avgPayloadBytes} bytes per record, ` +
      `${data.distinctUsers.toLocaleString('en-US')} distinct users, ${data.rawV1Records.toLocaleString('en-US')} plain v1 bodies (the rest single-object)`,
  );

  const server: RedisServer = await startRedis();
  const redis = new Redis(server.url);
  const dir = mkdtempSync(join(tmpdir(), 'bench-worker-'));
  try {
    const env: NodeJS.ProcessEnv = {
      // BENCH_NODE_DIR: a folder whose `node` runs bin/lastopens (its shebang is `env node`), e.g. Node 24's.
      PATH: process.env.BENCH_NODE_DIR ? `${process.env.BENCH_NODE_DIR}:${process.env.PATH ?? ''}` : process.env.PATH,
      RESULTS_REDIS_URL: server.url,
      STREAM_NAME: 'app-opens',
      LOG_PATH: join(dir, 'lastopens.log'),
      STATS_INTERVAL_MS: '0',
    };
    // Only bin/lastopens gets the recommended young-generation size; the baseline runs as shipped.
    const workerEnv: NodeJS.ProcessEnv = { ...env, NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '--max-semi-space-size=32', ...extraEnv };
    const metricsPath = join(dir, 'metrics.emf');
    const redisCpuOurs: number[] = [];
    const runOurs = async (i: number, metricsOn: boolean): Promise<RunResult> => {
      await redis.flushall();
      await redis.config('RESETSTAT');
      rmSync(metricsPath, { force: true });
      const redisCpu = await redisCpuSeconds(redis);
      const runEnv = metricsOn ? { ...workerEnv, METRICS_PATH: metricsPath, METRICS_INTERVAL_MS: String(metricsIntervalMs) } : workerEnv;
      // Started as users start it: the executable itself (its shebang line picks node and its flags).
      const wrapper = (process.env.BENCH_WORKER_WRAPPER ?? '').split(' ').filter(Boolean);
      const r =
        wrapper.length > 0
          ? await timeWorker(wrapper[0]!, [...wrapper.slice(1), process.execPath, ...shebangFlags(LASTOPENS), ...workerArgs, LASTOPENS], runEnv, data)
          : workerArgs.length === 0
            ? await timeWorker(LASTOPENS, [], runEnv, data)
            : await timeWorker(process.execPath, [...shebangFlags(LASTOPENS), ...workerArgs, LASTOPENS], runEnv, data);
      const redisCpuSec = (await redisCpuSeconds(redis)) - redisCpu;
      const redisStats = await redisBusyMs(redis, data.batches.length);
      await verify(redis, data, 'newest');
      const letters = await redis.xlen('deadletter:app-opens');
      if (letters !== 0) throw new Error(`bin/lastopens dead-lettered ${letters} valid records`);
      let counted = '';
      if (metricsOn) {
        // The metrics were really on: their lines add up to every record.
        const lines = existsSync(metricsPath) ? readFileSync(metricsPath, 'utf8').split('\n').filter(Boolean) : [];
        const processed = lines.reduce((n, l) => n + ((JSON.parse(l) as { RecordsProcessed?: number }).RecordsProcessed ?? 0), 0);
        if (processed !== data.records) throw new Error(`metrics counted ${processed} records processed, expected ${data.records}`);
        counted = `  metrics: ${lines.length} lines, RecordsProcessed ${processed}`;
      }
      if (!metricsOn) redisCpuOurs.push(redisCpuSec);
      log(`  bin/lastopens${metricsOn ? ' (metrics on)' : ''} run ${i + 1}: ${fmt(r)}  redis-server CPU ${redisCpuSec.toFixed(2)} s (${((redisCpuSec / records) * 1e6).toFixed(2)} us/record), worker ${((r.cpuSec / records) * 1e6).toFixed(2)} us/record  ${redisStats}${counted}  ${machine()}`);
      return r;
    };
    const ours: RunResult[] = [];
    const oursWithMetrics: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      // BENCH_METRICS=both: off and on alternate, so a change in the machine's load hits both alike.
      if (metricsMode !== 'on') ours.push(await runOurs(i, false));
      if (metricsMode !== 'off') (metricsMode === 'on' ? ours : oursWithMetrics).push(await runOurs(i, true));
    }
    const baseline: RunResult[] = [];
    for (let i = 0; i < baselineRuns; i++) {
      await redis.flushall();
      await redis.config('RESETSTAT');
      const redisCpu = await redisCpuSeconds(redis);
      const r = await timeWorker(process.execPath, [BASELINE], env, data);
      const redisCpuSec = (await redisCpuSeconds(redis)) - redisCpu;
      const redisStats = await redisBusyMs(redis, data.batches.length);
      await verify(redis, data, 'last');
      baseline.push(r);
      log(`  baseline (aws-kcl, await HSET per record) run ${i + 1}: ${fmt(r)}  redis-server CPU ${redisCpuSec.toFixed(2)} s  ${redisStats}  ${machine()}`);
    }
    const single: RunResult[] = [];
    const redisCpuSingle: number[] = [];
    for (let i = 0; i < singleRuns; i++) {
      await redis.flushall();
      await redis.config('RESETSTAT');
      const redisCpu = await redisCpuSeconds(redis);
      const logPath = join(dir, `readme-worker-${i}.log`);
      // As a user starts it: plain node, no flags, the README's options only.
      const r = await timeWorker(process.execPath, [README_WORKER], { ...env, LOG_PATH: logPath }, data);
      const redisCpuSec = (await redisCpuSeconds(redis)) - redisCpu;
      const redisStats = await redisBusyMs(redis, data.batches.length);
      // Every user's newest timestamp, exactly: out-of-order events must not win.
      await verify(redis, data, 'newest');
      const letters = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').filter((l) => l.includes('"dead-lettering record"') || l.includes('"dead letter"')).length : 0;
      if (letters !== 0) throw new Error(`the README worker dead-lettered ${letters} valid records (see ${logPath})`);
      single.push(r);
      redisCpuSingle.push(redisCpuSec);
      log(`  per-event path (README worker: runWithSingleProcessor + recordLastOpen) run ${i + 1}: ${fmt(r)}  redis-server CPU ${redisCpuSec.toFixed(2)} s (${((redisCpuSec / records) * 1e6).toFixed(2)} us/record), worker ${((r.cpuSec / records) * 1e6).toFixed(2)} us/record  ${redisStats}  ${machine()}`);
    }
    if (single.length > 0) log(`  per-event path median: ${Math.round(median(single.map((r) => r.recordsPerSec))).toLocaleString('en-US')} records/s`);
    const bound: number[] = [];
    for (let i = 0; i < runs; i++) {
      bound.push(decodeBound(data));
      log(`  decode bound run ${i + 1}: ${Math.round(bound[i]!).toLocaleString('en-US')} records/s (JSON.parse + base64 + fromAvro + validate, in process)  ${machine()}`);
    }
    const perSec = median(ours.map((r) => r.recordsPerSec));
    const cpuUsPerRecord = (rs: RunResult[]): number => median(rs.map((r) => (r.cpuSec * 1e6) / data.records));
    let metrics: WorkerBenchResult['metrics'];
    if (oursWithMetrics.length > 0) {
      const off = cpuUsPerRecord(ours);
      const on = cpuUsPerRecord(oursWithMetrics);
      metrics = {
        cpu_us_per_record_off: Math.round(off * 1000) / 1000,
        cpu_us_per_record_on: Math.round(on * 1000) / 1000,
        cpu_overhead_pct: off > 0 ? Math.round(((on - off) / off) * 1000) / 10 : 0,
        records_per_sec_on: Math.round(median(oursWithMetrics.map((r) => r.recordsPerSec))),
      };
      log(`  metrics cost: worker CPU ${metrics.cpu_us_per_record_off} us/record off, ${metrics.cpu_us_per_record_on} us/record on (${metrics.cpu_overhead_pct}%), same invocation, runs alternated`);
    }
    const basePerSec = baseline.length > 0 ? median(baseline.map((r) => r.recordsPerSec)) : 0;
    let perEvent: WorkerBenchResult['per_event'];
    if (single.length > 0) {
      const singlePerSec = median(single.map((r) => r.recordsPerSec));
      perEvent = {
        records_per_sec: Math.round(singlePerSec),
        ratio: basePerSec > 0 ? Math.round((singlePerSec / basePerSec) * 10) / 10 : 0,
        p99_batch_ms: Math.round(median(single.map((r) => r.p99BatchMs)) * 10) / 10,
        rss_mb: Math.round(median(single.map((r) => r.rssMb))),
        worker_cpu_us_per_record: Math.round((median(single.map((r) => r.cpuSec)) / records) * 1e6 * 100) / 100,
        redis_cpu_us_per_record: Math.round((median(redisCpuSingle) / records) * 1e6 * 100) / 100,
      };
    }
    return {
      records_per_sec: Math.round(perSec),
      baseline_records_per_sec: Math.round(basePerSec),
      ratio: basePerSec > 0 ? Math.round((perSec / basePerSec) * 10) / 10 : 0,
      decode_bound_records_per_sec: Math.round(median(bound)),
      p99_batch_ms: Math.round(median(ours.map((r) => r.p99BatchMs)) * 10) / 10,
      rss_mb: Math.round(median(ours.map((r) => r.rssMb))),
      worker_cpu_us_per_record: Math.round((median(ours.map((r) => r.cpuSec)) / records) * 1e6 * 100) / 100,
      redis_cpu_us_per_record: Math.round((median(redisCpuOurs) / records) * 1e6 * 100) / 100,
      ...(perEvent ? { per_event: perEvent } : {}),
      ...(metrics ? { metrics } : {}),
    };
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
