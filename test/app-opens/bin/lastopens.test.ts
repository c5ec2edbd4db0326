/**
 * bin/lastopens as users run it: the built binary, a real child process driven over real pipes
 * by the test daemon, against a private redis-server.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { toAvro, type AppOpen } from '../../../src/app-opens/model/index.js';
import { TestDaemon, makeRecords } from '../../../src/testing/index.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/fixtureWorker.js';

const BIN = fileURLToPath(new URL('../../../bin/lastopens', import.meta.url));
const SHARD = 'shardId-000000000007';
const now = Math.floor(Date.now() / 1000);

const open = (userId: bigint | number, platform: string, timestamp: number): AppOpen => ({
  userId: BigInt(userId),
  platform,
  timestamp,
  appVersion: '4.2.0',
  deviceId: null,
});

let redis: RedisServer;
let client: Redis;
let dir: string;
const daemons: TestDaemon[] = [];

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
  await client.flushall();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function spawnWorker(env: Record<string, string | undefined> = {}, cwd?: string): TestDaemon {
  dir = mkdtempSync(join(tmpdir(), 'lastopens-'));
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens', LOG_PATH: join(dir, 'lastopens.log') };
  const merged = { ...base, ...env };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  const d = TestDaemon.spawn(BIN, { env: merged, cwd: cwd ?? dir });
  daemons.push(d);
  return d;
}

const logLines = (path: string): Array<Record<string, unknown>> =>
  existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];

describe('bin/lastopens under the test daemon', () => {
  test('mixed good and bad records: exact hashes, exact dead letters, a checkpoint per batch, clean stdout', async () => {
    // Prepare: two batches; out-of-order and replayed events; every kind of bad record.
    const big = 2n ** 53n + 1n;
    const good1 = [open(1, 'ios', now - 100), open(2, 'android', now - 50), open(1, 'ios', now - 200), open(big, 'web', now - 10)];
    const bad = [Buffer.from('garbage bytes'), Buffer.alloc(0), toAvro(open(3, 'Bad-Platform', now)), toAvro(open(0, 'ios', now)), toAvro(open(4, 'ios', now + 3 * 86_400))];
    const batch1 = makeRecords([...good1.map(toAvro), ...bad]);
    const batch2 = makeRecords([toAvro(open(1, 'ios', now - 300)), toAvro(open(1, 'android', now - 5)), toAvro(open(2, 'android', now - 40))], { start: batch1.length });
    const d = spawnWorker();
    // Act
    await d.initialize(SHARD);
    const r1 = await d.processRecords(batch1, 1500);
    const r2 = await d.processRecords(batch2, 0);
    await d.shutdownRequested();
    const exit = await d.closeInput();
    // Assess
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.deepEqual(d.strayLines, []);
    assert.deepEqual(r1.checkpoints.map((c) => [c.sequenceNumber, c.subSequenceNumber]), [[batch1.at(-1)!.sequenceNumber, 0]]);
    assert.deepEqual(r2.checkpoints.map((c) => c.sequenceNumber), [batch2.at(-1)!.sequenceNumber]);
    assert.deepEqual(await client.hgetall('user:1:checkpoint'), { ios_app_open: String(now - 100), android_app_open: String(now - 5) });
    assert.deepEqual(await client.hgetall('user:2:checkpoint'), { android_app_open: String(now - 40) });
    assert.deepEqual(await client.hgetall(`user:${big}:checkpoint`), { web_app_open: String(now - 10) });
    assert.equal((await client.keys('user:*')).length, 3, 'no hash for any bad record');
    const entries = await client.xrange('deadletter:app-opens', '-', '+');
    assert.equal(entries.length, bad.length);
    const letters = entries.map(([, fields]) => Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]])) as Record<string, string>);
    assert.deepEqual(
      letters.map((l) => l.sequenceNumber),
      batch1.slice(good1.length).map((r) => r.sequenceNumber),
    );
    for (const [i, l] of letters.entries()) {
      const rec = batch1[good1.length + i]!;
      assert.equal(l.data, rec.data, 'data is the base64 as received');
      assert.equal(l.shardId, SHARD);
      assert.equal(l.partitionKey, rec.partitionKey);
      assert.equal(l.subSequenceNumber, '0');
    }
    assert.match(letters[0]!.reason!, /DecodeError/);
    assert.match(letters[1]!.reason!, /DecodeError/);
    assert.match(letters[2]!.reason!, /platform/);
    assert.match(letters[3]!.reason!, /userId/);
    assert.match(letters[4]!.reason!, /timestamp/);
  });

  test('Redis refusing writes mid-stream: no checkpoint until it is back, then the batch is applied', async () => {
    const d = spawnWorker();
    await d.initialize(SHARD);
    await d.processRecords(makeRecords([toAvro(open(10, 'ios', now - 10))]));
    await client.config('SET', 'maxmemory', '1');
    await client.config('SET', 'maxmemory-policy', 'noeviction');
    const batch = makeRecords([toAvro(open(10, 'ios', now - 5)), toAvro(open(11, 'ios', now - 5))], { start: 1 });
    const pending = d.processRecords(batch);
    const log = join(dir, 'lastopens.log');
    await waitFor(() => logLines(log).filter((l) => String(l.msg).startsWith('retriable processor failure')).length >= 2, 'failed attempts in the log', 20_000);
    assert.equal(d.checkpoints.length, 1, 'only the first batch was checkpointed');
    await client.config('SET', 'maxmemory', '0');
    const { checkpoints } = await pending;
    assert.deepEqual(checkpoints.map((c) => c.sequenceNumber), [batch[1]!.sequenceNumber]);
    assert.equal(await client.hget('user:10:checkpoint', 'ios_app_open'), String(now - 5));
    assert.equal(await client.hget('user:11:checkpoint', 'ios_app_open'), String(now - 5));
    const failure = logLines(log).find((l) => String(l.msg).startsWith('retriable processor failure'))!;
    assert.match(String(failure.err), /OOM/);
    assert.equal(failure.shardId, SHARD);
  });

  test('chunked writes (CHUNK_SIZE=2): the newest timestamp wins whichever chunk holds it; dead letters and checkpoint as unchunked; timings logged when asked', async () => {
    // Prepare: one user's events spread over chunks, newest in the first chunk, older ones later;
    // a bad record in the middle chunk.
    const events = [open(7, 'ios', now - 10), open(8, 'web', now - 20), open(7, 'ios', now - 30), open(7, 'android', now - 1), open(7, 'ios', now - 50)];
    const batch = makeRecords([...events.slice(0, 3).map(toAvro), Buffer.from('garbage'), ...events.slice(3).map(toAvro)]);
    const d = spawnWorker({ CHUNK_SIZE: '2', LOG_BATCH_TIMINGS: '1' });
    // Act
    await d.initialize(SHARD);
    const { checkpoints } = await d.processRecords(batch);
    await d.closeInput();
    // Assess
    assert.deepEqual(checkpoints.map((c) => c.sequenceNumber), [batch.at(-1)!.sequenceNumber]);
    assert.deepEqual(await client.hgetall('user:7:checkpoint'), { ios_app_open: String(now - 10), android_app_open: String(now - 1) });
    assert.deepEqual(await client.hgetall('user:8:checkpoint'), { web_app_open: String(now - 20) });
    const letters = await client.xrange('deadletter:app-opens', '-', '+');
    assert.deepEqual(letters.map(([, f]) => f[f.indexOf('sequenceNumber') + 1]), [batch[3]!.sequenceNumber]);
    const timings = logLines(join(dir, 'lastopens.log')).filter((l) => l.msg === 'batch timings');
    assert.equal(timings.length, 1);
    const t = timings[0]!.timings as Record<string, number>;
    assert.equal(t.records, batch.length);
    for (const k of ['readMs', 'parseMs', 'decodeMs', 'processMs', 'deadLetterMs', 'pipelineMs', 'checkpointMs', 'batchMs']) {
      assert.ok(typeof t[k] === 'number' && t[k] >= 0, `${k} is a duration`);
    }
    assert.ok(t.batchMs! >= t.pipelineMs!);
  });

  test('no batch timings unless asked', async () => {
    const d = spawnWorker();
    await d.initialize(SHARD);
    await d.processRecords(makeRecords([toAvro(open(9, 'ios', now))]));
    await d.closeInput();
    assert.equal(logLines(join(dir, 'lastopens.log')).filter((l) => l.msg === 'batch timings').length, 0);
  });

  test('the password in RESULTS_REDIS_URL never reaches the log', async () => {
    const secret = await startRedis({ password: 'hunter2-s3cret' });
    const d = spawnWorker({ RESULTS_REDIS_URL: secret.url });
    await d.initialize(SHARD);
    await d.processRecords(makeRecords([toAvro(open(5, 'ios', now))]));
    await d.closeInput();
    const text = readFileSync(join(dir, 'lastopens.log'), 'utf8');
    assert.match(text, /lastopens starting/);
    assert.ok(!text.includes('hunter2-s3cret'));
    assert.match(text, /\*\*\*/);
    await secret.stop();
  });
});

