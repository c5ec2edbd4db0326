import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { DeadLetter } from '../../src/core/types.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { RedisDeadLetterSink } from '../../src/redis/deadLetterSink.js';
import { readDeadLetters, replayToKinesis } from '../../scripts/replay-dead-letters.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

const kinesalite = createRequire(import.meta.url)('kinesalite') as (opts: { createStreamMs: number }) => Server;

function letter(i: number): DeadLetter {
  return {
    shardId: 'shardId-000000000000',
    reason: `DecodeError: bad ${i}`,
    record: {
      data: Buffer.from([0xc3, 0x01, i, 0xff]).toString('base64'),
      partitionKey: `user-${i}`,
      sequenceNumber: String(1000 + i),
      subSequenceNumber: 0,
      approximateArrivalTimestamp: null,
    },
  };
}

let server: RedisServer;
let redis: RedisClient;
let kinesisServer: Server;
let kinesis: KinesisClient;

before(async () => {
  server = await startRedis({ password: 'replay-secret' });
  redis = createRedisClient(server.url);
  kinesisServer = kinesalite({ createStreamMs: 0 });
  await new Promise<void>((resolve) => kinesisServer.listen(0, '127.0.0.1', resolve));
  const { port } = kinesisServer.address() as AddressInfo;
  kinesis = new KinesisClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler(),
  });
});
after(async () => {
  kinesis.destroy();
  await new Promise((resolve) => kinesisServer.close(resolve));
  await closeRedisClient(redis);
  await stopAllRedis();
});

test('the CLI prints every entry as a JSON line, and never the password', async () => {
  await redis.del('deadletter:cli');
  await new RedisDeadLetterSink(redis, { streamName: 'cli' }).write([letter(1), letter(2), letter(3)]);
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/replay-dead-letters.ts', '--redis', server.url, '--stream', 'cli'],
    { timeout: 30_000 },
  );
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map(({ id: _id, ...rest }) => rest),
    [1, 2, 3].map((i) => ({
      sequenceNumber: String(1000 + i),
      subSequenceNumber: 0,
      shardId: 'shardId-000000000000',
      partitionKey: `user-${i}`,
      reason: `DecodeError: bad ${i}`,
      data: Buffer.from([0xc3, 0x01, i, 0xff]).toString('base64'),
    })),
  );
  assert.match(stderr, /3 dead letters in deadletter:cli on redis:\/\/:\*\*\*@127\.0\.0\.1/);
  assert.ok(!stderr.includes('replay-secret') && !stdout.includes('replay-secret'));
});

test('readDeadLetters pages through the stream and honours from/limit', async () => {
  await redis.del('deadletter:pages');
  await new RedisDeadLetterSink(redis, { streamName: 'pages' }).write(Array.from({ length: 25 }, (_, i) => letter(i)));
  const pages: number[] = [];
  const seen: string[] = [];
  for await (const page of readDeadLetters(redis, 'pages', { pageSize: 10 })) {
    pages.push(page.length);
    seen.push(...page.map((e) => e.partitionKey));
  }
  assert.deepEqual(pages, [10, 10, 5]);
  assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `user-${i}`));
  const limited: string[] = [];
  for await (const page of readDeadLetters(redis, 'pages', { pageSize: 4, limit: 6 })) limited.push(...page.map((e) => e.partitionKey));
  assert.equal(limited.length, 6);
});

test('replayToKinesis puts the exact bytes and partition keys back on Kinesis, then deletes the entries', async () => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'replayed', ShardCount: 1 }));
  const desc = await kinesis.send(new DescribeStreamCommand({ StreamName: 'replayed' }));
  const shardId = desc.StreamDescription?.Shards?.[0]?.ShardId as string;
  await redis.del('deadletter:app-opens');
  const letters = Array.from({ length: 620 }, (_, i) => letter(i % 256));
  await new RedisDeadLetterSink(redis, { streamName: 'app-opens' }).write(letters);

  const totals = await replayToKinesis(redis, 'app-opens', { targetStream: 'replayed', kinesis, delete: true });
  assert.deepEqual(totals, { read: 620, put: 620, deleted: 620, recovered: 0, unrecovered: [] });
  assert.equal(await redis.xlen('deadletter:app-opens'), 0);

  const it = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'replayed', ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
  const got = await kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator, Limit: 10_000 }));
  const records = got.Records ?? [];
  assert.equal(records.length, 620);
  records.forEach((r, i) => {
    const l = letters[i] as DeadLetter;
    assert.equal(Buffer.from(r.Data as Uint8Array).toString('base64'), l.record.data);
    assert.equal(r.PartitionKey, l.record.partitionKey);
  });
});
