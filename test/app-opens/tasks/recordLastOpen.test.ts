import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { NonRetriableError, RetriableError, ValidationError } from '../../../src/core/errors.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../../src/redis/connection.js';
import {
  lastOpenField,
  lastOpenKey,
  recordLastOpen,
  recordLastOpens,
  type AppOpen,
} from '../../../src/app-opens/tasks/recordLastOpen.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../helpers/redis.js';
import { validationError } from '../../../src/app-opens/model/index.js';

function open(userId: bigint | number, platform: string, timestamp: number): AppOpen {
  return { userId: BigInt(userId), platform, timestamp, appVersion: null, deviceId: null };
}

async function stored(redis: RedisClient, userId: bigint | number, platform: string): Promise<string | null> {
  return redis.hget(lastOpenKey(BigInt(userId)), lastOpenField(platform));
}

/** Every field of every user:*:checkpoint hash, as "key field" -> value. */
async function dump(redis: RedisClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const keys = (await redis.keys('user:*:checkpoint')).sort();
  for (const k of keys) {
    const h = await redis.hgetall(k);
    for (const [f, v] of Object.entries(h)) out.set(`${k} ${f}`, v);
  }
  return out;
}

let server: RedisServer;
let redis: RedisClient;

before(async () => {
  server = await startRedis();
  redis = createRedisClient(server.url, { commandTimeoutMs: 2000 });
});
after(async () => {
  await closeRedisClient(redis);
  await stopAllRedis();
});
beforeEach(async () => {
  await redis.flushall();
});

