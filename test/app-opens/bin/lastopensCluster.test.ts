/**
 * bin/lastopens against a three-master Redis Cluster, configured with a multi-seed
 * redis+cluster:// URL: the batch path across slots, dead letters, checkpoints.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { Cluster } from 'ioredis';
import { toAvro, type AppOpen } from '../../../src/app-opens/model/index.js';
import { TestDaemon, makeRecords } from '../../../src/testing/index.js';
import { startRedisCluster, stopAllRedis, type RedisClusterServer } from '../../helpers/redis.js';

const BIN = fileURLToPath(new URL('../../../bin/lastopens', import.meta.url));
const now = Math.floor(Date.now() / 1000);
const open = (userId: bigint | number, platform: string, timestamp: number): AppOpen => ({
  userId: BigInt(userId),
  platform,
  timestamp,
  appVersion: null,
  deviceId: null,
});

let cluster: RedisClusterServer;
let client: Cluster;
let dir: string;
before(async () => {
  cluster = await startRedisCluster();
  client = new Cluster(cluster.nodes);
  dir = mkdtempSync(join(tmpdir(), 'lastopens-cluster-'));
});
after(async () => {
  client.disconnect();
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

test('bin/lastopens on a three-master cluster (multi-seed URL): exact hashes across slots, dead letters, a checkpoint per batch', async () => {
  const users = 1500;
  const good = Array.from({ length: users * 2 }, (_, i) => open((i % users) + 1, i < users ? 'ios' : 'android', now - 1000 + i));
  const batch1 = makeRecords([...good.map(toAvro), Buffer.from('not avro')]);
  const batch2 = makeRecords(good.slice(0, 100).map((e) => toAvro({ ...e, timestamp: e.timestamp - 500 })), { start: batch1.length });
  const d = TestDaemon.spawn(BIN, {
    env: { PATH: process.env.PATH, RESULTS_REDIS_URL: cluster.url, STREAM_NAME: 'app-opens', LOG_PATH: join(dir, 'lastopens.log') },
    cwd: dir,
  });
  try {
    await d.initialize('shardId-000000000000');
    const r1 = await d.processRecords(batch1);
    const r2 = await d.processRecords(batch2);
    await d.shutdownRequested();
    assert.deepEqual(await d.closeInput(), { code: 0, signal: null });
    assert.deepEqual(d.strayLines, []);
    assert.deepEqual(r1.checkpoints.map((c) => c.sequenceNumber), [batch1.at(-1)!.sequenceNumber]);
    assert.deepEqual(r2.checkpoints.map((c) => c.sequenceNumber), [batch2.at(-1)!.sequenceNumber]);
  } finally {
    await d.stop();
  }
  for (const u of [1, 2, 750, 1499, 1500]) {
    assert.deepEqual(await client.hgetall(`user:${u}:checkpoint`), {
      ios_app_open: String(now - 1000 + u - 1),
      android_app_open: String(now - 1000 + users + u - 1),
    });
  }
  const sizes = await Promise.all(client.nodes('master').map((m) => m.dbsize()));
  // The hashes, the dead-letter stream and its byte estimate (deadletter:{deadletter:app-opens}:bytes).
  assert.equal(sizes.reduce((a, b) => a + b, 0), users + 2, `keys per master: ${sizes.join(',')}`);
  assert.equal(await client.exists('deadletter:{deadletter:app-opens}:bytes'), 1);
  const letters = await client.xrange('deadletter:app-opens', '-', '+');
  assert.equal(letters.length, 1);
  assert.ok(letters[0]?.[1].includes(batch1.at(-1)!.sequenceNumber));
});

test('a malformed RESULTS_REDIS_URL: exit 78, and the error line hides the password', () => {
  const r = spawnSync(process.execPath, [BIN], {
    env: { PATH: process.env.PATH, RESULTS_REDIS_URL: 'redis+cluster://app:hunter2-s3cret@a:1,b:99999', STREAM_NAME: 's', LOG_PATH: join(dir, 'x.log') },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 78);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^lastopens: RESULTS_REDIS_URL is malformed: Invalid Redis URL redis\+cluster:\/\/app:\*\*\*@a:1,b:99999: the port must be 1-65535/);
  assert.ok(!r.stderr.includes('hunter2'));
});
