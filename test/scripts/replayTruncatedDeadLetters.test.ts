/**
 * Replay of dead letters whose data the sink cut (issue 28): the full record is read again from
 * the source stream on kinesis-local (the stand-in the daemon runs against), checked against the
 * letter's SHA-256, and put back; letters that cannot be recovered are named and kept. The letters
 * are written as in production: by bin/lastopens (a real child process under the test daemon) and
 * by the lastopens Lambda handler, from records read back from kinesis-local.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, beforeEach, describe, test } from 'node:test';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { Redis } from 'ioredis';
import { toAvro, type AppOpen } from '../../src/app-opens/model/index.js';
import { closeLastOpens, handler } from '../../src/app-opens/lambda/lastopens.js';
import type { KinesisRecord } from '../../src/core/types.js';
import { createLocalContext } from '../../src/lambda/localContext.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { createStream, localKinesisClient, putAll } from '../../scripts/kinesis.js';
import { replayToKinesis } from '../../scripts/replay-dead-letters.js';
import { startStack, type Stack } from '../../scripts/stack.js';
import { kplAggregate } from '../helpers/kplAggregate.js';
import { spawnLastopens, streamEntries } from '../helpers/lastopens.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

const SOURCE = 'app-opens';
const now = Math.floor(Date.now() / 1000);
const open = (userId: number): AppOpen => ({ userId: BigInt(userId), platform: 'ios', timestamp: now, appVersion: null, deviceId: null });
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Garbage that never decodes as an AppOpen. */
function garbage(bytes: number): Buffer {
  const b = randomBytes(bytes);
  b[0] = 0;
  return b;
}

let server: RedisServer;
let admin: Redis;
let redis: RedisClient;
let stack: Stack;
let kinesis: KinesisClient;
let dir: string;
let shardId: string;
let targets = 0;
const savedEnv = { ...process.env };

/** Every record of a one-shard stream, as the daemon hands them over. */
async function readStream(stream: string, shard: string): Promise<KinesisRecord[]> {
  const it = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard, ShardIteratorType: 'TRIM_HORIZON' }));
  const out: KinesisRecord[] = [];
  let iterator = it.ShardIterator;
  for (let i = 0; iterator !== undefined && i < 20; i++) {
    const got = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    for (const r of got.Records ?? []) {
      out.push({ data: Buffer.from(r.Data!).toString('base64'), partitionKey: r.PartitionKey!, sequenceNumber: r.SequenceNumber!, subSequenceNumber: 0, approximateArrivalTimestamp: null });
    }
    if ((got.Records ?? []).length === 0) break;
    iterator = got.NextShardIterator;
  }
  return out;
}

/** A fresh one-shard target stream to replay into. */
async function newTarget(): Promise<{ name: string; shard: string }> {
  const name = `replayed-${++targets}`;
  const [shard] = await createStream(kinesis, name, 1);
  return { name, shard: shard! };
}

before(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
  redis = createRedisClient(server.url);
  dir = mkdtempSync(join(tmpdir(), 'replay-truncated-'));
  stack = await startStack({ dir: join(dir, 'stack'), redisUrl: server.url });
  kinesis = localKinesisClient(stack.kinesisEndpoint);
  [shardId] = (await createStream(kinesis, SOURCE, 1)) as [string];
});
after(async () => {
  await closeLastOpens();
  process.env = savedEnv;
  kinesis?.destroy();
  await stack?.stop();
  await closeRedisClient(redis);
  admin.disconnect();
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await admin.flushall();
});