describe('recordLastOpen (one event)', () => {
  test('writes the timestamp as decimal text under user:<id>:checkpoint <platform>_app_open', async () => {
    assert.equal(await recordLastOpen(redis, open(42, 'ios', 1_764_000_000)), true);
    assert.deepEqual(await redis.hgetall('user:42:checkpoint'), { ios_app_open: '1764000000' });
  });

  test('monotonic and idempotent: older and equal timestamps change nothing', async () => {
    assert.equal(await recordLastOpen(redis, open(1, 'android', 200)), true);
    assert.equal(await recordLastOpen(redis, open(1, 'android', 100)), false);
    assert.equal(await recordLastOpen(redis, open(1, 'android', 200)), false);
    assert.equal(await stored(redis, 1, 'android'), '200');
    assert.equal(await recordLastOpen(redis, open(1, 'android', 201)), true);
    assert.equal(await stored(redis, 1, 'android'), '201');
  });

  test('a userId of 2^53+1 is kept exact in the key', async () => {
    const id = 2n ** 53n + 1n;
    await recordLastOpen(redis, open(id, 'web', 5));
    assert.deepEqual(await redis.keys('user:*'), ['user:9007199254740993:checkpoint']);
    await recordLastOpens(redis, [open(id, 'web', 6), open(2n ** 63n - 1n, 'web', 7)]);
    assert.equal(await redis.hget('user:9007199254740993:checkpoint', 'web_app_open'), '6');
    assert.equal(await redis.hget('user:9223372036854775807:checkpoint', 'web_app_open'), '7');
  });

  test('an invalid event is a ValidationError naming the field; a non-hash key is NonRetriable', async () => {
    await assert.rejects(recordLastOpen(redis, open(0, 'ios', 1)), (e: unknown) => e instanceof ValidationError && e.field === 'userId');
    await assert.rejects(recordLastOpen(redis, open(1, 'ios', 1.5)), (e: unknown) => e instanceof ValidationError && e.field === 'timestamp');
    await assert.rejects(recordLastOpen(redis, open(1, '', 1)), (e: unknown) => e instanceof ValidationError && e.field === 'platform');
    await redis.set('user:7:checkpoint', 'not a hash');
    await assert.rejects(recordLastOpen(redis, open(7, 'ios', 1)), (e: unknown) => e instanceof NonRetriableError && /WRONGTYPE/.test(e.message));
  });

  test('concurrent calls (one turn of the event loop) go in one script call; each gets its own answer; the newest timestamp wins', async () => {
    // Prepare: 300 events over 40 users, timestamps shuffled, duplicates of a user in one flush;
    // user 7 holds a string (WRONGTYPE) and one event is invalid.
    await redis.set(lastOpenKey(7n), 'not a hash');
    const events: AppOpen[] = [];
    for (let i = 0; i < 300; i++) events.push(open(1 + ((i * 7) % 40), i % 3 ? 'ios' : 'web', 1_000 + ((i * 7919) % 997)));
    events.push(open(0, 'ios', 5)); // invalid: userId 0
    await redis.config('RESETSTAT');
    // Act: all at once, as a single processor with records of many keys in flight does.
    const settled = await Promise.allSettled(events.map((e) => recordLastOpen(redis, e)));
    // Assess: one script run for the 300 valid events (the invalid one never reaches Redis).
    const stats = await redis.info('commandstats');
    const calls = [...stats.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
    assert.equal(calls, 1, stats);
    const newest = new Map<string, number>();
    for (const e of events.slice(0, 300)) {
      if (e.userId === 7n) continue;
      const id = `${e.userId} ${e.platform}`;
      newest.set(id, Math.max(newest.get(id) ?? 0, e.timestamp));
    }
    for (const [id, ts] of newest) {
      const [u, p] = id.split(' ') as [string, string];
      assert.equal(await stored(redis, BigInt(u), p), String(ts), id);
    }
    settled.forEach((r, i) => {
      const e = events[i]!;
      if (e.userId === 0n) assert.ok(r.status === 'rejected' && r.reason instanceof ValidationError);
      else if (e.userId === 7n) assert.ok(r.status === 'rejected' && r.reason instanceof NonRetriableError && /WRONGTYPE/.test(String(r.reason.message)), `event ${i}`);
      else assert.equal(r.status, 'fulfilled', `event ${i}`);
    });
    // The first event of each field created it; true exactly for events that moved a field forward.
    const moved = new Map<string, number>();
    settled.forEach((r, i) => {
      const e = events[i]!;
      if (r.status !== 'fulfilled') return;
      const id = `${e.userId} ${e.platform}`;
      const before = moved.get(id);
      assert.equal(r.value, before === undefined || e.timestamp > before, `event ${i}`);
      if (before === undefined || e.timestamp > before) moved.set(id, e.timestamp);
    });
  });

  test('a stored value that is not a number is overwritten', async () => {
    await redis.hset('user:8:checkpoint', 'ios_app_open', 'garbage');
    assert.equal(await recordLastOpen(redis, open(8, 'ios', 3)), true);
    assert.equal(await stored(redis, 8, 'ios'), '3');
  });
});

describe('recordLastOpens (batch)', () => {
  test('collapses to the newest per (user, platform) and reports counts', async () => {
    const result = await recordLastOpens(redis, [
      open(1, 'ios', 10),
      open(1, 'ios', 30),
      open(1, 'ios', 20),
      open(1, 'android', 5),
      open(2, 'ios', 7),
    ]);
    assert.deepEqual(result, { events: 5, fields: 3, updated: 3, unchanged: 0, rejected: [] });
    assert.deepEqual(await redis.hgetall('user:1:checkpoint'), { ios_app_open: '30', android_app_open: '5' });
    assert.deepEqual(await redis.hgetall('user:2:checkpoint'), { ios_app_open: '7' });
  });

  test('a replayed batch changes nothing; an out-of-order older batch changes nothing', async () => {
    const newer = Array.from({ length: 3000 }, (_, i) => open(i + 1, i % 2 ? 'ios' : 'android', 1000 + i));
    const first = await recordLastOpens(redis, newer);
    assert.equal(first.updated, 3000);
    const before = await dump(redis);
    const replay = await recordLastOpens(redis, newer);
    assert.deepEqual([replay.updated, replay.unchanged], [0, 3000]);
    const older = newer.map((e) => ({ ...e, timestamp: e.timestamp - 500 }));
    const late = await recordLastOpens(redis, older.reverse());
    assert.deepEqual([late.updated, late.unchanged], [0, 3000]);
    assert.deepEqual(await dump(redis), before);
  });

  test('rejected: invalid events and non-hash keys, by index; everything else is applied', async () => {
    await redis.set('user:3:checkpoint', 'a string');
    const events = [open(1, 'ios', 10), open(0, 'ios', 10), open(3, 'ios', 10), open(2, 'ios', 10), open(3, 'web', 11), open(4, 'ios', -1)];
    const result = await recordLastOpens(redis, events);
    assert.deepEqual(
      result.rejected.map((r) => [r.index, r.error.name]),
      [
        [1, 'ValidationError'],
        [2, 'NonRetriableError'],
        [4, 'NonRetriableError'],
        [5, 'ValidationError'],
      ],
    );
    assert.deepEqual([result.fields, result.updated, result.unchanged], [4, 2, 0]);
    assert.equal(await stored(redis, 1, 'ios'), '10');
    assert.equal(await stored(redis, 2, 'ios'), '10');
    assert.equal(await redis.get('user:3:checkpoint'), 'a string');
  });

  test('splits into calls of maxKeysPerCall and validates it', async () => {
    const events = Array.from({ length: 2500 }, (_, i) => open(i + 1, 'ios', 1 + i));
    const r = await recordLastOpens(redis, events, { maxKeysPerCall: 7 });
    assert.equal(r.updated, 2500);
    assert.equal(await stored(redis, 2500, 'ios'), '2500');
    await assert.rejects(recordLastOpens(redis, events, { maxKeysPerCall: 0 }), /`maxKeysPerCall`/);
  });

  test('an empty batch sends nothing', async () => {
    assert.deepEqual(await recordLastOpens(redis, []), { events: 0, fields: 0, updated: 0, unchanged: 0, rejected: [] });
  });

  test('the script is reloaded after SCRIPT FLUSH (NOSCRIPT fallback) and after a server restart', async () => {
    await recordLastOpens(redis, [open(1, 'ios', 1)]);
    await redis.script('FLUSH');
    await recordLastOpens(redis, [open(1, 'ios', 2), open(2, 'ios', 2)]);
    assert.equal(await recordLastOpen(redis, open(1, 'ios', 3)), true);
    assert.equal(await stored(redis, 2, 'ios'), '2');
  });

  test('two concurrent writers on the same keys: the newest timestamp wins, whatever the interleaving', async () => {
    const other = createRedisClient(server.url);
    try {
      const users = 200;
      const rounds = 20;
      const writes: Array<Promise<unknown>> = [];
      let expectedMax = 0;
      for (let r = 0; r < rounds; r++) {
        // Writer A goes up, writer B goes down, on the same keys, at the same time.
        const tsA = 1000 + r;
        const tsB = 1000 + rounds * 2 - r;
        expectedMax = Math.max(expectedMax, tsA, tsB);
        writes.push(recordLastOpens(redis, Array.from({ length: users }, (_, u) => open(u + 1, 'ios', tsA))));
        writes.push(recordLastOpens(other, Array.from({ length: users }, (_, u) => open(u + 1, 'ios', tsB))));
        writes.push(recordLastOpen(other, open(1, 'ios', tsA)));
      }
      await Promise.all(writes);
      for (let u = 1; u <= users; u++) assert.equal(await stored(redis, u, 'ios'), String(expectedMax));
    } finally {
      await closeRedisClient(other);
    }
  });

  test('property: any split of any events into batches == per-event application == the model', async () => {
    const perEvent = createRedisClient(`${server.url}/1`);
    try {
      const event = fc.record({
        // Digit-count and 2^53 boundaries: the standalone path writes ids and timestamps as digits itself.
        userId: fc.oneof(fc.bigInt({ min: 1n, max: 6n }), fc.constantFrom(9n, 10n, 99n, 100n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n)),
        platform: fc.constantFrom('ios', 'android', 'web', 'tv_é'),
        timestamp: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.constantFrom(9, 10, 999_999_999, 1_000_000_000, Number.MAX_SAFE_INTEGER)),
        appVersion: fc.constant(null),
        deviceId: fc.constant(null),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(event, { maxLength: 60 }), fc.array(fc.nat(60), { maxLength: 6 }), async (events, cuts) => {
          await redis.flushall();
          const model = new Map<string, string>();
          // The model's rules decide which events count (tv_é and 2^53-1 seconds are refused).
          for (const e of events) {
            if (validationError(e) !== undefined) continue;
            const k = `${lastOpenKey(e.userId)} ${lastOpenField(e.platform)}`;
            if (Number(model.get(k) ?? 0) < e.timestamp) model.set(k, String(e.timestamp));
          }
          const bounds = [...new Set([0, ...cuts.map((c) => Math.min(c, events.length)), events.length])].sort((a, b) => a - b);
          for (let i = 0; i + 1 < bounds.length; i++) {
            await recordLastOpens(redis, events.slice(bounds[i], bounds[i + 1]), { maxKeysPerCall: 4 });
          }
          for (const e of events) {
            await recordLastOpen(perEvent, e).catch((err: unknown) => {
              if (!(err instanceof ValidationError && validationError(e) !== undefined)) throw err;
            });
          }
          const batch = await dump(redis);
          const single = await dump(perEvent);
          await perEvent.flushdb();
          assert.deepEqual(batch, model);
          assert.deepEqual(single, model);
        }),
        { numRuns: 60 },
      );
    } finally {
      await closeRedisClient(perEvent);
    }
  });
});