describe('bin/lastopens configuration', () => {
  const run = (env: Record<string, string | undefined>, cwd?: string) => {
    const e: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...env };
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    return spawnSync(BIN, [], { env: e, cwd, input: '', encoding: 'utf8', timeout: 20_000 });
  };

  for (const [name, env, pattern] of [
    ['RESULTS_REDIS_URL missing', { STREAM_NAME: 's' }, /^lastopens: RESULTS_REDIS_URL is not set \(mandatory\)\n$/],
    ['STREAM_NAME missing', { RESULTS_REDIS_URL: 'redis://127.0.0.1:1' }, /^lastopens: STREAM_NAME is not set \(mandatory\)\n$/],
    ['RESULTS_REDIS_URL malformed', { RESULTS_REDIS_URL: 'http://x', STREAM_NAME: 's' }, /^lastopens: RESULTS_REDIS_URL is malformed: .*expected a redis:\/\/, rediss:\/\/, redis\+cluster:\/\/, rediss\+cluster:\/\/, redis\+sentinel:\/\/ or rediss\+sentinel:\/\/ URL\n$/],
    ['STREAM_NAME malformed', { RESULTS_REDIS_URL: 'redis://127.0.0.1:1', STREAM_NAME: 'bad name!' }, /^lastopens: STREAM_NAME is malformed/],
  ] as const) {
    test(`${name}: exit 78 at once, one stderr line naming it, nothing on stdout`, () => {
      const r = run(env);
      assert.equal(r.status, 78);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    });
  }

  test('a .env file in the working directory is read, the real environment wins, LOG_PATH unset warns', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'lastopens-env-'));
    writeFileSync(join(cwd, '.env'), `RESULTS_REDIS_URL=${redis.url}\nSTREAM_NAME=from-dotenv\n`);
    try {
      const d = TestDaemon.spawn(BIN, { env: { PATH: process.env.PATH, STREAM_NAME: 'from-env' }, cwd });
      daemons.push(d);
      await d.initialize(SHARD);
      await d.processRecords(makeRecords(['not avro']));
      await d.closeInput();
      assert.equal(await client.xlen('deadletter:from-env'), 1, 'the real environment won');
      assert.equal(await client.xlen('deadletter:from-dotenv'), 0);
      const log = logLines(join(cwd, 'lastopens.log'));
      assert.ok(log.some((l) => l.level === 'warn' && /LOG_PATH is not set; using the default/.test(String(l.msg))));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
