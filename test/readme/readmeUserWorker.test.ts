/**
 * As a new user: the README's "Write a worker" with recordLastOpen per event
 * (test/fixtures/readmeUserWorker.js, public entry points only), run by the README's TestDaemon
 * snippet as a real child process against a real redis-server. Partition keys are the event's
 * second of the minute, as the App Opens API sets them; timestamps arrive out of order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestDaemon, makeRecords } from '../../src/testing/index.js';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';
import { rng } from '../helpers/prng.js';

let server: RedisServer;
let redis: RedisClient;
let dir: string;
before(async () => {
  server = await startRedis();
  redis = createRedisClient(server.url);
  dir = mkdtempSync(join(tmpdir(), 'readme-user-'));
});
after(async () => {
  await closeRedisClient(redis);
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

const open = (userId: number, platform: string, timestamp: number): AppOpen => ({ userId: BigInt(userId), platform, timestamp, appVersion: null, deviceId: null });

test('the README worker with recordLastOpen per event: newest timestamp exact, poison dead-lettered, one checkpoint at the end, clean exit', async () => {
  const next = rng(4242);
  const now = Math.floor(Date.now() / 1000);
  const events = Array.from({ length: 5000 }, () => open(1 + Math.floor(next() * 300), next() < 0.5 ? 'ios' : 'android', now - Math.floor(next() * 3600)));
  await redis.set('user:77:checkpoint', 'a string'); // WRONGTYPE: dead-lettered, not retried forever
  events.splice(1234, 0, open(77, 'ios', now - 5));
  const payloads: Buffer[] = events.map((e) => toAvro(e));
  payloads.splice(10, 0, Buffer.from('garbage'));
  const records = makeRecords(payloads, { partitionKey: (i) => String(i < payloads.length && i !== 10 ? events[i > 10 ? i - 1 : i]!.timestamp % 60 : 0) });
  const daemon = TestDaemon.spawn('test/fixtures/readmeUserWorker.js', { env: { ...process.env, RESULTS_REDIS_URL: server.url, LOG_PATH: join(dir, 'w.log') } });
  await daemon.initialize('shardId-000000000000');
  const { checkpoints } = await daemon.processRecords(records);
  assert.deepEqual(checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records.at(-1)!.sequenceNumber, null]]);
  const newest = new Map<string, number>();
  for (const e of events) if (e.userId !== 77n) newest.set(`${e.userId} ${e.platform}`, Math.max(newest.get(`${e.userId} ${e.platform}`) ?? 0, e.timestamp));
  for (const [id, ts] of newest) {
    const [u, p] = id.split(' ');
    assert.equal(await redis.hget(`user:${u}:checkpoint`, `${p}_app_open`), String(ts), id);
  }
  assert.deepEqual(await daemon.closeInput(), { code: 0, signal: null });
  assert.deepEqual(daemon.strayLines, []);
});

test('the README worker with Redis frozen mid-batch: two SIGTERMs stop it, exit 0, nothing checkpointed', async () => {
  const now = Math.floor(Date.now() / 1000);
  const events = Array.from({ length: 2000 }, (_, i) => open(1000 + (i % 97), 'ios', now - (i % 500)));
  const records = makeRecords(events.map((e) => toAvro(e)), { partitionKey: (i) => String(events[i]!.timestamp % 60) });
  const log = join(dir, 'frozen.log');
  const daemon = TestDaemon.spawn('test/fixtures/readmeUserWorker.js', { env: { ...process.env, RESULTS_REDIS_URL: server.url, LOG_PATH: log } });
  await daemon.initialize('shardId-000000000000');
  server.pause();
  let resumed = false;
  try {
    const inHand = daemon.processRecords(records).then(
      (r) => r,
      (e: unknown) => e,
    );
    // Wait for the first retry line: events are in flight and failing.
    const { readFileSync, existsSync } = await import('node:fs');
    const deadline = Date.now() + 20_000;
    while (!(existsSync(log) && readFileSync(log, 'utf8').includes('retriable processor failure'))) {
      assert.ok(Date.now() < deadline, 'no retry line');
      await new Promise((r) => setTimeout(r, 100));
    }
    daemon.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    daemon.kill('SIGTERM');
    const exit = await daemon.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    const outcome = await inHand;
    assert.ok(outcome instanceof Error, 'no status for the batch');
    server.resume();
    resumed = true;
    assert.deepEqual(daemon.checkpoints, []);
  } finally {
    if (!resumed) server.resume();
  }
});
