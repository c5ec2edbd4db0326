import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { RetriableError } from '../../src/core/errors.js';
import type { DeadLetter, Logger } from '../../src/core/types.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { estimateEntryBytes } from '../../src/redis/deadLetterBudget.js';
import {
  DEAD_LETTER_FIELDS,
  RedisDeadLetterSink,
  deadLetterBytesKey,
  deleteDeadLetters,
  minDeadLetterMaxBytes,
} from '../../src/redis/deadLetterSink.js';
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

  test('capped at maxLen entries: the oldest go, the newest are kept, the drops are reported', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 's', maxLen: 100 });
    let dropped = 0;
    for (let b = 0; b < 10; b++) dropped += (await sink.write(Array.from({ length: 100 }, (_, i) => letter(b * 100 + i)))).dropped;
    const len = await redis.xlen('deadletter:s');
    assert.equal(len, 100);
    assert.equal(dropped, 900);
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

  test('a letter at the cap is stored as received; one byte more keeps the first maxDataBytes bytes, the full size and its SHA-256', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 'cap', maxDataBytes: 1024 });
    const atCap = randomBytes(1024);
    const over = randomBytes(1025);
    const huge = randomBytes(3 * 1024 * 1024);
    await sink.write([letter(1, atCap.toString('base64')), letter(2, over.toString('base64')), letter(3, huge.toString('base64'))]);
    const raw = await redis.xrange('deadletter:cap', '-', '+');
    assert.deepEqual(
      raw[0]![1],
      ['sequenceNumber', letter(1).record.sequenceNumber, 'subSequenceNumber', '1', 'shardId', 'shardId-000000000001', 'partitionKey', 'pk-1', 'reason', 'DecodeError: record 1 is garbage', 'data', atCap.toString('base64')],
      'byte-for-byte the entry the sink always wrote',
    );
    for (const [i, bytes] of [[1, over], [2, huge]] as const) {
      const l = letter(i + 1);
      assert.deepEqual(raw[i]![1], [
        'sequenceNumber', l.record.sequenceNumber, 'subSequenceNumber', String(l.record.subSequenceNumber), 'shardId', l.shardId, 'partitionKey', l.record.partitionKey, 'reason', l.reason,
        'data', bytes.subarray(0, 1024).toString('base64'),
        'truncated', '1', 'dataBytes', String(bytes.length), 'dataSha256', createHash('sha256').update(bytes).digest('hex'),
      ]);
    }
  });

  test('maxDataBytes 0 keeps no data of a non-empty record, and an empty record as it is', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 'zero', maxDataBytes: 0, maxBytes: minDeadLetterMaxBytes(0) });
    await sink.write([letter(1, ''), letter(2, 'AA==')]);
    const e = await entries(redis, 'deadletter:zero');
    assert.deepEqual([e[0]!.data, e[0]!.truncated], ['', undefined]);
    assert.deepEqual([e[1]!.data, e[1]!.truncated, e[1]!.dataBytes], ['', '1', '1']);
  });

  test('the byte budget: the oldest letters go first, the stream stays under it in Redis memory, drops are reported', async () => {
    const maxBytes = 1024 * 1024;
    const sink = new RedisDeadLetterSink(redis, { streamName: 'b', maxDataBytes: 16 * 1024, maxBytes });
    let dropped = 0;
    const total = 400;
    for (let i = 0; i < total; i += 10) {
      // 100 KB records, cut to 16 KiB: each entry counts about 29 KB.
      const r = await sink.write(Array.from({ length: 10 }, (_, k) => letter(i + k, randomBytes(100_000).toString('base64'))));
      dropped += r.dropped;
    }
    const len = await redis.xlen('deadletter:b');
    assert.equal(len + dropped, total, 'every letter written is either in the stream or counted as dropped');
    assert.ok(dropped > 300, `dropped ${dropped}`);
    const kept = await entries(redis, 'deadletter:b');
    assert.equal(kept.at(-1)!.partitionKey, `pk-${total - 1}`, 'the newest is kept');
    assert.equal(kept[0]!.partitionKey, `pk-${total - len}`, 'exactly the oldest were dropped');
    const memory = Number(await redis.memory('USAGE', 'deadletter:b', 'SAMPLES', '0'));
    assert.ok(memory <= maxBytes, `MEMORY USAGE ${memory} > ${maxBytes}`);
    assert.ok(memory > maxBytes * 0.5, `MEMORY USAGE ${memory}: the budget is used, not wasted`);
    assert.equal(Number(await redis.get(deadLetterBytesKey('b'))), await sumOfEstimates(redis, 'deadletter:b'));
  });

  test('several writers at once, and new sinks (a restart): the estimate stays the sum over the entries, the budget holds', async () => {
    const maxBytes = 2 * 1024 * 1024;
    const clients = Array.from({ length: 4 }, () => createRedisClient(server.url));
    try {
      const results = await Promise.all(
        clients.map(async (c, w) => {
          let dropped = 0;
          for (let round = 0; round < 2; round++) {
            // A new sink per round: nothing is kept in the process between rounds.
            const sink = new RedisDeadLetterSink(c, { streamName: 'many', maxDataBytes: 8 * 1024, maxBytes });
            for (let b = 0; b < 15; b++) {
              const r = await sink.write(Array.from({ length: 10 }, (_, k) => letter(w * 1000 + round * 100 + b * 10 + k, randomBytes(4096 + ((b * 7919 + k) % 20_000)).toString('base64'))));
              dropped += r.dropped;
            }
          }
          return dropped;
        }),
      );
      const len = await redis.xlen('deadletter:many');
      const dropped = results.reduce((a, b) => a + b, 0);
      assert.equal(len + dropped, 4 * 2 * 15 * 10);
      assert.ok(dropped > 0);
      const estimate = Number(await redis.get(deadLetterBytesKey('many')));
      assert.equal(estimate, await sumOfEstimates(redis, 'deadletter:many'));
      assert.ok(estimate <= maxBytes);
      assert.ok(Number(await redis.memory('USAGE', 'deadletter:many', 'SAMPLES', '0')) <= maxBytes);
    } finally {
      await Promise.all(clients.map((c) => closeRedisClient(c)));
    }
  });

  test('the estimate starts afresh: from zero when the stream was deleted, from MEMORY USAGE when the side key was', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 'r', maxDataBytes: 1024, maxBytes: 64 * 1024 });
    await sink.write(Array.from({ length: 20 }, (_, i) => letter(i, randomBytes(2000).toString('base64'))));
    await redis.del('deadletter:r');
    await sink.write([letter(100)]);
    assert.equal(Number(await redis.get(deadLetterBytesKey('r'))), await sumOfEstimates(redis, 'deadletter:r'));
    // A stream written before the budget existed (plain XADD, 1 MB entries), no side key.
    await redis.del('deadletter:r', deadLetterBytesKey('r'));
    for (let i = 0; i < 5; i++) await redis.xadd('deadletter:r', '*', 'sequenceNumber', String(i), 'data', randomBytes(1024 * 1024).toString('base64'));
    const r = await sink.write([letter(200)]);
    assert.equal(r.dropped, 5, 'the old entries are measured (MEMORY USAGE) and dropped to fit the budget');
    assert.equal(await redis.xlen('deadletter:r'), 1);
    assert.equal(Number(await redis.get(deadLetterBytesKey('r'))), await sumOfEstimates(redis, 'deadletter:r'));
  });

  test('without the MEMORY permission (an ACL), a stream with no estimate yet is measured from a sample of its entries', async () => {
    await redis.call('ACL', 'SETUSER', 'nomemory', 'on', '>pw', '~*', '&*', '+@all', '-memory');
    const limited = createRedisClient(`redis://nomemory:pw@127.0.0.1:${server.port}`);
    try {
      for (let i = 0; i < 30; i++) await redis.xadd('deadletter:acl', '*', 'sequenceNumber', String(i), 'data', randomBytes(30_000).toString('base64'));
      const sink = new RedisDeadLetterSink(limited, { streamName: 'acl', maxDataBytes: 1024, maxBytes: 512 * 1024 });
      const r = await sink.write([letter(1)]);
      // 30 entries of about 52 KB: about 20 must go to fit 512 KiB.
      assert.ok(r.dropped >= 19 && r.dropped <= 21, `dropped ${r.dropped}`);
      assert.ok(Number(await redis.get(deadLetterBytesKey('acl'))) <= 512 * 1024);
    } finally {
      await closeRedisClient(limited);
      await redis.call('ACL', 'DELUSER', 'nomemory');
    }
  });

  test('deleteDeadLetters takes the entries off the estimate', async () => {
    const sink = new RedisDeadLetterSink(redis, { streamName: 'd' });
    await sink.write(Array.from({ length: 6 }, (_, i) => letter(i)));
    const ids = (await redis.xrange('deadletter:d', '-', '+')).map(([id]) => id);
    assert.equal(await deleteDeadLetters(redis, 'd', [ids[1]!, ids[3]!, '1-1']), 2);
    assert.equal(await redis.xlen('deadletter:d'), 4);
    assert.equal(Number(await redis.get(deadLetterBytesKey('d'))), await sumOfEstimates(redis, 'deadletter:d'));
    assert.equal(await deleteDeadLetters(redis, 'd', ids), 4);
    assert.equal(await redis.get(deadLetterBytesKey('d')), '0');
  });

  test('drops are logged at most once per interval, with their sum', async () => {
    const lines: Array<{ obj: Record<string, unknown>; msg: string | undefined }> = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      error: () => undefined,
      warn: (obj, msg) => void lines.push({ obj: obj as Record<string, unknown>, msg }),
      child: () => logger,
    };
    const sink = new RedisDeadLetterSink(redis, { streamName: 'log', maxLen: 5, logger, logIntervalMs: 300 });
    await sink.write(Array.from({ length: 7 }, (_, i) => letter(i))); // 2 dropped: told at once
    assert.equal(lines.length, 1);
    let dropped = 0;
    for (let i = 0; i < 20; i++) dropped += (await sink.write([letter(100 + i)])).dropped;
    assert.equal(dropped, 20);
    assert.equal(lines.length, 1, 'nothing more within the interval');
    const deadline = Date.now() + 5000;
    while (lines.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      lines.map((l) => [l.obj.dropped, l.obj.deadLetterStream, l.obj.maxLen]),
      [
        [2, 'deadletter:log', 5],
        [20, 'deadletter:log', 5],
      ],
    );
    assert.match(lines[0]!.msg!, /dead letters dropped/);
  });

  test('maxBytes below twice the largest entry is refused, naming the option', () => {
    assert.throws(() => new RedisDeadLetterSink(redis, { streamName: 's', maxBytes: minDeadLetterMaxBytes(65_536) - 1 }), /`maxBytes`/);
    assert.throws(() => new RedisDeadLetterSink(redis, { streamName: 's', maxDataBytes: -1 }), /`maxDataBytes`/);
    assert.doesNotThrow(() => new RedisDeadLetterSink(redis, { streamName: 's', maxBytes: minDeadLetterMaxBytes(65_536) }));
  });
});

/** The sum of the scripts' estimates over the entries a stream holds. */
async function sumOfEstimates(redis: RedisClient, key: string): Promise<number> {
  let sum = 0;
  for (const [, fields] of await redis.xrange(key, '-', '+')) sum += estimateEntryBytes(fields);
  return sum;
}
