import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { RetriableError } from '../../src/core/errors.js';
import type { DeadLetter } from '../../src/core/types.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { DEAD_LETTER_FIELDS, RedisDeadLetterSink } from '../../src/redis/deadLetterSink.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

function letter(i: number, data = Buffer.from(`bad-${i}`).toString('base64')): DeadLetter {
  return {
    shardId: 'shardId-000000000001',
    reason: `DecodeError: record ${i} is garbage`,
    record: {
      data,
      partitionKey: `pk-${i}`,
      sequenceNumber: `4960000000000000000000000000000000000000000000000${i}`,
      subSequenceNumber: i % 3,
      approximateArrivalTimestamp: null,
    },
  };
}

/** XRANGE as an array of field objects. */
async function entries(redis: RedisClient, key: string): Promise<Array<Record<string, string>>> {
  const raw = await redis.xrange(key, '-', '+');
  return raw.map(([, fields]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) o[fields[i] as string] = fields[i + 1] as string;
    return o;
  });
}

let server: RedisServer;
let redis: RedisClient;
before(async () => {
  server = await startRedis();
  redis = createRedisClient(server.url, { commandTimeoutMs: 1500 });
});
after(async () => {
  await closeRedisClient(redis);
  await stopAllRedis();
});
beforeEach(async () => {
  await redis.flushall();
});

describe('RedisDeadLetterSink', () => {
  test('one entry per letter in deadletter:<stream>, fields exact and in order, data as received', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 'app-opens' });
    const odd = letter(2, 'not-even-base64!!'); // stored as received, never re-encoded
    await sink.write([letter(1), odd, letter(3)]);
    const raw = await redis.xrange('deadletter:app-opens', '-', '+');
    assert.equal(raw.length, 3);
    assert.deepEqual(
      raw.map(([, f]) => f.filter((_, i) => i % 2 === 0)),
      [DEAD_LETTER_FIELDS, DEAD_LETTER_FIELDS, DEAD_LETTER_FIELDS].map((f) => [...f]),
    );
    assert.deepEqual(await entries(redis, 'deadletter:app-opens'), [
      {
        sequenceNumber: '49600000000000000000000000000000000000000000000001',
        subSequenceNumber: '1',
        shardId: 'shardId-000000000001',
        partitionKey: 'pk-1',
        reason: 'DecodeError: record 1 is garbage',
        data: Buffer.from('bad-1').toString('base64'),
      },
      {
        sequenceNumber: '49600000000000000000000000000000000000000000000002',
        subSequenceNumber: '2',
        shardId: 'shardId-000000000001',
        partitionKey: 'pk-2',
        reason: 'DecodeError: record 2 is garbage',
        data: 'not-even-base64!!',
      },
      {
        sequenceNumber: '49600000000000000000000000000000000000000000000003',
        subSequenceNumber: '0',
        shardId: 'shardId-000000000001',
        partitionKey: 'pk-3',
        reason: 'DecodeError: record 3 is garbage',
        data: Buffer.from('bad-3').toString('base64'),
      },
    ]);
    await sink.write([]);
    assert.equal(await redis.xlen('deadletter:app-opens'), 3);
  });

  test('capped with MAXLEN ~: the stream stays near the cap and keeps the newest', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 's', maxLen: 100 });
    for (let b = 0; b < 10; b++) await sink.write(Array.from({ length: 100 }, (_, i) => letter(b * 100 + i)));
    const len = await redis.xlen('deadletter:s');
    // "~" trims whole radix-tree nodes (100 entries by default): never below the cap, at most a node above.
    assert.ok(len >= 100 && len <= 200, `length ${len}`);
    const last = await redis.xrevrange('deadletter:s', '+', '-', 'COUNT', 1);
    assert.ok(last[0]?.[1].includes('pk-999'));
  });

  test('options are validated, naming the option', () => {
    assert.throws(() => new RedisDeadLetterSink(redis, { streamName: '' }), /`streamName`/);
    assert.throws(() => new RedisDeadLetterSink(redis, { streamName: 's', maxLen: 0 }), /`maxLen`/);
  });

  test('a refused write (OOM) rejects with RetriableError; after recovery the write succeeds', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 's' });
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'maxmemory', '1');
    try {
      await assert.rejects(sink.write([letter(1), letter(2)]), (e: unknown) => e instanceof RetriableError && /OOM/.test(e.message));
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
    await sink.write([letter(1), letter(2)]);
    assert.equal(await redis.xlen('deadletter:s'), 2);
  });

  test('a key of the wrong type still rejects retriably (a dead letter is never dropped)', async () => {
    await redis.set('deadletter:w', 'x');
    const sink = new RedisDeadLetterSink(redis, { streamName: 'w' });
    await assert.rejects(sink.write([letter(1)]), (e: unknown) => e instanceof RetriableError && /WRONGTYPE/.test(e.message));
  });

  test('Redis down: rejects with RetriableError within the bound', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 's' });
    await server.down();
    try {
      const t0 = Date.now();
      await assert.rejects(sink.write([letter(1)]), (e: unknown) => e instanceof RetriableError);
      assert.ok(Date.now() - t0 < 2600);
    } finally {
      await server.up();
    }
  });
});