describe('Redis refusing writes mid-batch', () => {
  test('OOM surfaces as RetriableError; after recovery a retry of the same batch gives the exact result', async () => {
    const events = Array.from({ length: 5000 }, (_, i) => open((i % 2000) + 1, 'ios', 100 + i));
    // Part of the state exists before the outage.
    await recordLastOpens(redis, events.slice(0, 1000));
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'maxmemory', '1');
    try {
      await assert.rejects(recordLastOpens(redis, events), (e: unknown) => e instanceof RetriableError && /OOM/.test(e.message));
      await assert.rejects(recordLastOpen(redis, open(1, 'ios', 999_999)), (e: unknown) => e instanceof RetriableError && /OOM/.test(e.message));
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
    const r = await recordLastOpens(redis, events);
    assert.equal(r.fields, 2000);
    const newest = new Map<bigint, number>();
    for (const e of events) newest.set(e.userId, Math.max(newest.get(e.userId) ?? 0, e.timestamp));
    for (const [u, ts] of newest) assert.equal(await stored(redis, u, 'ios'), String(ts));
  });

  test('Redis down mid-batch: RetriableError within the command bound; after restart the retry succeeds', async () => {
    const events = Array.from({ length: 20_000 }, (_, i) => open(i + 1, 'android', 500));
    const client = createRedisClient(server.url, { commandTimeoutMs: 1500 });
    try {
      await recordLastOpens(client, events.slice(0, 100));
      const inFlight = recordLastOpens(client, events);
      const down = server.kill();
      const t0 = Date.now();
      const outcome = await inFlight.then(
        (r) => r,
        (e: unknown) => e,
      );
      await down;
      // The batch may have completed before the kill landed; if not, it must fail retriably and fast.
      if (outcome instanceof Error) {
        assert.ok(outcome instanceof RetriableError, String(outcome));
        assert.ok(Date.now() - t0 < 3000);
      }
      // While down: fails, retriably.
      const t1 = Date.now();
      await assert.rejects(recordLastOpens(client, events), (e: unknown) => e instanceof RetriableError);
      assert.ok(Date.now() - t1 < 2600, `took ${Date.now() - t1} ms`);
      await server.up();
      // Retry with backoff, as the pipeline would, until it succeeds.
      const deadline = Date.now() + 15_000;
      let result;
      for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
        try {
          result = await recordLastOpens(client, events);
          break;
        } catch (e) {
          assert.ok(e instanceof RetriableError, String(e));
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      assert.equal(result.fields, 20_000);
      // The restarted server has no persistence: everything was written by the retry.
      assert.equal(await client.hlen('user:20000:checkpoint'), 1);
      assert.equal(await stored(client, 20000, 'android'), '500');
    } finally {
      await closeRedisClient(client);
      await redis.ping().catch(() => undefined);
    }
  });
});
