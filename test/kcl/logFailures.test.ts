/**
 * Logging can never stop a worker: a log that fills up (/dev/full: every write fails with
 * ENOSPC, as on a full log volume), a log path that cannot be opened (EACCES, as a user without
 * rights to it; a path under /proc that Node 20's recursive mkdir loops on). Real child
 * processes over real pipes: the built bin/lastopens against a private redis-server, and the
 * framework's fixture worker (runWithSingleProcessor with `logPath`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { LogDestination } from '../../src/config/logDestination.js';
import { TestDaemon, makeRecords } from '../../src/testing/index.js';
import { parseEmfLines, total } from '../helpers/emf.js';
import { BIN, until } from '../helpers/lastopens.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/worker.ts', import.meta.url));
const SHARD = 'shardId-000000000003';
const now = Math.floor(Date.now() / 1000);
const open = (userId: number, timestamp: number): AppOpen => ({ userId: BigInt(userId), platform: 'ios', timestamp, appVersion: '4.2.0', deviceId: null });
/** How long a worker may take to exit once told to (SIGTERM, end of input): generous for a loaded 2-core machine. */
const EXIT_BOUND_MS = 5_000;
/** nobody: the test runs as root here, and root ignores file permissions; nobody does not. */
const NOBODY = 65_534;

let redis: RedisServer;
let client: Redis;
const daemons: TestDaemon[] = [];
const dirs: string[] = [];

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
after(async () => {
  client.disconnect();
  await stopAllRedis();
});
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await client.flushall();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logfail-'));
  dirs.push(dir);
  return dir;
}

function spawnOnFullDisk(env: Record<string, string> = {}): { d: TestDaemon; dir: string } {
  const dir = tempDir();
  const d = TestDaemon.spawn(BIN, {
    cwd: dir,
    actionTimeoutMs: 10_000,
    env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens', LOG_PATH: '/dev/full', ...env },
  });
  daemons.push(d);
  return { d, dir };
}

