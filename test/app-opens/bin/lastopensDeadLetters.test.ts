/**
 * Issue 28: bad input must not take Redis down. bin/lastopens (built, a real child process under
 * the test daemon) against a private redis-server, fed records as large as Kinesis takes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { toAvro } from '../../../src/app-opens/model/index.js';
import { makeRecords } from '../../../src/testing/index.js';
import { LastOpenModel, randomOpen, rng, spawnLastopens, streamEntries, type LastopensWorker } from '../../helpers/lastopens.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../helpers/redis.js';

const SHARD = 'shardId-000000000003';
const MiB = 1024 * 1024;

let server: RedisServer;
let client: Redis;
const workers: LastopensWorker[] = [];

before(async () => {
  server = await startRedis();
  client = new Redis(server.url);
});
after(async () => {
  client.disconnect();
  await stopAllRedis();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.daemon.stop()));
  await client.flushall();
});

const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);

/** Garbage that never decodes as an AppOpen (the single-object encoding starts C3 01). */
function garbage(bytes: number): Buffer {
  const b = randomBytes(bytes);
  b[0] = 0;
  return b;
}

describe('bin/lastopens: dead letters bounded in bytes', () => {
  test('one 10 MiB garbage record beside a valid AppOpen: the event applied, the batch checkpointed, the letter keeps 64 KiB, the full size and the SHA-256', async () => {
    // Prepare
    const w = spawnLastopens(server.url);
    workers.push(w);
    await w.daemon.initialize(SHARD);
    const big = garbage(10 * MiB);
    const now = Math.floor(Date.now() / 1000);
    const batch = makeRecords([big, toAvro({ userId: 5n, platform: 'ios', timestamp: now, appVersion: null, deviceId: null })]);
    // Act
    const { checkpoints } = await w.daemon.processRecords(batch);
    // Assess
    assert.deepEqual(checkpoints.map((c) => c.sequenceNumber), [batch[1]!.sequenceNumber]);
    assert.deepEqual(await client.hgetall('user:5:checkpoint'), { ios_app_open: String(now) });
    const [letter, ...more] = await streamEntries(client, 'deadletter:app-opens');
    assert.equal(more.length, 0);
    assert.deepEqual(
      { ...letter, reason: undefined },
      {
        sequenceNumber: batch[0]!.sequenceNumber,
        subSequenceNumber: '0',
        shardId: SHARD,
        partitionKey: batch[0]!.partitionKey,
        reason: undefined,
        data: big.subarray(0, 64 * 1024).toString('base64'),
        truncated: '1',
        dataBytes: String(10 * MiB),
        dataSha256: createHash('sha256').update(big).digest('hex'),
      },
    );
    assert.match(letter!.reason!, /DecodeError/);
    const memory = Number(await client.memory('USAGE', 'deadletter:app-opens', 'SAMPLES', '0'));
    assert.ok(memory < 128 * 1024, `the dead-letter stream takes ${memory} bytes`);
  });

  test('200 poison records of 1 MiB among valid ones: Redis grows by less than DEADLETTER_MAX_BYTES plus a small margin; every valid record applied, every batch checkpointed; drops counted and logged per interval', async (t) => {
    // Prepare: 40 batches, each 5 valid AppOpens around 5 poison records of 1 MiB.
    const budget = 4 * MiB;
    const next = rng(28);
    const model = new LastOpenModel();
    const batches = Array.from({ length: 40 }, (_, b) => {
      const payloads: Buffer[] = [];
      for (let i = 0; i < 10; i++) {
        if (i % 2 === 1) payloads.push(garbage(MiB));
        else {
          const e = randomOpen(next, 500);
          model.add(e);
          payloads.push(toAvro(e));
        }
      }
      return makeRecords(payloads, { start: b * 10 });
    });
    const w = spawnLastopens(server.url, { DEADLETTER_MAX_BYTES: String(budget), STATS_INTERVAL_MS: '1000' });
    workers.push(w);
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(makeRecords([toAvro(randomOpen(rng(1), 1))], { start: 10_000_000 })); // connected, scripts loaded
    await client.flushall();
    const before = await usedMemory();
    // Act
    const started = Date.now();
    const checkpointed: string[] = [];
    for (const batch of batches) {
      const { checkpoints } = await w.daemon.processRecords(batch);
      checkpointed.push(...checkpoints.map((c) => c.sequenceNumber!));
    }
    const elapsedMs = Date.now() - started;
    const after = await usedMemory();
    await w.daemon.shutdownRequested();
    assert.deepEqual(await w.daemon.closeInput(), { code: 0, signal: null });
    // Assess: memory
    const growth = after - before;
    t.diagnostic(`used_memory grew by ${growth} bytes (budget ${budget}) in ${elapsedMs} ms`);
    const margin = MiB;
    assert.ok(growth < budget + margin, `used_memory grew by ${growth} bytes; budget ${budget} + margin ${margin}`);
    const stream = Number(await client.memory('USAGE', 'deadletter:app-opens', 'SAMPLES', '0'));
    assert.ok(stream <= budget, `the stream takes ${stream} bytes`);
    // Assess: the work and the checkpoints
    assert.deepEqual(await model.diff(client), []);
    assert.deepEqual(checkpointed, batches.map((b) => b.at(-1)!.sequenceNumber));
    // Assess: the newest letters kept, the rest counted as dropped in the stats line and logged per interval
    const kept = await streamEntries(client, 'deadletter:app-opens');
    assert.ok(kept.length >= 20, `${kept.length} letters kept`);
    assert.ok(kept.every((l) => l.truncated === '1' && l.dataBytes === String(MiB)));
    assert.equal(kept.at(-1)!.sequenceNumber, batches.at(-1)![9]!.sequenceNumber);
    const dropped = 200 - kept.length;
    const stats = w.logged('stats').map((l) => (l.stats as { deadLettersDropped: number; deadLettered: number }));
    assert.equal(stats.reduce((a, s) => a + s.deadLettersDropped, 0), dropped, 'the stats lines count every drop');
    assert.equal(stats.reduce((a, s) => a + s.deadLettered, 0), 200);
    const dropLines = w.logged('dead letters dropped');
    assert.ok(dropLines.length >= 1, 'drops are logged');
    assert.ok(dropLines.length <= Math.ceil(elapsedMs / 1000) + 1, `${dropLines.length} drop lines in ${elapsedMs} ms: at most one per interval`);
    assert.ok(dropLines.every((l) => l.level === 'warn' && l.deadLetterStream === 'deadletter:app-opens' && l.maxBytes === budget), JSON.stringify(dropLines[0]));
    const logged = dropLines.reduce((a, l) => a + (l.dropped as number), 0);
    assert.ok(logged > 0 && logged <= dropped, `logged ${logged} of ${dropped} drops (the last interval's may be left to the stats line)`);
  });
});
