/**
 * Soak run (`make soak`, not part of `make test`): millions of records through the built
 * bin/lastopens, driven by the test daemon in batches of 10,000 against a private redis-server,
 * sampling the worker's resident memory (VmRSS from /proc/<pid>/status) as it goes.
 *
 * Pass: after warm-up (the first 10% of samples), RSS stays flat:
 *   max <= 1.25 x median, and the mean of the last quarter <= 1.10 x the mean of the second quarter.
 * Prints the samples as a table, then one JSON line with the figures; exits 1 when RSS is not
 * flat, or when any batch was not checkpointed at its last record.
 *
 * Environment: SOAK_RECORDS (default 3,000,000), SOAK_BATCH (10,000), SOAK_SAMPLE_EVERY (batches
 * between samples, default 5), SOAK_POOL (distinct payloads, default 100,000).
 *
 * Records are cheap to make: a pool of encoded payloads (0.1% of them poison, so the dead-letter
 * path runs too) is built once, and batches cycle through it with fresh sequence numbers.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toAvro } from '../src/app-opens/model/index.js';
import { TestDaemon, sequenceNumber } from '../src/testing/index.js';
import type { KinesisRecord } from '../src/core/types.js';
import { startRedis, stopAllRedis } from '../test/helpers/redis.js';

const BIN = fileURLToPath(new URL('../bin/lastopens', import.meta.url));
const SHARD = 'shardId-000000000000';

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

const TOTAL = intEnv('SOAK_RECORDS', 3_000_000);
const BATCH = intEnv('SOAK_BATCH', 10_000);
const SAMPLE_EVERY = intEnv('SOAK_SAMPLE_EVERY', 5);
const POOL = intEnv('SOAK_POOL', 100_000);
const MAX_OVER_MEDIAN = 1.25;
const TREND_LIMIT = 1.1;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const mb = (kb: number): number => Math.round((kb / 1024) * 10) / 10;

function buildPool(): Array<{ data: string; partitionKey: string }> {
  let seed = 12345;
  const next = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const now = Math.floor(Date.now() / 1000);
  const platforms = ['ios', 'android', 'web'];
  const pool: Array<{ data: string; partitionKey: string }> = [];
  for (let i = 0; i < POOL; i++) {
    const userId = BigInt(1 + Math.floor(next() * 1_000_000));
    const payload =
      i % 1000 === 999
        ? Buffer.from(`poison ${i}`)
        : toAvro({ userId, platform: platforms[i % 3]!, timestamp: now - Math.floor(next() * 86_400 * 30), appVersion: '4.2.0', deviceId: null });
    pool.push({ data: payload.toString('base64'), partitionKey: String(userId) });
  }
  return pool;
}

async function main(): Promise<number> {
  const started = Date.now();
  const pool = buildPool();
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'soak-'));
  const daemon = TestDaemon.spawn(BIN, {
    cwd: dir,
    env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'soak', LOG_PATH: join(dir, 'lastopens.log'), DEADLETTER_MAXLEN: '10000' },
    actionTimeoutMs: 120_000,
  });
  const samples: Array<{ batch: number; records: number; rssKb: number; seconds: number; recPerSec: number }> = [];
  let badCheckpoints = 0;
  let exitCode = 0;
  try {
    await daemon.initialize(SHARD);
    const pid = daemon.pid!;
    const batches = Math.ceil(TOTAL / BATCH);
    const t0 = Date.now();
    let lastSampleAt = t0;
    let lastSampleRecords = 0;
    let sent = 0;
    console.log(`soak: ${TOTAL.toLocaleString('en')} records in ${batches} batches of ${BATCH}, pool ${POOL}, worker pid ${pid}`);
    console.log('sample  batch   records      RSS MB  elapsed s  records/s');
    for (let b = 0; b < batches; b++) {
      const n = Math.min(BATCH, TOTAL - sent);
      const records: KinesisRecord[] = new Array<KinesisRecord>(n);
      for (let k = 0; k < n; k++) {
        const i = sent + k;
        const p = pool[i % POOL]!;
        records[k] = { data: p.data, partitionKey: p.partitionKey, sequenceNumber: sequenceNumber(i), subSequenceNumber: 0, approximateArrivalTimestamp: 1_700_000_000_000 + i };
      }
      const { checkpoints } = await daemon.processRecords(records);
      if (checkpoints.length !== 1 || checkpoints[0]!.sequenceNumber !== records[n - 1]!.sequenceNumber || checkpoints[0]!.error !== null) badCheckpoints++;
      sent += n;
      if ((b + 1) % SAMPLE_EVERY === 0 || b === batches - 1) {
        const now = Date.now();
        const s = { batch: b + 1, records: sent, rssKb: rssKb(pid), seconds: (now - t0) / 1000, recPerSec: Math.round(((sent - lastSampleRecords) * 1000) / Math.max(1, now - lastSampleAt)) };
        samples.push(s);
        lastSampleAt = now;
        lastSampleRecords = sent;
        console.log(
          `${String(samples.length).padStart(6)}  ${String(s.batch).padStart(5)}  ${String(s.records).padStart(9)}  ${mb(s.rssKb).toFixed(1).padStart(9)}  ${s.seconds.toFixed(1).padStart(9)}  ${String(s.recPerSec).padStart(9)}`,
        );
      }
    }
    await daemon.shutdownRequested();
    const exit = await daemon.closeInput();
    if (exit.code !== 0) {
      console.error(`worker exited ${exit.code}: ${daemon.stderr}`);
      exitCode = 1;
    }
    if (daemon.strayLines.length > 0) {
      console.error(`stray stdout lines: ${daemon.strayLines.length}`);
      exitCode = 1;
    }

    const warmup = Math.max(1, Math.ceil(samples.length * 0.1));
    const post = samples.slice(warmup).map((s) => s.rssKb);
    const q = Math.max(1, Math.floor(post.length / 4));
    const q2 = post.slice(q, 2 * q);
    const q4 = post.slice(post.length - q);
    const med = median(post);
    const max = Math.max(...post);
    const seconds = (Date.now() - t0) / 1000;
    const flat = post.length >= 4 && max <= MAX_OVER_MEDIAN * med && mean(q4) <= TREND_LIMIT * mean(q2);
    if (!flat) exitCode = 1;
    if (badCheckpoints > 0) exitCode = 1;
    const summary = {
      soak: flat && badCheckpoints === 0 && exitCode === 0 ? 'pass' : 'fail',
      records: sent,
      batches,
      batchSize: BATCH,
      seconds: Math.round(seconds * 10) / 10,
      totalSeconds: Math.round((Date.now() - started) / 100) / 10,
      recordsPerSecond: Math.round(sent / seconds),
      badCheckpoints,
      rss: {
        samples: samples.length,
        warmupSamples: warmup,
        firstMB: mb(samples[0]!.rssKb),
        medianMB: mb(med),
        maxMB: mb(max),
        minMB: mb(Math.min(...post)),
        secondQuarterMeanMB: mb(mean(q2)),
        lastQuarterMeanMB: mb(mean(q4)),
        maxOverMedian: Math.round((max / med) * 1000) / 1000,
        lastOverSecondQuarter: Math.round((mean(q4) / mean(q2)) * 1000) / 1000,
        limits: { maxOverMedian: MAX_OVER_MEDIAN, lastOverSecondQuarter: TREND_LIMIT },
        flat,
      },
    };
    console.log(
      `after warm-up (${warmup} samples): median ${summary.rss.medianMB} MB, max ${summary.rss.maxMB} MB (x${summary.rss.maxOverMedian}, limit ${MAX_OVER_MEDIAN}), ` +
        `quarter 2 mean ${summary.rss.secondQuarterMeanMB} MB, last quarter mean ${summary.rss.lastQuarterMeanMB} MB (x${summary.rss.lastOverSecondQuarter}, limit ${TREND_LIMIT})`,
    );
    console.log(JSON.stringify(summary));
  } finally {
    await daemon.stop();
    await stopAllRedis();
    rmSync(dir, { recursive: true, force: true });
  }
  return exitCode;
}

process.exitCode = await main();