async function exitWithin(d: TestDaemon, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running ${ms} ms later; stderr: ${d.stderr}`)), ms).unref());
  const exit = await Promise.race([d.exited, timeout]);
  return { ...exit, ms: Date.now() - t0 };
}

const dropLines = (stderr: string): string[] => stderr.split('\n').filter((l) => /log \/dev\/full (cannot be written|still failing)/.test(l));

describe('a full log disk (LOG_PATH=/dev/full)', () => {
  test('bin/lastopens answers initialize and processRecords, applies and checkpoints, counts the dropped lines, exits 0 on end of input', async () => {
    // Prepare
    const metricsPath = join(tempDir(), 'metrics.log');
    const { d } = spawnOnFullDisk({ STATS_INTERVAL_MS: '300', METRICS_PATH: metricsPath, METRICS_INTERVAL_MS: '300' });
    const batch1 = makeRecords([toAvro(open(1, now - 10)), toAvro(open(2, now - 20))]);
    const batch2 = makeRecords([toAvro(open(1, now - 5))], { start: batch1.length });
    const t0 = Date.now();
    // Act
    await d.initialize(SHARD);
    const r1 = await d.processRecords(batch1);
    await until(() => Date.now() - t0 > 1_000, 'a few stats intervals');
    const r2 = await d.processRecords(batch2);
    await d.shutdownRequested();
    const exit = await (d.closeInput(), exitWithin(d, EXIT_BOUND_MS));
    const elapsed = Date.now() - t0;
    // Assess: the protocol went on as if the log were fine.
    assert.equal(exit.code, 0, d.stderr);
    assert.deepEqual(r1.checkpoints.map((c) => c.sequenceNumber), [batch1.at(-1)!.sequenceNumber]);
    assert.deepEqual(r2.checkpoints.map((c) => c.sequenceNumber), [batch2.at(-1)!.sequenceNumber]);
    assert.deepEqual(await client.hgetall('user:1:checkpoint'), { ios_app_open: String(now - 5) });
    assert.deepEqual(d.strayLines, []);
    // stderr: one line at the first failure, then at most one per stats interval (300 ms), and
    // no crash line.
    const lines = dropLines(d.stderr);
    assert.match(lines[0] ?? '', /^lastopens \(pid \d+\): log \/dev\/full cannot be written \(ENOSPC: no space left on device, write\): \d+ log lines dropped/);
    assert.ok(lines.length <= elapsed / 300 + 2, `${lines.length} stderr lines in ${elapsed} ms: at most one per interval`);
    assert.doesNotMatch(d.stderr, /fatal|uncaught/);
    // The metrics (on another disk) count what was dropped.
    assert.ok(total(parseEmfLines(readFileSync(metricsPath, 'utf8')), 'LogLinesDropped') > 0, 'LogLinesDropped in the metrics');
  });

  test('SIGTERM ends it within a bound: before initialize at once, attached after a short drain', async () => {
    const early = spawnOnFullDisk().d;
    await until(() => early.stderr.length > 0, 'the first log line to fail (stderr tells)', 10_000);
    early.kill('SIGTERM');
    const e1 = await exitWithin(early, EXIT_BOUND_MS);
    assert.equal(e1.code, 0, early.stderr);

    const attached = spawnOnFullDisk({ KCL_DRAIN_TIMEOUT_MS: '300' }).d;
    await attached.initialize(SHARD);
    await attached.processRecords(makeRecords([toAvro(open(3, now))]));
    attached.kill('SIGTERM');
    const e2 = await exitWithin(attached, EXIT_BOUND_MS);
    assert.equal(e2.code, 0, attached.stderr);
    assert.equal(await client.hget('user:3:checkpoint', 'ios_app_open'), String(now));
  });
});

describe('LOG_PATH on a FIFO nobody reads (a log shipper that is down)', () => {
  test('bin/lastopens answers initialize and processRecords, applies and checkpoints, and exits 0 on end of input: neither opening the log nor a full pipe waits for a reader', async () => {
    // Prepare: opening a FIFO for writing only blocks until a reader opens it; nobody ever will.
    // 300 dead letters log more than the pipe holds (64 KiB): a blocking write would then hold a
    // libuv thread, and Node's exit waits for it.
    const dir = tempDir();
    const fifo = join(dir, 'lastopens.log');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const d = TestDaemon.spawn(BIN, {
      cwd: dir,
      actionTimeoutMs: 10_000,
      env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens', LOG_PATH: fifo, LOG_LEVEL: 'debug' },
    });
    daemons.push(d);
    const batch = makeRecords([toAvro(open(7, now - 1)), ...Array.from({ length: 300 }, (_, i) => Buffer.from(`not an AppOpen ${i}`))]);
    // Act
    await d.initialize(SHARD);
    const r = await d.processRecords(batch);
    await d.shutdownRequested();
    const exit = await (d.closeInput(), exitWithin(d, EXIT_BOUND_MS));
    // Assess
    assert.equal(exit.code, 0, d.stderr);
    assert.deepEqual(r.checkpoints.map((c) => c.sequenceNumber), [batch.at(-1)!.sequenceNumber]);
    assert.deepEqual(await client.hgetall('user:7:checkpoint'), { ios_app_open: String(now - 1) });
    assert.deepEqual(d.strayLines, []);
  });
});

describe('a log path that cannot be opened', () => {
  const asNobody = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};

  test('EACCES (a folder the user may not write, run as nobody): the framework worker writes one stderr line and exits 78', () => {
    // Prepare: a folder owned by root, mode 0755: nobody may not create files in it.
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const logPath = join(dir, 'worker.log');
    // Act
    const r = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE], {
      ...asNobody,
      env: { PATH: process.env.PATH, LOG_PATH: logPath },
      input: '',
      encoding: 'utf8',
      timeout: 30_000,
    });
    // Assess
    assert.equal(r.status, 78, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^kcl worker: fatal: cannot start: EACCES: permission denied, open '.*worker\.log'\n$/);
  });

  test('EACCES for bin/lastopens (run as nobody): exit 78, one line naming LOG_PATH', () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const r = spawnSync(BIN, [], {
      ...asNobody,
      env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens', LOG_PATH: join(dir, 'sub', 'lastopens.log') },
      input: '',
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 78, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^lastopens: LOG_PATH cannot be opened: EACCES: permission denied, mkdir '.*sub'\n$/);
  });

  test('a path under /proc (Node 20 recursive mkdir loops forever there): exit 78 at once, not a hang', () => {
    const t0 = Date.now();
    const r = spawnSync(BIN, [], {
      env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens', LOG_PATH: '/proc/nope/x.log' },
      input: '',
      encoding: 'utf8',
      timeout: 15_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.signal, null, `killed after ${Date.now() - t0} ms: it hung`);
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /^lastopens: LOG_PATH cannot be opened: ENOENT: no such file or directory, mkdir '\/proc\/nope'\n$/);
  });
});

describe('LogDestination', () => {
  test('on a full disk: every line dropped and counted, one report at once, then at most one per interval', async () => {
    const fd = openSync('/dev/full', 'a');
    const reports: string[] = [];
    let clock = 1_000;
    const dest = new LogDestination(fd, { label: 'w (pid 1)', reportIntervalMs: 60_000, retryAfterMs: 0, report: (l) => reports.push(l), now: () => clock }, '/dev/full');
    try {
      for (let i = 0; i < 20; i++) {
        dest.write(`{"n":${i}}\n`);
        await until(() => dest.drops().dropped > i, `line ${i} dropped`, 5_000);
        clock += 1_000;
      }
      assert.equal(dest.drops().dropped, 20);
      assert.match(dest.drops().lastError ?? '', /ENOSPC/);
      assert.equal(reports.length, 1, reports.join('\n'));
      clock += 60_000;
      dest.write('{"n":20}\n');
      await until(() => dest.drops().dropped === 21, 'line 20 dropped', 5_000);
      assert.equal(reports.length, 2);
      assert.match(reports[1]!, /still failing .*: 20 log lines dropped in the last 80 s, 21 in all/);
      dest.flushSync();
      assert.equal(reports.length, 2, 'nothing new to report at exit');
    } finally {
      closeSync(fd);
    }
  });

  test('a burst logged in one tick (20 MB, as 10,000 dead letters with their data) is kept whole', async () => {
    const path = join(tempDir(), 'burst.log');
    const dest = new LogDestination(openSync(path, 'a'), { label: 'w (pid 1)', report: () => assert.fail('nothing to report') }, path);
    const line = `${JSON.stringify({ data: 'x'.repeat(2_000) })}\n`;
    for (let i = 0; i < 10_000; i++) dest.write(line);
    await until(() => statSync(path).size === line.length * 10_000, 'every line on disk', 20_000);
    assert.equal(dest.drops().dropped, 0);
  });

  test('a destination that stops answering (a FIFO nobody reads: the write blocks): bounded, lines dropped and counted, flushSync does not wait', async () => {
    // Prepare: opened read-write, the FIFO needs no reader to open; its pipe (64 KiB) fills and
    // the write in flight blocks, as on a hung network mount.
    const fifo = join(tempDir(), 'log.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const fd = openSync(fifo, 'r+');
    const reports: string[] = [];
    let clock = 0;
    const dest = new LogDestination(fd, { label: 'w (pid 1)', maxBufferedBytes: 1 << 20, hungAfterMs: 1_000, report: (l) => reports.push(l), now: () => clock }, fifo);
    const line = `${'x'.repeat(1_023)}\n`;
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      // Act: 200 KiB, of which the second write (199 KiB) blocks once the pipe is full; more
      // comes while it hangs.
      for (let i = 0; i < 200; i++) dest.write(line);
      await new Promise((r) => setTimeout(r, 200));
      clock = 2_000;
      for (let i = 0; i < 2_000; i++) dest.write(line);
      const t0 = performance.now();
      dest.flushSync();
      const flushMs = performance.now() - t0;
      // Assess: 1 MiB kept behind the hung write, the rest dropped, the rest at exit; nothing waited.
      assert.equal(dest.drops().dropped, 2_000);
      assert.match(reports[0] ?? '', /cannot be written \(the log destination has not finished a write for 2000 ms/);
      assert.ok(flushMs < 200, `flushSync took ${flushMs} ms`);
    } finally {
      // Unblock the write in flight (read what was written), so the test process can end.
      const buf = Buffer.alloc(64 * 1024);
      const deadline = Date.now() + 5_000;
      for (let got = 0; got < 200 * 1024 && Date.now() < deadline; ) {
        try {
          got += readSync(reader, buf);
        } catch {
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      await new Promise((r) => setTimeout(r, 50));
      closeSync(reader);
      closeSync(fd);
    }
  });
});
