/**
 * createKinesisHandler against a real private Redis, on events shaped exactly like Lambda's:
 * retriable failures in the middle of a batch (Redis refusing writes with OOM), a dead-letter
 * sink that is down, poison records, KPL aggregates, and the invocation's time running out.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { KinesisStreamEvent, KinesisStreamHandler } from 'aws-lambda';
import { createKinesisHandler } from '../../src/lambda/handler.js';
import { createLambdaLogger } from '../../src/lambda/logger.js';
import { createLocalContext } from '../../src/lambda/localContext.js';
import { toAvro, appOpenDecoder, type AppOpen } from '../../src/app-opens/model/index.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { RedisDeadLetterSink } from '../../src/redis/deadLetterSink.js';
import { recordLastOpen } from '../../src/app-opens/tasks/recordLastOpen.js';
import { kplAggregate } from '../helpers/kplAggregate.js';
import { lambdaEvent, retryFrom } from '../helpers/lambdaEvent.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/fixtureWorker.js';
import { parseStrictJsonLines } from '../helpers/strictJson.js';

const now = Math.floor(Date.now() / 1000);
const open = (userId: number, platform: string, timestamp: number): AppOpen => ({ userId: BigInt(userId), platform, timestamp, appVersion: '4.2.0', deviceId: null });
const seqOf = (event: KinesisStreamEvent, i: number): string => event.Records[i]!.kinesis.sequenceNumber;

/** A logger whose lines the test can read (and that keeps the test's stdout clean). */
function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLambdaLogger({ level: 'debug', destination }), lines };
}

let server: RedisServer;
let admin: Redis;
let redis: RedisClient;

before(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
  redis = createRedisClient(server.url, { commandTimeoutMs: 1_000 });
});
after(async () => {
  admin.disconnect();
  await closeRedisClient(redis);
  await stopAllRedis();
});
afterEach(async () => {
  await admin.config('SET', 'maxmemory', '0');
  await admin.flushall();
});

const refuseWrites = async (): Promise<void> => {
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
  await admin.config('SET', 'maxmemory', '1');
};

