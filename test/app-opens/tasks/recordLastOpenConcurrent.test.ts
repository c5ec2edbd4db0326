/**
 * recordLastOpen called concurrently (the per-event runtime's shape), against a real redis-server:
 * each call's answer is exactly what one-by-one application in call order gives, a WRONGTYPE key
 * among them fails only its own events, and a connection cut while script calls are in flight
 * never acknowledges an event that was not applied.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { NonRetriableError, RetriableError } from '../../../src/core/errors.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../../src/redis/connection.js';
import { lastOpenField, lastOpenKey, recordLastOpen, type AppOpen } from '../../../src/app-opens/tasks/recordLastOpen.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../helpers/redis.js';
import { rng } from '../../helpers/prng.js';

const open = (userId: number, platform: string, timestamp: number): AppOpen => ({ userId: BigInt(userId), platform, timestamp, appVersion: null, deviceId: null });

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

function shuffle<T>(xs: T[], next: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

describe('recordLastOpen under concurrency', () => {
  test('one user+platform 3,000 times in one turn, shuffled timestamps, a WRONGTYPE key among them: answers as if applied one by one', async () => {
    const next = rng(25);
    await redis.set(lastOpenKey(7n), 'not a hash');
    await redis.hset(lastOpenKey(1n), lastOpenField('ios'), '1500');
    const events = shuffle(
      [
        ...Array.from({ length: 3000 }, (_, i) => open(1, 'ios', 1000 + i)),
        ...Array.from({ length: 50 }, (_, i) => open(7, 'ios', 1000 + i)),
        ...Array.from({ length: 200 }, (_, i) => open(2 + (i % 5), i % 2 ? 'ios' : 'android', 1000 + Math.floor(next() * 100))),
      ],
      next,
    );
    const settled = await Promise.allSettled(events.map((e) => recordLastOpen(redis, e)));
    const model = new Map<string, number>([[`1 ios`, 1500]]);
    settled.forEach((r, i) => {
      const e = events[i]!;
      if (e.userId === 7n) {
        assert.ok(r.status === 'rejected' && r.reason instanceof NonRetriableError, `event ${i}: WRONGTYPE`);
        return;
      }
      const id = `${e.userId} ${e.platform}`;
      const cur = model.get(id);
      const moves = cur === undefined || cur < e.timestamp;
      if (moves) model.set(id, e.timestamp);
      assert.deepEqual(r, { status: 'fulfilled', value: moves }, `event ${i} (${id} ${e.timestamp})`);
    });
    for (const [id, ts] of model) {
      const [u, p] = id.split(' ');
      assert.equal(await redis.hget(lastOpenKey(BigInt(u!)), lastOpenField(p!)), String(ts), id);
    }
    assert.equal(await redis.get(lastOpenKey(7n)), 'not a hash');
  });

  test('connections cut while script calls are in flight: no event acknowledged unless applied; retries converge on the newest', async () => {
    const next = rng(2525);
    const client = createRedisClient(server.url, { commandTimeoutMs: 1500 });
    const admin = createRedisClient(server.url, { commandTimeoutMs: 1500 });
    await admin.client('SETNAME', 'admin');
    try {
      const events = Array.from({ length: 12_000 }, () => open(1 + Math.floor(next() * 3000), next() < 0.5 ? 'ios' : 'android', 1_000_000 + Math.floor(next() * 1_000_000)));
      let cuts = 0;
      let done = false;
      const killer = (async () => {
        while (!done) {
          await new Promise((r) => setTimeout(r, 3 + Math.floor(next() * 10)));
          // Every client connection but the admin's, mid-pipeline (server side: as a dropped link).
          const list = String(await admin.client('LIST'));
          for (const line of list.split('\n')) {
            const id = /id=(\d+)/.exec(line)?.[1];
            if (id && !/name=admin/.test(line)) {
              await admin.client('KILL', 'ID', id).catch(() => undefined);
              cuts++;
            }
          }
        }
      })();
      const outcomes: Array<PromiseSettledResult<boolean>> = [];
      // In waves, as the pipeline's 64 in flight would arrive, but larger so cuts land mid-call.
      for (let s = 0; s < events.length; s += 3000) {
        outcomes.push(...(await Promise.allSettled(events.slice(s, s + 3000).map((e) => recordLastOpen(client, e)))));
      }
      done = true;
      await killer;
      assert.ok(cuts > 0, 'connections were cut');
      let failed = 0;
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        const r = outcomes[i]!;
        const stored = Number(await admin.hget(lastOpenKey(e.userId), lastOpenField(e.platform)));
        if (r.status === 'fulfilled') assert.ok(stored >= e.timestamp, `event ${i} acknowledged but stored ${stored} < ${e.timestamp}`);
        else {
          failed++;
          assert.ok(r.reason instanceof RetriableError, `event ${i}: ${String(r.reason)}`);
        }
      }
      // Retry the failed ones, as the pipeline would: the result is the newest of each field.
      for (let i = 0; i < events.length; i++) if (outcomes[i]!.status === 'rejected') await recordLastOpen(client, events[i]!);
      const newest = new Map<string, number>();
      for (const e of events) {
        const id = `${e.userId} ${e.platform}`;
        newest.set(id, Math.max(newest.get(id) ?? 0, e.timestamp));
      }
      for (const [id, ts] of newest) {
        const [u, p] = id.split(' ');
        assert.equal(await admin.hget(lastOpenKey(BigInt(u!)), lastOpenField(p!)), String(ts), id);
      }
      console.log(`cuts ${cuts}, failed events ${failed}`);
    } finally {
      await closeRedisClient(client);
      await closeRedisClient(admin);
    }
  });
});
