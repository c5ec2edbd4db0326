/**
 * The Lambda handler and its deadline: a call that does not return (Redis frozen with SIGSTOP:
 * the connection stays open, nothing answers, the command's own timeout is 5 s) must not let
 * the invocation run into the function timeout. With a context whose remaining time is small,
 * the handler answers before it, reporting the batch from its first record.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { createKinesisHandler } from '../../src/lambda/handler.js';
import { createLambdaLogger } from '../../src/lambda/logger.js';
import { createLocalContext } from '../../src/lambda/localContext.js';
import { toAvro, appOpenDecoder, type AppOpen } from '../../src/app-opens/model/index.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { recordLastOpen } from '../../src/app-opens/tasks/recordLastOpen.js';
import { Writable } from 'node:stream';
import { lambdaEvent } from '../helpers/lambdaEvent.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

const now = Math.floor(Date.now() / 1000);
const open = (userId: number): AppOpen => ({ userId: BigInt(userId), platform: 'ios', timestamp: now, appVersion: '4.2.0', deviceId: null });

let server: RedisServer;
let redis: RedisClient;

before(async () => {
  server = await startRedis();
  redis = createRedisClient(server.url); // the default command timeout: 5 s
  await redis.ping();
});
after(async () => {
  server.resume();
  await closeRedisClient(redis);
  await stopAllRedis();
});

test('a call that hangs past the deadline: answered before the function timeout (1.5 s left), the batch reported from its first record, a StuckBatches metric', async () => {
  // Prepare
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const metrics: string[] = [];
  const handler = createKinesisHandler<AppOpen>({
    decoder: appOpenDecoder,
    logger: createLambdaLogger({ destination }),
    singleProcessor: (value) => recordLastOpen(redis, value),
    metrics: { streamName: 'app-opens', functionName: 'lastopens', write: (l) => metrics.push(l) },
  });
  const event = lambdaEvent([toAvro(open(1)), toAvro(open(2))]);
  server.pause();
  // Act
  const t0 = Date.now();
  const response = await handler(event, createLocalContext({ timeoutMs: 1_500 }));
  const elapsed = Date.now() - t0;
  server.resume();
  // Assess
  assert.ok(elapsed < 1_500, `answered after ${elapsed} ms: within the invocation's 1,500 ms`);
  assert.ok(elapsed >= 1_000, `answered after ${elapsed} ms: not before the deadline margin`);
  assert.deepEqual(response, { batchItemFailures: [{ itemIdentifier: event.Records[0]!.kinesis.sequenceNumber }] });
  const line = lines.find((l) => String(l.msg).startsWith('invocation deadline'));
  assert.ok(line, JSON.stringify(lines));
  assert.equal(line.level, 'error');
  assert.equal(line.itemIdentifier, event.Records[0]!.kinesis.sequenceNumber);
  const doc = JSON.parse(metrics[0] ?? '{}') as Record<string, unknown>;
  assert.equal(doc.StuckBatches, 1, metrics[0]);
  assert.ok((doc.StuckBatchInHandMaxMs as number) >= 1_000);
  // The late command lands once Redis is back (idempotent: Lambda's retry applies it again).
  const admin = new Redis(server.url);
  try {
    assert.equal(await admin.ping(), 'PONG');
  } finally {
    admin.disconnect();
  }
});