describe('createKinesisHandler with a per-record processor', () => {
  test('Redis refusing writes mid-batch: reports the Kinesis record holding the first unapplied record; earlier applied, later not; the retry completes', async () => {
    // Prepare: u1, an aggregate {u2, u3}, u4, a poison record, u5. Redis starts refusing writes
    // (a real OOM) right after u2 is applied.
    // One partition key: its records are handled one after another, in sequence order.
    const event = lambdaEvent(
      [
        toAvro(open(1, 'ios', now - 10)),
        kplAggregate([
          { partitionKey: 'device-1', data: toAvro(open(2, 'ios', now - 9)) },
          { partitionKey: 'device-1', data: toAvro(open(3, 'ios', now - 8)) },
        ]),
        toAvro(open(4, 'ios', now - 7)),
        Buffer.from('poison'),
        toAvro(open(5, 'ios', now - 6)),
      ],
      { partitionKey: () => 'device-1' },
    );
    let faultAfterUser2 = true;
    const { logger, lines } = memoryLogger();
    const handler = createKinesisHandler<AppOpen>({
      decoder: appOpenDecoder,
      deadLetters: new RedisDeadLetterSink(redis, { streamName: 'app-opens' }),
      logger,
      retry: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 3 },
      singleProcessor: async (value) => {
        await recordLastOpen(redis, value);
        // The fault is real (Redis answers OOM); only its moment is chosen by the test.
        if (faultAfterUser2 && value.userId === 2n) await refuseWrites();
      },
    });
    // Act
    const first = await handler(event, createLocalContext());
    // Assess
    assert.deepEqual(first, { batchItemFailures: [{ itemIdentifier: seqOf(event, 1) }] }, 'the aggregate holding u3 is reported');
    await admin.config('SET', 'maxmemory', '0');
    assert.equal(await admin.hget('user:1:checkpoint', 'ios_app_open'), String(now - 10));
    assert.equal(await admin.hget('user:2:checkpoint', 'ios_app_open'), String(now - 9));
    for (const u of [3, 4, 5]) assert.equal(await admin.exists(`user:${u}:checkpoint`), 0, `user ${u} not applied`);
    assert.equal(await admin.exists('deadletter:app-opens'), 0, 'the poison record after the failure was not reached');
    const warn = lines.find((l) => l.msg === 'batch not fully handled: reporting the first unhandled record so Lambda retries from it')!;
    assert.equal(warn.subSequenceNumber, 1);
    assert.match(String(warn.err), /OOM/);

    // Act: Lambda retries from the reported record, Redis is back.
    faultAfterUser2 = false;
    const second = await handler(retryFrom(event, seqOf(event, 1)), createLocalContext());
    // Assess
    assert.deepEqual(second, { batchItemFailures: [] });
    for (const u of [2, 3, 4, 5]) assert.equal(await admin.hget(`user:${u}:checkpoint`, 'ios_app_open'), String(now - 11 + u));
    const letters = await admin.xrange('deadletter:app-opens', '-', '+');
    assert.deepEqual(letters.map(([, f]) => f[1]), [seqOf(event, 3)], 'the poison record dead-lettered once, not reported');
    assert.equal(handler.counters.deadLettered, 1);
  });

  test('a poison record is dead-lettered and not reported; a poison sub-record keeps its sub-sequence number and bytes', async () => {
    const badSub = Buffer.from('not avro inside an aggregate');
    const event = lambdaEvent([
      Buffer.from('garbage'),
      kplAggregate([
        { partitionKey: 'user-7', data: toAvro(open(7, 'web', now)) },
        { partitionKey: 'user-8', data: badSub },
      ]),
      toAvro(open(9, 'Bad Platform', now)),
    ]);
    const handler = createKinesisHandler<AppOpen>({
      decoder: appOpenDecoder,
      deadLetters: new RedisDeadLetterSink(redis, { streamName: 'app-opens' }),
      logger: memoryLogger().logger,
      singleProcessor: (value) => recordLastOpen(redis, value),
    });
    assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [] });
    assert.equal(await admin.hget('user:7:checkpoint', 'web_app_open'), String(now));
    const letters = (await admin.xrange('deadletter:app-opens', '-', '+')).map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]])) as Record<string, string>);
    assert.deepEqual(
      letters.map((l) => [l.sequenceNumber, l.subSequenceNumber, l.partitionKey, l.shardId]),
      [
        [seqOf(event, 0), '0', 'pk-0', 'shardId-000000000006'],
        [seqOf(event, 1), '1', 'user-8', 'shardId-000000000006'],
        [seqOf(event, 2), '0', 'pk-2', 'shardId-000000000006'],
      ],
    );
    assert.equal(letters[1]!.data, badSub.toString('base64'), 'the sub-record, not the aggregate');
    assert.match(letters[2]!.reason!, /platform/);
  });

  test('a dead-letter sink that is down is a retriable failure of the poison record: reported, and completed on retry', async () => {
    const dlServer = await startRedis();
    const dlClient = createRedisClient(dlServer.url, { commandTimeoutMs: 1_000 });
    try {
      await waitFor(() => dlClient.status === 'ready', 'dead-letter client ready');
      await dlServer.down();
      const event = lambdaEvent([toAvro(open(1, 'ios', now - 3)), Buffer.from('poison'), toAvro(open(2, 'ios', now - 2))]);
      const handler = createKinesisHandler<AppOpen>({
        decoder: appOpenDecoder,
        deadLetters: new RedisDeadLetterSink(dlClient, { streamName: 'app-opens' }),
        logger: memoryLogger().logger,
        retry: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 2 },
        singleProcessor: (value) => recordLastOpen(redis, value),
      });
      assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [{ itemIdentifier: seqOf(event, 1) }] });
      assert.equal(await admin.hget('user:1:checkpoint', 'ios_app_open'), String(now - 3));

      await dlServer.up();
      await waitFor(() => dlClient.status === 'ready', 'dead-letter client reconnected', 15_000);
      assert.deepEqual(await handler(retryFrom(event, seqOf(event, 1)), createLocalContext()), { batchItemFailures: [] });
      const letters = await dlClient.xrange('deadletter:app-opens', '-', '+');
      assert.deepEqual(letters.map(([, f]) => f[1]), [seqOf(event, 1)]);
      assert.equal(await admin.hget('user:2:checkpoint', 'ios_app_open'), String(now - 2));
    } finally {
      await closeRedisClient(dlClient);
      await dlServer.stop();
    }
  });

  test('retrying stops when the invocation is about to run out of time (unbounded attempts, 1.5 s left, 1 s reserve)', async () => {
    await refuseWrites();
    const event = lambdaEvent([toAvro(open(1, 'ios', now)), toAvro(open(2, 'ios', now))]);
    const handler = createKinesisHandler<AppOpen>({
      decoder: appOpenDecoder,
      logger: memoryLogger().logger,
      retry: { initialDelayMs: 50, maxDelayMs: 100, maxAttempts: Number.POSITIVE_INFINITY },
      reserveMs: 1_000,
      singleProcessor: (value) => recordLastOpen(redis, value),
    });
    const started = Date.now();
    const response = await handler(event, createLocalContext({ timeoutMs: 1_500 }));
    const elapsed = Date.now() - started;
    assert.deepEqual(response, { batchItemFailures: [{ itemIdentifier: seqOf(event, 0) }] });
    assert.ok(elapsed >= 400 && elapsed < 1_500, `returned after ${elapsed} ms, within the invocation's time`);
    assert.ok(handler.counters.failures >= 2, 'it did retry');
  });
});