describe('replaying truncated dead letters from kinesis-local', () => {
  test('bin/lastopens cut a 300 KB record to 64 KiB: the replay reads it again by sequence number, the hash matches, the exact bytes go back', async () => {
    // Prepare: a big and a small poison record and a valid one on the source stream; the worker
    // gets them as the daemon would (read back from kinesis-local).
    const big = garbage(300_000);
    const small = Buffer.from('not an app open');
    await putAll(kinesis, SOURCE, [
      { Data: big, PartitionKey: 'big' },
      { Data: toAvro(open(1)), PartitionKey: '1' },
      { Data: small, PartitionKey: 'small' },
    ]);
    const records = (await readStream(SOURCE, shardId)).slice(-3);
    const w = spawnLastopens(server.url, { STREAM_NAME: SOURCE });
    try {
      await w.daemon.initialize(shardId);
      const { checkpoints } = await w.daemon.processRecords(records);
      assert.deepEqual(checkpoints.map((c) => c.sequenceNumber), [records[2]!.sequenceNumber]);
    } finally {
      await w.daemon.stop();
    }
    const letters = await streamEntries(admin, `deadletter:${SOURCE}`);
    assert.deepEqual(letters.map((l) => [l.partitionKey, l.truncated, l.dataBytes, l.dataSha256]), [
      ['big', '1', '300000', sha256(big)],
      ['small', undefined, undefined, undefined],
    ]);
    assert.equal(Buffer.from(letters[0]!.data!, 'base64').length, 64 * 1024);
    const target = await newTarget();
    // Act
    const totals = await replayToKinesis(redis, SOURCE, { targetStream: target.name, kinesis, delete: true });
    // Assess
    assert.deepEqual(totals, { read: 2, put: 2, deleted: 2, recovered: 1, unrecovered: [] });
    const replayed = await readStream(target.name, target.shard);
    assert.deepEqual(
      replayed.map((r) => [r.partitionKey, sha256(Buffer.from(r.data, 'base64'))]),
      [
        ['big', sha256(big)],
        ['small', sha256(small)],
      ],
    );
    assert.equal(await admin.xlen(`deadletter:${SOURCE}`), 0);
  });

  test('the Lambda sink cut a poison user record of a KPL aggregate: recovered by sequence and subsequence number, hash matched', async () => {
    // Prepare: one aggregate holding a valid AppOpen and a 200 KB poison user record.
    const poison = garbage(200_000);
    await putAll(kinesis, SOURCE, [{ Data: kplAggregate([{ partitionKey: '7', data: toAvro(open(7)) }, { partitionKey: 'poison', data: poison }]), PartitionKey: '7' }]);
    const [stored] = (await readStream(SOURCE, shardId)).slice(-1);
    const event: KinesisStreamEvent = {
      Records: [
        {
          kinesis: { kinesisSchemaVersion: '1.0', partitionKey: stored!.partitionKey, sequenceNumber: stored!.sequenceNumber, data: stored!.data, approximateArrivalTimestamp: now },
          eventSource: 'aws:kinesis',
          eventVersion: '1.0',
          eventID: `${shardId}:${stored!.sequenceNumber}`,
          eventName: 'aws:kinesis:record',
          invokeIdentityArn: 'arn:aws:iam::123456789012:role/lastopens',
          awsRegion: 'us-east-1',
          eventSourceARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${SOURCE}`,
        },
      ],
    };
    Object.assign(process.env, { RESULTS_REDIS_URL: server.url, STREAM_NAME: SOURCE, LOG_LEVEL: 'silent', METRICS: '0', DEADLETTER_MAX_DATA_BYTES: '4096' });
    await closeLastOpens();
    assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [] });
    assert.equal(await admin.hget('user:7:checkpoint', 'ios_app_open'), String(now));
    const [letter, ...rest] = await streamEntries(admin, `deadletter:${SOURCE}`);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      [letter!.sequenceNumber, letter!.subSequenceNumber, letter!.partitionKey, letter!.truncated, letter!.dataBytes, letter!.dataSha256, Buffer.from(letter!.data!, 'base64').length],
      [stored!.sequenceNumber, '1', 'poison', '1', '200000', sha256(poison), 4096],
    );
    const target = await newTarget();
    // Act
    const totals = await replayToKinesis(redis, SOURCE, { targetStream: target.name, kinesis });
    // Assess: the user record, not the aggregate, goes back, under its own partition key.
    assert.deepEqual(totals, { read: 1, put: 1, deleted: 0, recovered: 1, unrecovered: [] });
    const [replayed] = await readStream(target.name, target.shard);
    assert.deepEqual([replayed!.partitionKey, sha256(Buffer.from(replayed!.data, 'base64'))], ['poison', sha256(poison)]);
  });

  test('letters that cannot be recovered are named, one line each, kept, and the CLI exits 3; the others are replayed', async () => {
    // Prepare: a good truncated letter, and three that cannot be recovered.
    const big = garbage(100_000);
    const [placed] = await putAll(kinesis, SOURCE, [{ Data: big, PartitionKey: 'big' }]);
    const base = ['subSequenceNumber', '0', 'partitionKey', 'big', 'reason', 'DecodeError: x', 'data', big.subarray(0, 16).toString('base64'), 'truncated', '1'];
    const key = `deadletter:${SOURCE}`;
    const addLetter = async (...fields: string[]): Promise<string> => (await admin.xadd(key, '*', ...fields))!;
    const good = await addLetter('sequenceNumber', placed!.sequenceNumber, 'shardId', shardId, ...base, 'dataBytes', '100000', 'dataSha256', sha256(big));
    const tampered = await addLetter('sequenceNumber', placed!.sequenceNumber, 'shardId', shardId, ...base, 'dataBytes', '100000', 'dataSha256', sha256(Buffer.from('else')));
    const noShard = await addLetter('sequenceNumber', placed!.sequenceNumber, 'shardId', 'shardId-000000000042', ...base, 'dataBytes', '100000', 'dataSha256', sha256(big));
    // A sequence number of that shard the stream does not hold (below its first record: trimmed).
    const trimmed = await addLetter('sequenceNumber', (BigInt(placed!.sequenceNumber) - 10n ** 30n).toString(), 'shardId', shardId, ...base, 'dataBytes', '100000', 'dataSha256', sha256(big));
    const target = await newTarget();
    // Act
    const result = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/replay-dead-letters.ts', '--redis', server.url, '--stream', SOURCE, '--to-kinesis', target.name, '--endpoint', stack.kinesisEndpoint, '--region', 'us-east-1', '--delete'],
      { timeout: 60_000, env: { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } },
    ).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    // Assess
    assert.equal(result.code, 3, result.stderr);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('not recovered: '));
    assert.equal(lines.length, 3, result.stderr);
    assert.match(lines.find((l) => l.includes(tampered))!, /hash mismatch/);
    assert.match(lines.find((l) => l.includes(noShard))!, /app-opens has no shard shardId-000000000042/);
    assert.match(lines.find((l) => l.includes(trimmed))!, /trimmed from the stream: shardId-000000000000 of app-opens no longer holds sequence number/);
    assert.match(result.stderr, /3 dead letters could not be recovered \(listed above\); they are kept in deadletter:app-opens/);
    const left = (await admin.xrange(key, '-', '+')).map(([id]) => id);
    assert.deepEqual(left, [tampered, noShard, trimmed], 'the recovered letter was deleted, the others kept');
    const replayed = await readStream(target.name, target.shard);
    assert.deepEqual(replayed.map((r) => sha256(Buffer.from(r.data, 'base64'))), [sha256(big)]);
    assert.ok(good);
  });
  test('letters whose fields were tampered with: a malformed sequence number or an empty shard id is named as not recovered (the replay goes on); a cut letter that lost its `truncated` field is still recovered whole, never replayed as its prefix', async () => {
    // Prepare
    const big = garbage(100_000);
    const [placed] = await putAll(kinesis, SOURCE, [{ Data: big, PartitionKey: 'big' }]);
    const key = `deadletter:${SOURCE}`;
    const prefix = big.subarray(0, 16).toString('base64');
    const common = ['subSequenceNumber', '0', 'partitionKey', 'big', 'reason', 'DecodeError: x', 'data', prefix];
    const addLetter = async (...fields: string[]): Promise<string> => (await admin.xadd(key, '*', ...fields))!;
    const badSeq = await addLetter('sequenceNumber', 'not-a-number', 'shardId', shardId, ...common, 'truncated', '1', 'dataBytes', '100000', 'dataSha256', sha256(big));
    const noShard = await addLetter('sequenceNumber', placed!.sequenceNumber, 'shardId', '', ...common, 'truncated', '1', 'dataBytes', '100000', 'dataSha256', sha256(big));
    const lostFlag = await addLetter('sequenceNumber', placed!.sequenceNumber, 'shardId', shardId, ...common, 'dataBytes', '100000', 'dataSha256', sha256(big));
    const target = await newTarget();
    const unrecovered: string[] = [];
    // Act
    const totals = await replayToKinesis(redis, SOURCE, { targetStream: target.name, kinesis, delete: true, onUnrecovered: (u) => unrecovered.push(u.id) });
    // Assess
    assert.deepEqual(unrecovered.sort(), [badSeq, noShard].sort());
    assert.equal(totals.recovered, 1);
    const replayed = await readStream(target.name, target.shard);
    assert.deepEqual(replayed.map((r) => sha256(Buffer.from(r.data, 'base64'))), [sha256(big)], 'the full record, not its 16-byte prefix');
    assert.deepEqual((await admin.xrange(key, '-', '+')).map(([id]) => id).sort(), [badSeq, noShard].sort());
    assert.ok(lostFlag);
  });
});
