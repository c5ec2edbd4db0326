/**
 * bin/dailyactives, the app's second worker, as users run it: the built binary, a real child
 * process driven over real pipes by the test daemon, against a private redis-server.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { toAvro, type AppOpen } from '../../../src/app-opens/model/index.js';
import { TestDaemon, makeRecords } from '../../../src/testing/index.js';
import { until } from '../../helpers/failover.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../helpers/redis.js';

const BIN = fileURLToPath(new URL('../../../bin/dailyactives', import.meta.url));
const now = Math.floor(Date.now() / 1000);
const today = `dau:${new Date(now * 1000).toISOString().slice(0, 10)}`;
const yesterday = `dau:${new Date((now - 86_400) * 1000).toISOString().slice(0, 10)}`;
const open = (userId: number, timestamp: number): AppOpen => ({ userId: BigInt(userId), platform: 'android', timestamp, appVersion: null, deviceId: null });

let redis: RedisServer;
let client: Redis;
let dir: string;
before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  dir = mkdtempSync(join(tmpdir(), 'dailyactives-'));
});
after(async () => {
  client.disconnect();
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

describe('bin/dailyactives under the test daemon', () => {
  test('distinct users per UTC day, poison dead-lettered, a checkpoint per batch, a replay changes nothing', async () => {
    // Prepare
    const good = [open(1, now), open(2, now), open(1, now - 5), open(3, now - 86_400)];
    const batch1 = makeRecords([...good.map(toAvro), Buffer.from('not avro')]);
    const batch2 = makeRecords(good.map(toAvro), { start: batch1.length }); // the same events again
    const d = TestDaemon.spawn(BIN, { env: { PATH: process.env.PATH, RESULTS_REDIS_URL: redis.url, STREAM_NAME: 'app-opens', LOG_PATH: join(dir, 'da.log') }, cwd: dir });
    try {
      // Act
      await d.initialize('shardId-000000000001');
      const r1 = await d.processRecords(batch1);
      const r2 = await d.processRecords(batch2);
      await d.shutdownRequested();
      const exit = await d.closeInput();
      // Assess
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.deepEqual(d.strayLines, []);
      assert.deepEqual(r1.checkpoints.map((c) => c.sequenceNumber), [batch1.at(-1)!.sequenceNumber]);
      assert.deepEqual(r2.checkpoints.map((c) => c.sequenceNumber), [batch2.at(-1)!.sequenceNumber]);
      assert.equal(await client.pfcount(today), 2);
      assert.equal(await client.pfcount(yesterday), 1);
      const letters = await client.xrange('deadletter:app-opens', '-', '+');
      assert.equal(letters.length, 1);
      assert.ok(letters[0]![1].includes(batch1.at(-1)!.sequenceNumber));
    } finally {
      await d.stop();
    }
  });

  test('REDIS_WAIT_REPLICAS=1 and no replica: too few is retried, never checkpointed; with a replica attached the batch is checkpointed', async () => {
    // Prepare: a primary of its own, with no replica yet.
    const primary = await startRedis();
    const logPath = join(dir, 'da-wait.log');
    const logged = (): Array<Record<string, unknown>> =>
      existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
    const d = TestDaemon.spawn(BIN, {
      env: { PATH: process.env.PATH, RESULTS_REDIS_URL: primary.url, STREAM_NAME: 'app-opens', LOG_PATH: logPath, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '200' },
      cwd: dir,
      actionTimeoutMs: 60_000,
    });
    const direct = new Redis(primary.url);
    try {
      await d.initialize('shardId-000000000001');
      const records = makeRecords([open(11, now), open(12, now)].map(toAvro));
      // Act
      const answered = d.processRecords(records);
      await until(async () => logged().some((l) => String(l.msg).startsWith('retriable processor failure') && /too few replicas acknowledged/.test(String(l.err))), 'a WAIT failure', 30_000);
      // Assess: written to the primary, not acknowledged by a replica: no checkpoint.
      assert.equal(await direct.pfcount(today), 2);
      assert.equal(d.checkpointedSequence, null);
      const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
      const result = await answered;
      assert.deepEqual(result.checkpoints.map((c) => c.sequenceNumber), [records.at(-1)!.sequenceNumber]);
      const copy = new Redis(replica.url);
      try {
        assert.equal(await copy.pfcount(today), 2, 'the replica holds the checkpointed batch');
      } finally {
        copy.disconnect();
      }
      assert.deepEqual(await d.closeInput(), { code: 0, signal: null });
    } finally {
      direct.disconnect();
      await d.stop();
    }
  });

  test('without RESULTS_REDIS_URL: exit 78, one stderr line naming it, nothing on stdout', () => {
    const r = spawnSync(process.execPath, [BIN], { cwd: dir, env: { PATH: process.env.PATH, STREAM_NAME: 'app-opens' }, encoding: 'utf8' });
    assert.equal(r.status, 78);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trim().split('\n'), ['dailyactives: RESULTS_REDIS_URL is not set (mandatory)']);
  });
});