describe('createKinesisHandler with a batch processor', () => {
  test('BatchResult.failed records are dead-lettered, not reported; a thrown retriable error reports the first record', async () => {
    const event = lambdaEvent([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
    const letters: string[] = [];
    let fail = false;
    const handler = createKinesisHandler<string>({
      decoder: (data) => data.toString('utf8'),
      deadLetters: { write: async (ls) => void letters.push(...ls.map((l) => `${l.record.sequenceNumber}:${l.reason}`)) },
      logger: memoryLogger().logger,
      retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 },
      batchProcessor: (records) => {
        if (fail) throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
        return { failed: [{ index: records.findIndex((r) => r.value === 'b'), error: new Error('no b allowed') }] };
      },
    });
    assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [] });
    assert.deepEqual(letters, [`${seqOf(event, 1)}:no b allowed`]);
    fail = true;
    assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [{ itemIdentifier: seqOf(event, 0) }] });
    assert.equal(letters.length, 1);
  });

  test('no sink given: each dead letter is one error line in the log, with the record\'s data', async () => {
    const event = lambdaEvent([Buffer.from('a'), Buffer.from('poison'), Buffer.from('c')]);
    const { logger, lines } = memoryLogger();
    const handler = createKinesisHandler<string>({
      decoder: (data) => {
        if (data.toString('utf8') === 'poison') throw new Error('not a letter');
        return data.toString('utf8');
      },
      logger,
      singleProcessor: () => undefined,
    });
    assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [] });
    const seq = seqOf(event, 1);
    const about = lines.filter((l) => l.sequenceNumber === seq || (l.deadLetter as { sequenceNumber?: string } | undefined)?.sequenceNumber === seq);
    assert.equal(about.length, 1, `one line for the dead letter, got ${JSON.stringify(about)}`);
    assert.equal(about[0]!.msg, 'dead letter');
    assert.equal((about[0]!.deadLetter as { data: string }).data, Buffer.from('poison').toString('base64'));
    assert.equal(handler.counters.deadLettered, 1);
    assert.equal(handler.counters.processed, 2);
  });

  test('a processor that logs a key the handler bound (shardId) through its context logger: every line reads under a strict parser', async () => {
    const raw: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        raw.push(chunk.toString('utf8'));
        cb();
      },
    });
    const event = lambdaEvent([Buffer.from('a')]);
    const handler = createKinesisHandler<string>({
      decoder: (data) => data.toString('utf8'),
      logger: createLambdaLogger({ level: 'debug', destination }),
      singleProcessor: (value, { logger, shardId }) => logger.info({ shardId, value }, 'user line'),
    });
    assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [] });
    const lines = parseStrictJsonLines(raw.join(''), 'the Lambda log');
    const user = lines.find((l) => l.msg === 'user line')!;
    assert.equal(user.value, 'a');
    assert.equal(user.shardId, event.Records[0]!.eventID.split(':')[0]);
  });

  test('an empty event and an event of another source', async () => {
    const handler = createKinesisHandler<string>({ decoder: String, batchProcessor: () => undefined, logger: memoryLogger().logger });
    assert.deepEqual(await handler({ Records: [] }, createLocalContext()), { batchItemFailures: [] });
    await assert.rejects(handler({ Records: [{ eventSource: 'aws:sqs' }] } as never, createLocalContext()), /not a Kinesis event/);
  });
});

describe('createKinesisHandler options', () => {
  test('the handler fits aws-lambda\'s KinesisStreamHandler type and has its counters', () => {
    const handler = createKinesisHandler<string>({ decoder: String, singleProcessor: () => undefined, logger: memoryLogger().logger });
    const typed: KinesisStreamHandler = handler; // a compile-time check, really
    assert.equal(typeof typed, 'function');
    assert.deepEqual(handler.counters, { records: 0, processed: 0, deadLettered: 0, failures: 0 });
  });

  for (const [name, options, message] of [
    ['no processor', { decoder: String }, /exactly one of `singleProcessor` and `batchProcessor`/],
    ['singleProcessor and batchProcessor', { decoder: String, singleProcessor: () => 0, batchProcessor: () => undefined }, /exactly one of/],
    ['singleProcessor not a function', { decoder: String, singleProcessor: 3 }, /`singleProcessor` to be a function/],
    ['no decoder', { singleProcessor: () => 0 }, /`decoder`/],
    ['chunkSize with a record processor', { decoder: String, singleProcessor: () => 0, chunkSize: 2 }, /`chunkSize` only with `batchProcessor`/],
    ['negative reserveMs', { decoder: String, singleProcessor: () => 0, reserveMs: -1 }, /`reserveMs`/],
    ['bad retry', { decoder: String, singleProcessor: () => 0, retry: { maxAttempts: 0 } }, /`retry.maxAttempts`/],
  ] as const) {
    test(`${name}: refused at construction, naming the option`, () => {
      assert.throws(() => createKinesisHandler(options as never), (err: Error) => err instanceof TypeError && message.test(err.message));
    });
  }
});
