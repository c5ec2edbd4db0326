/**
 * REDIS_WAIT_REPLICAS on bin/lastopens with real servers: a primary without a replica cannot
 * take a checkpointed batch (WAIT reports too few: retriable, retried, never checkpointed); once a
 * replica is attached the same batch is applied and checkpointed.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { toAvro } from '../../src/app-opens/model/index.js';
import { makeRecords } from '../../src/testing/index.js';
import { until } from '../helpers/failover.js';
import { NOW, spawnLastopens } from '../helpers/lastopens.js';
import { startRedis, stopAllRedis } from '../helpers/redis.js';

after(stopAllRedis);

test('REDIS_WAIT_REPLICAS=1 and no replica: too few is retried, never checkpointed; with a replica attached the batch is checkpointed', async () => {
  const primary = await startRedis();
  const worker = spawnLastopens(primary.url, { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '200', STATS_INTERVAL_MS: '0' }, { actionTimeoutMs: 60_000 });
  const client = new Redis(primary.port, '127.0.0.1');
  try {
    await worker.daemon.initialize('shardId-000000000000');
    const records = makeRecords(
      Array.from({ length: 500 }, (_, i) => toAvro({ userId: BigInt(i + 1), platform: 'ios', timestamp: NOW - i, appVersion: null, deviceId: null })),
    );
    const answered = worker.daemon.processRecords(records);
    await until(async () => worker.logged('retriable processor failure').some((l) => /too few replicas acknowledged/.test(String(l.err))), 'a WAIT failure', 30_000);
    // The writes are in the primary, but not on any replica: no checkpoint.
    assert.equal(await client.hget('user:1:checkpoint', 'ios_app_open'), String(NOW));
    assert.equal(worker.daemon.checkpointedSequence, null);
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const result = await answered;
    assert.deepEqual(result.checkpoints.map((c) => c.sequenceNumber), [records.at(-1)?.sequenceNumber]);
    const copy = new Redis(replica.port, '127.0.0.1');
    try {
      assert.equal(await copy.hget('user:500:checkpoint', 'ios_app_open'), String(NOW - 499), 'the replica holds the checkpointed batch');
    } finally {
      copy.disconnect();
    }
    await worker.daemon.shutdownRequested();
    assert.deepEqual(await worker.daemon.closeInput(), { code: 0, signal: null });
  } finally {
    client.disconnect();
    await worker.daemon.stop();
  }
});
