/**
 * The cluster client's rebuild ("reconnecting from scratch", src/redis/failover.ts) on a real
 * Redis Cluster: after it, commands must be answered again, even when a node connection is made
 * while the old ones are still closing. That is what a MOVED reply to a command still in flight
 * does (ioredis opens a connection to the node it names); with ioredis' `disconnect(true)` alone
 * the client then stayed `disconnecting` for good, every command parked until its deadline: the
 * worker of issue 23 timing out forever after the rebuild. The in-flight MOVED cannot be timed
 * from a test, so the connection it would make is made directly (`connectionPool.findOrCreate`,
 * what ioredis' MOVED handler calls); everything else is real.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Cluster } from 'ioredis';
import { createRedisClient, closeRedisClient } from '../../src/redis/connection.js';
import { rebuildCluster } from '../../src/redis/failover.js';
import { startRedisCluster, stopAllRedis } from '../helpers/redis.js';

after(stopAllRedis);

interface Pool {
  connectionPool: { findOrCreate(node: { host: string; port: number }): unknown; nodes: { all: Record<string, unknown> } };
}

test('a rebuilt cluster client answers again when a node connection is made while the old ones close', async () => {
  const c = await startRedisCluster();
  const client = createRedisClient(c.url) as Cluster;
  try {
    assert.equal(await client.set('k', '1'), 'OK');
    rebuildCluster(client);
    // What a MOVED for a command in flight does at this moment.
    (client as unknown as Pool).connectionPool.findOrCreate({ host: '127.0.0.1', port: c.servers[0]!.port });
    const t0 = Date.now();
    const reply = await Promise.race([client.get('k'), new Promise((r) => setTimeout(() => r('no reply within 5 s'), 5_000))]);
    assert.equal(reply, '1', `status ${client.status}`);
    assert.equal(client.status, 'ready');
    console.log(`answered ${Date.now() - t0} ms after the rebuild`);
  } finally {
    await closeRedisClient(client);
    await c.stop();
  }
});

test('a rebuilt cluster client rejects the commands it had parked instead of keeping them', async () => {
  const c = await startRedisCluster();
  const client = createRedisClient(c.url) as Cluster;
  try {
    assert.equal(await client.set('k', '2'), 'OK');
    client.disconnect(true); // not ready: the next command is parked in the offline queue
    const parked = client.get('k').then(
      (v) => `answered ${v}`,
      (e: Error) => `rejected: ${e.message}`,
    );
    rebuildCluster(client);
    assert.match(await parked, /^(rejected: redis cluster reconnecting from scratch|answered 2)/);
    assert.equal(await client.get('k'), '2');
  } finally {
    await closeRedisClient(client);
    await c.stop();
  }
});
