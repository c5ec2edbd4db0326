/**
 * recordDailyActives against a private redis-server: PFADD per UTC day, idempotent, order-free,
 * invalid events and a day key of another type rejected by index, Redis down is retriable.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { NonRetriableError, RetriableError, ValidationError } from '../../../src/core/errors.js';
import { createRedisClient, closeRedisClient, type RedisClient } from '../../../src/redis/connection.js';
import type { AppOpen } from '../../../src/app-opens/model/index.js';
import { dailyActivesKey, recordDailyActives } from '../../../src/app-opens/tasks/recordDailyActives.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../helpers/redis.js';
import { rng } from '../../helpers/prng.js';

const DAY1 = 1_764_547_200; // 2025-12-01T00:00:00Z
const open = (userId: number | bigint, timestamp: number, platform = 'ios'): AppOpen => ({ userId: BigInt(userId), platform, timestamp, appVersion: null, deviceId: null });

let server: RedisServer;
let redis: RedisClient;
let raw: Redis;
before(async () => {
  server = await startRedis();
  redis = createRedisClient(server.url, { commandTimeoutMs: 1_000 });
  raw = new Redis(server.url);
  raw.on('error', () => {}); // the server is stopped on purpose in one test
});
after(async () => {
  raw.disconnect();
  await closeRedisClient(redis);
  await stopAllRedis();
});
afterEach(async () => {
  if (server.running) await raw.flushall();
});

describe('recordDailyActives', () => {
  test('the day key is the UTC date of the timestamp', () => {
    assert.equal(dailyActivesKey(DAY1), 'dau:2025-12-01');
    assert.equal(dailyActivesKey(DAY1 - 1), 'dau:2025-11-30');
    assert.equal(dailyActivesKey(DAY1 + 86_399), 'dau:2025-12-01');
  });

  test('counts distinct users per day; a replay and any order change nothing', async () => {
    // Prepare: 3,000 events of 1,200 users over 3 days, shuffled, with duplicates.
    const next = rng(7);
    const events = Array.from({ length: 3_000 }, () => open(1 + Math.floor(next() * 1_200), DAY1 + Math.floor(next() * 3 * 86_400)));
    const distinct = new Map<string, Set<bigint>>();
    for (const e of events) {
      const key = dailyActivesKey(e.timestamp);
      if (!distinct.has(key)) distinct.set(key, new Set());
      distinct.get(key)!.add(e.userId);
    }
    // Act
    const first = await recordDailyActives(redis, events, { maxMembersPerCall: 250 });
    const counts = Object.fromEntries(await Promise.all([...distinct.keys()].map(async (k) => [k, await raw.pfcount(k)] as const)));
    const replay = await recordDailyActives(redis, [...events].reverse());
    // Assess
    assert.equal(first.days, 3);
    assert.deepEqual(first.rejected, []);
    assert.equal(replay.changed, 0, 'a replay changes no day');
    for (const [key, users] of distinct) {
      // HyperLogLog: exact below a few hundred, within 2% (2.5 standard errors) here.
      assert.ok(Math.abs(counts[key]! - users.size) <= users.size * 0.02, `${key}: PFCOUNT ${counts[key]} for ${users.size} users`);
      assert.equal(await raw.pfcount(key), counts[key], `${key} unchanged by the replay`);
    }
  });

  test('invalid events and a day key holding another type are rejected by index; the rest applied', async () => {
    await raw.set('dau:2025-12-02', 'not a hyperloglog');
    const events = [open(1, DAY1), open(0, DAY1), open(2, DAY1 + 86_400), open(3, DAY1), open(4, DAY1, 'Bad Platform')];
    const result = await recordDailyActives(redis, events);
    assert.deepEqual(result.rejected.map((r) => r.index), [1, 2, 4]);
    assert.ok(result.rejected[0]!.error instanceof ValidationError);
    assert.ok(result.rejected[1]!.error instanceof NonRetriableError);
    assert.match(result.rejected[1]!.error.message, /WRONGTYPE/);
    assert.ok(result.rejected[2]!.error instanceof ValidationError);
    assert.equal(await raw.pfcount('dau:2025-12-01'), 2);
  });

  test('Redis down: RetriableError within the bound; after restart a retry applies the batch', async () => {
    await server.down();
    await assert.rejects(recordDailyActives(redis, [open(9, DAY1)]), (err) => err instanceof RetriableError);
    await server.up();
    const result = await recordDailyActives(redis, [open(9, DAY1)]);
    assert.deepEqual(result.rejected, []);
    assert.equal(await raw.pfcount('dau:2025-12-01'), 1);
  });
});
