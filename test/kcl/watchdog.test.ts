/**
 * The stuck-batch watchdog, as users run it: the built bin/lastopens under the test daemon,
 * its Redis frozen with SIGSTOP (the connection stays open and nothing answers, like a hung
 * host), with small KCL_STUCK_BATCH_MS / KCL_STUCK_BATCH_EXIT_MS; the health files read by the
 * built bin/kcl-health, as a Kubernetes exec probe or a systemd timer would run it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { ExitCode } from '../../src/core/exitCodes.js';
import { waitFor } from '../helpers/fixtureWorker.js';
import { checkHealthDir, silentAfterMs } from '../../src/kcl/healthCheck.js';
import { makeRecords } from '../../src/testing/index.js';
import { parseEmfLines } from '../helpers/emf.js';
import { spawnLastopens, until } from '../helpers/lastopens.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

const HEALTH_BIN = fileURLToPath(new URL('../../bin/kcl-health', import.meta.url));
const SHARD = 'shardId-000000000005';
const now = Math.floor(Date.now() / 1000);
const open = (userId: number, timestamp: number): AppOpen => ({ userId: BigInt(userId), platform: 'ios', timestamp, appVersion: '4.2.0', deviceId: null });

let redis: RedisServer;
const cleanups: Array<() => Promise<unknown> | void> = [];

before(async () => {
  redis = await startRedis();
});
after(stopAllRedis);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function kclHealth(dir: string): { status: number | null; stdout: string } {
  const r = spawnSync(HEALTH_BIN, [dir], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout };
}

describe('a batch that stops moving (Redis frozen with SIGSTOP)', () => {
  test('one error line per period with shard, sequence number, time in hand and last error; a StuckBatches metric; kcl-health says stuck; exit 4; nothing checkpointed past unapplied records', async () => {
    // Prepare
    const healthDir = mkdtempSync(join(tmpdir(), 'health-'));
    cleanups.push(() => rmSync(healthDir, { recursive: true, force: true }));
    const w = spawnLastopens(redis.url, {
      KCL_STUCK_BATCH_MS: '1000',
      // Past the Redis command timeout (5 s), so a failed attempt shows as the last error.
      KCL_STUCK_BATCH_EXIT_MS: '7500',
      KCL_HEALTH_DIR: healthDir,
      KCL_HEALTH_INTERVAL_MS: '200',
      METRICS_PATH: 'metrics.log',
    });
    const metricsPath = join(w.dir, 'metrics.log');
    cleanups.push(() => w.daemon.stop());
    cleanups.push(() => redis.resume());
    const batch1 = makeRecords([toAvro(open(1, now - 10))]);
    const batch2 = makeRecords([toAvro(open(1, now - 5)), toAvro(open(2, now - 5))], { start: 1 });
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(batch1);
    await until(() => kclHealth(healthDir).stdout.includes(`${SHARD}: ok: idle`), 'kcl-health to see the shard idle', 10_000);
    assert.equal(kclHealth(healthDir).status, 0);

    // Act: Redis hangs with the second batch in hand.
    redis.pause();
    const t0 = Date.now();
    const pending = w.daemon.processRecords(batch2).then(
      () => 'answered',
      () => 'no answer',
    );
    await until(() => w.logged('stuck batch').length >= 1, 'the stuck-batch line', 10_000);
    const probe = kclHealth(healthDir);
    const exit = await w.daemon.exited;
    const elapsed = Date.now() - t0;

    // Assess: the log line(s), one per period, with the fields.
    const stuck = w.logged('stuck batch');
    assert.equal(stuck[0]!.level, 'error');
    assert.equal(stuck[0]!.shardId, SHARD);
    assert.equal(stuck[0]!.sequenceNumber, batch2[0]!.sequenceNumber);
    assert.equal(stuck[0]!.lastCheckpoint, batch1[0]!.sequenceNumber);
    assert.ok((stuck[0]!.inHandMs as number) >= 1000);
    assert.ok('lastError' in stuck[0]!);
    assert.ok(stuck.length <= elapsed / 1000 + 1, `${stuck.length} lines in ${elapsed} ms: at most one per KCL_STUCK_BATCH_MS`);
    assert.ok(
      stuck.some((l) => /timed out/.test(String(l.lastError))),
      `a later line names the failed attempt: ${stuck.map((l) => l.lastError).join(' | ')}`,
    );
    // The metric, written at once (reason stuckBatch).
    const docs = parseEmfLines(readFileSync(metricsPath, 'utf8'));
    const stuckDoc = docs.find((d) => d.reason === 'stuckBatch');
    assert.ok(stuckDoc, 'an EMF line at the stuck report');
    assert.ok((stuckDoc.StuckBatches as number) >= 1);
    assert.ok((stuckDoc.StuckBatchInHandMaxMs as number) >= 1000);
    assert.equal(stuckDoc.ShardId, SHARD);
    // The probe.
    assert.equal(probe.status, 1, probe.stdout);
    assert.match(probe.stdout, new RegExp(`^${SHARD}: stuck: processRecords in hand for \\d+ s \\(sequence number ${batch2[0]!.sequenceNumber}`, 'm'));
    // The exit: code 4, after KCL_STUCK_BATCH_EXIT_MS, one stderr line.
    assert.deepEqual(exit, { code: ExitCode.STUCK_BATCH, signal: null });
    assert.ok(elapsed >= 7_000, `exited after ${elapsed} ms, not before KCL_STUCK_BATCH_EXIT_MS`);
    assert.equal(await pending, 'no answer');
    assert.match(w.daemon.stderr, /^kcl worker \(shard shardId-000000000005\): fatal: stuck batch: processRecords in hand for \d+ ms/);
    assert.equal(w.daemon.stderr.trim().split('\n').length, 1, w.daemon.stderr);
    // Nothing checkpointed past the unapplied batch.
    assert.deepEqual(w.daemon.checkpoints.map((c) => c.sequenceNumber), [batch1[0]!.sequenceNumber]);
    // The health file stays as a record of why; its process is gone, so the probe passes again.
    const left = JSON.parse(readFileSync(join(healthDir, `${SHARD}.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(left.exitCode, ExitCode.STUCK_BATCH);
    const after = kclHealth(healthDir);
    assert.equal(after.status, 0, after.stdout);
    assert.match(after.stdout, /gone: pid \d+ is not running \(it exited 4\)/);
  });

  test('KCL_STUCK_BATCH_MS=0 turns the watchdog off; a clean exit removes the health file', async () => {
    const healthDir = mkdtempSync(join(tmpdir(), 'health-'));
    cleanups.push(() => rmSync(healthDir, { recursive: true, force: true }));
    const w = spawnLastopens(redis.url, { KCL_STUCK_BATCH_MS: '0', KCL_HEALTH_DIR: healthDir, KCL_HEALTH_INTERVAL_MS: '100' });
    cleanups.push(() => w.daemon.stop());
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(makeRecords([toAvro(open(7, now))]));
    // The health file is written asynchronously (write to a temporary file, then rename): wait for it.
    await waitFor(() => existsSync(join(healthDir, `${SHARD}.json`)), 'the health file');
    const file = JSON.parse(readFileSync(join(healthDir, `${SHARD}.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(file.stuckBatchMs, 0);
    assert.equal(file.stuck, false);
    await w.daemon.shutdownRequested();
    assert.deepEqual(await w.daemon.closeInput(), { code: 0, signal: null });
    assert.deepEqual(readdirSync(healthDir), []);
  });

  test('a malformed KCL_STUCK_BATCH_MS: exit 78 with one stderr line naming it', () => {
    const r = spawnSync(fileURLToPath(new URL('../../bin/lastopens', import.meta.url)), [], {
      env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens', LOG_PATH: join(mkdtempSync(join(tmpdir(), 'cfg-')), 'x.log'), KCL_STUCK_BATCH_MS: 'soon' },
      input: '',
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /^kcl worker: fatal: cannot start: TypeError: Expected KCL_STUCK_BATCH_MS to be a non-negative number of ms, got "soon"\.\n$/);
  });
});

describe('the health file of a crashed worker whose pid was reused', () => {
  test('kcl-health says gone, not silent: the pid now runs another process (in a container, pids are small and reused after a restart)', async () => {
    // Prepare: a real worker writes its file, then crashes (SIGKILL leaves the file). Its pid
    // reused by an unrelated process cannot be caused on demand: the file's pid is set to a live
    // `sleep` we start, and its time put an hour back (the crash was long ago).
    const healthDir = mkdtempSync(join(tmpdir(), 'health-'));
    cleanups.push(() => rmSync(healthDir, { recursive: true, force: true }));
    const w = spawnLastopens(redis.url, { KCL_HEALTH_DIR: healthDir, KCL_HEALTH_INTERVAL_MS: '100' });
    cleanups.push(() => w.daemon.stop());
    await w.daemon.initialize(SHARD);
    const path = join(healthDir, `${SHARD}.json`);
    await until(() => readdirSync(healthDir).includes(`${SHARD}.json`), 'the health file');
    w.daemon.kill('SIGKILL');
    await w.daemon.exited;
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(() => void other.kill('SIGKILL'));
    const file = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...file, pid: other.pid, updatedAtMs: Date.now() - 3_600_000 }));
    // Act
    const probe = kclHealth(healthDir);
    // Assess
    assert.equal(probe.status, 0, probe.stdout);
    assert.match(probe.stdout, new RegExp(`^${SHARD}: gone: pid ${other.pid} `));
  });
});

describe('checkHealthDir', () => {
  test('a running worker whose file has not been rewritten for 3 heartbeats and 5 s is silent (its event loop is blocked)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'health-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const t = 1_700_000_000_000;
    const file = { shardId: 's-1', pid: process.pid, updatedAtMs: t, heartbeatMs: 10_000, action: null, batchStartedAtMs: null, batchInHandMs: 0, sequenceNumber: null, lastCheckpoint: '5', lastError: null, stuckBatchMs: 300_000, stuck: false, logLinesDropped: 0 };
    writeFileSync(join(dir, 's-1.json'), JSON.stringify(file));
    assert.equal(checkHealthDir(dir, { now: () => t + silentAfterMs(10_000) })[0]!.state, 'ok');
    assert.equal(checkHealthDir(dir, { now: () => t + silentAfterMs(10_000) + 1 })[0]!.state, 'silent');
    // A batch in hand long enough is stuck by now, even if the file was written before it was.
    writeFileSync(join(dir, 's-1.json'), JSON.stringify({ ...file, action: 'processRecords', batchStartedAtMs: t, batchInHandMs: 295_000, updatedAtMs: t + 295_000 }));
    assert.equal(checkHealthDir(dir, { now: () => t + 299_999 })[0]!.state, 'ok');
    assert.equal(checkHealthDir(dir, { now: () => t + 300_000 })[0]!.state, 'stuck');
    assert.equal(checkHealthDir(dir, { now: () => t + 300_000, isAlive: () => false })[0]!.state, 'gone');
  });
});
