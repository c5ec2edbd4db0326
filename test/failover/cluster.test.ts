/**
 * bin/lastopens on a Redis Cluster with replicas (3 masters + 3 replicas, cluster-node-timeout
 * 1500 ms) while a master is taken away under load: the replica is promoted and the worker must
 * write again within a bound of the cluster being healthy, checkpoint nothing it has not applied,
 * and leave every user at their newest timestamp. Slow (a fresh cluster per scenario): run by
 * `make test-failover`, not `make test`.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Cluster } from 'ioredis';
import { clusterHealthy, clusterNodes, mastersBySlots, replicaOf, runFailoverScenario } from '../helpers/failover.js';
import { rawCommand, startRedisCluster, stopAllRedis, type RedisServer } from '../helpers/redis.js';

after(stopAllRedis);

const cluster = (): Promise<Awaited<ReturnType<typeof startRedisCluster>>> => startRedisCluster({ replicas: 1, nodeTimeoutMs: 1500 });
const seeds = (servers: RedisServer[]): string => `redis+cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;

/** The one log line per recovered node: old owner, new owner, how long. */
function failoverLines(log: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return log.filter((l) => l.msg === 'redis failover: slots moved to a new master');
}

/** True when the node on `port` is a replica whose link to its master is up. */
async function inSync(server: RedisServer): Promise<boolean> {
  return (await rawCommand(server.port, ['INFO', 'replication'])).includes('master_link_status:up');
}

test('a seed master SIGKILLed under load and back as a replica, then its replacement SIGKILLed (second failover); REDIS_WAIT_REPLICAS=1', async () => {
  const c = await cluster();
  try {
    const [m0] = c.servers;
    assert.ok(m0);
    const r0 = await replicaOf(m0, m0, c.servers);
    const { worker, recoveries } = await runFailoverScenario({
      url: c.url, // the three masters are the seeds: m0 is one of them
      env: { REDIS_WAIT_REPLICAS: '1' },
      strict: true,
      reader: () => new Cluster(c.nodes),
      faults: [
        // With WAIT 1 the promoted replica cannot take a checkpointed write until it has a
        // replica itself: the killed master comes back (as a replica of it) before the bound starts.
        { at: 2, name: 'seed master killed', cause: () => m0.kill(), healthy: () => clusterHealthy(c.servers), repair: () => m0.up(), repaired: () => inSync(m0) },
        { at: 5, name: 'promoted replica killed (second failover)', cause: () => r0.kill(), healthy: () => clusterHealthy(c.servers), repair: () => r0.up(), repaired: () => inSync(r0) },
      ],
    });
    console.log('recoveries', JSON.stringify(recoveries));
    assert.ok((await mastersBySlots(m0, c.servers)).includes(m0), 'the old master took its slots back');
    const lines = failoverLines(worker.log());
    assert.ok(lines.some((l) => l.oldMaster === `127.0.0.1:${m0.port}` && l.newMaster === `127.0.0.1:${r0.port}`), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.oldMaster === `127.0.0.1:${r0.port}` && l.newMaster === `127.0.0.1:${m0.port}`), JSON.stringify(lines));
  } finally {
    await c.stop();
  }
});

test('a master that is not a seed SIGKILLed under load (the URL names one seed)', async () => {
  const c = await cluster();
  try {
    const [m0, m1] = c.servers;
    assert.ok(m0 && m1);
    const r1 = await replicaOf(m0, m1, c.servers);
    const { worker, recoveries } = await runFailoverScenario({
      url: seeds([m0]),
      reader: () => new Cluster(c.nodes),
      faults: [{ at: 3, name: 'non-seed master killed', cause: () => m1.kill(), healthy: () => clusterHealthy(c.servers) }],
    });
    console.log('recoveries', JSON.stringify(recoveries));
    const lines = failoverLines(worker.log());
    assert.ok(lines.some((l) => l.oldMaster === `127.0.0.1:${m1.port}` && l.newMaster === `127.0.0.1:${r1.port}`), JSON.stringify(lines));
  } finally {
    await c.stop();
  }
});

test('a planned CLUSTER FAILOVER under load', async () => {
  const c = await cluster();
  try {
    const m2 = c.servers[2];
    assert.ok(m2);
    const r2 = await replicaOf(m2, m2, c.servers);
    const { worker, recoveries } = await runFailoverScenario({
      url: c.url,
      env: { REDIS_WAIT_REPLICAS: '1' },
      strict: true,
      reader: () => new Cluster(c.nodes),
      faults: [
        {
          at: 3,
          name: 'CLUSTER FAILOVER',
          cause: async () => {
            assert.match(await rawCommand(r2.port, ['CLUSTER', 'FAILOVER']), /^\+OK/);
          },
          healthy: async () => (await clusterNodes(r2.port)).some((n) => n.port === r2.port && n.master) && (await clusterHealthy(c.servers)),
        },
      ],
    });
    console.log('recoveries', JSON.stringify(recoveries));
    const lines = failoverLines(worker.log());
    assert.ok(lines.some((l) => l.oldMaster === `127.0.0.1:${m2.port}` && l.newMaster === `127.0.0.1:${r2.port}`), JSON.stringify(lines));
  } finally {
    await c.stop();
  }
});

