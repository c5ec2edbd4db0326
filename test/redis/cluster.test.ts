import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import { RetriableError } from '../../src/core/errors.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { RedisDeadLetterSink, deadLetterBytesKey, minDeadLetterMaxBytes } from '../../src/redis/deadLetterSink.js';
import { keySlot } from '../../src/redis/keySlot.js';
import { lastOpenKey, recordLastOpen, recordLastOpens, type AppOpen } from '../../src/app-opens/tasks/recordLastOpen.js';
import { startRedisCluster, stopAllRedis, type RedisClusterServer } from '../helpers/redis.js';

function open(userId: bigint | number, platform: string, timestamp: number): AppOpen {
  return { userId: BigInt(userId), platform, timestamp, appVersion: null, deviceId: null };
}

let cluster: RedisClusterServer;
let redis: RedisClient;
before(async () => {
  cluster = await startRedisCluster();
  redis = createRedisClient(cluster.url);
});
after(async () => {
  await closeRedisClient(redis);
  await stopAllRedis();
});

describe('Redis Cluster (three masters)', () => {
  test('keySlot agrees with CLUSTER KEYSLOT, hash tags included', async () => {
    assert.ok(redis instanceof Cluster);
    const keys = ['user:1:checkpoint', lastOpenKey(2n ** 53n + 1n), '{user:1}:x', 'a{}b', 'é{ü}', '{}{x}', 'deadletter:app-opens', ''];
    for (let i = 0; i < 200; i++) keys.push(lastOpenKey(BigInt(i * 7919 + 1)));
    for (const k of keys) {
      assert.equal(keySlot(k), Number(await redis.cluster('KEYSLOT', k)), k);
    }
  });

  test('batch path: keys across all three masters, collapsed, monotonic, replay-safe', async () => {
    const users = 3000;
    const events: AppOpen[] = [];
    for (let round = 0; round < 3; round++) {
      for (let u = 1; u <= users; u++) events.push(open(u, round % 2 ? 'ios' : 'android', 1000 + round * 10 + (u % 7)));
    }
    events.push(open(2n ** 53n + 1n, 'ios', 77));
    const result = await recordLastOpens(redis, events, { maxKeysPerCall: 50 });
    assert.equal(result.fields, users * 2 + 1);
    assert.equal(result.updated, users * 2 + 1);
    assert.deepEqual(result.rejected, []);
    // The keys really are spread over the three masters.
    const masters = (redis as Cluster).nodes('master');
    assert.equal(masters.length, 3);
    const sizes = await Promise.all(masters.map((m) => m.dbsize()));
    assert.ok(sizes.every((n) => n > 500), `dbsize per master: ${sizes.join(',')}`);

    const replay = await recordLastOpens(redis, events.slice().reverse());
    assert.deepEqual([replay.updated, replay.unchanged], [0, users * 2 + 1]);
    for (const u of [1, 1500, 3000]) {
      assert.deepEqual(await redis.hgetall(lastOpenKey(BigInt(u))), {
        android_app_open: String(1000 + 20 + (u % 7)),
        ios_app_open: String(1000 + 10 + (u % 7)),
      });
    }
    assert.equal(await redis.hget('user:9007199254740993:checkpoint', 'ios_app_open'), '77');
    assert.equal(await recordLastOpen(redis, open(1, 'ios', 1)), false);
    assert.equal(await recordLastOpen(redis, open(1, 'ios', 5000)), true);
  });

  test('concurrent recordLastOpen calls on a cluster: grouped by slot and node, each answered, the newest timestamp wins', async () => {
    const events = Array.from({ length: 2_000 }, (_, i) => open(20_000 + (i % 500), i % 2 ? 'ios' : 'web', 100 + ((i * 7919) % 1000)));
    const answers = await Promise.all(events.map((e) => recordLastOpen(redis, e)));
    assert.equal(answers.length, 2_000);
    const newest = new Map<string, number>();
    for (const e of events) newest.set(`${e.userId} ${e.platform}`, Math.max(newest.get(`${e.userId} ${e.platform}`) ?? 0, e.timestamp));
    for (const [id, ts] of newest) {
      const [u, p] = id.split(' ') as [string, string];
      assert.equal(await redis.hget(lastOpenKey(BigInt(u)), `${p}_app_open`), String(ts), id);
    }
    // Exactly one true per field's first write and per later move forward.
    assert.ok(answers.filter(Boolean).length >= newest.size);
  });

  test('dead letters on a cluster', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 'app-opens', maxLen: 1000 });
    await sink.write(
      Array.from({ length: 20 }, (_, i) => ({
        shardId: 'shardId-000000000000',
        reason: 'ValidationError: platform must match',
        record: { data: 'AAE=', partitionKey: `p${i}`, sequenceNumber: String(100 + i), subSequenceNumber: 0, approximateArrivalTimestamp: null },
      })),
    );
    assert.equal(await redis.xlen('deadletter:app-opens'), 20);
    // The budget's side key shares the stream's slot (one script touches both); over budget, the
    // oldest go.
    assert.equal(keySlot(deadLetterBytesKey('app-opens')), keySlot('deadletter:app-opens'));
    const small = new RedisDeadLetterSink(redis, { streamName: 'app-opens', maxDataBytes: 1024, maxBytes: minDeadLetterMaxBytes(1024) });
    const big = Buffer.alloc(4096, 1).toString('base64');
    let dropped = 0;
    for (let b = 0; b < 5; b++) {
      const r = await small.write(
        Array.from({ length: 10 }, (_, i) => ({
          shardId: 'shardId-000000000000',
          reason: 'DecodeError: garbage',
          record: { data: big, partitionKey: `q${b}-${i}`, sequenceNumber: String(1000 + b * 10 + i), subSequenceNumber: 0, approximateArrivalTimestamp: null },
        })),
      );
      dropped += r.dropped;
    }
    assert.equal((await redis.xlen('deadletter:app-opens')) + dropped, 70);
    assert.ok(dropped > 20, `dropped ${dropped}`);
    assert.ok(Number(await redis.get(deadLetterBytesKey('app-opens'))) <= minDeadLetterMaxBytes(1024));
  });

  test('a master down mid-stream: RetriableError within the bound; after its restart a retry applies the batch', async () => {
    const client = createRedisClient(cluster.url, { commandTimeoutMs: 1500 });
    try {
      const batch = (ts: number): AppOpen[] => Array.from({ length: 2000 }, (_, i) => open(10_000 + i, 'web', ts));
      await recordLastOpens(client, batch(1));
      const victim = cluster.servers[1];
      assert.ok(victim);
      await victim.down();
      const t0 = Date.now();
      await assert.rejects(recordLastOpens(client, batch(2)), (e: unknown) => e instanceof RetriableError);
      assert.ok(Date.now() - t0 < 2600, `failed after ${Date.now() - t0} ms`);
      await victim.up(); // same port and nodes.conf: it rejoins with its slots (and no data)
      const deadline = Date.now() + 20_000;
      for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
        try {
          await recordLastOpens(client, batch(2));
          break;
        } catch (e) {
          assert.ok(e instanceof RetriableError, String(e));
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      for (let i = 0; i < 2000; i += 97) assert.equal(await client.hget(lastOpenKey(BigInt(10_000 + i)), 'web_app_open'), '2');
    } finally {
      await closeRedisClient(client);
    }
  });
});
