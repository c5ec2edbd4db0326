/**
 * Waiting for replicas before a checkpoint (REDIS_WAIT_REPLICAS): Redis replicates asynchronously,
 * so a write a master acknowledged may not have reached its replica when the replica takes over,
 * and is then gone. `WAIT n timeout` on the connection that wrote blocks until n replicas have
 * acknowledged every write made on it so far (or the timeout passes) and returns how many did.
 * Checkpointing only after enough did means a failover cannot take away a checkpointed record
 * (unless more nodes than that fail at once). Cost: one WAIT round trip per master written, per
 * write, plus the replication delay itself (docs/redis.md).
 */
import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import { RetriableError } from '../core/errors.js';
import { runBounded } from './errors.js';
import type { RedisClient } from './settings.js';

/**
 * Options of {@link waitForReplicas}.
 */
export interface WaitReplicasOptions {
  /** Replicas that must acknowledge (1 or more). */
  replicas: number;
  /** How long WAIT may block, in ms. */
  timeoutMs: number;
}

/**
 * Issues `WAIT replicas timeoutMs` on every master that holds one of `slots` (a cluster) or on the
 * connection (standalone, Sentinel), in parallel. Resolves when each reports enough replicas;
 * rejects with a RetriableError naming the master and the count otherwise (the batch is then
 * retried, never checkpointed), or when a master cannot be reached.
 */
export async function waitForReplicas(client: RedisClient, slots: Iterable<number> | undefined, o: WaitReplicasOptions): Promise<void> {
  const targets: Array<{ name: string; node: Redis }> = [];
  if (client instanceof Cluster) {
    const masters = new Map<string, Redis>();
    for (const node of client.nodes('master')) masters.set(`${node.options.host ?? ''}:${node.options.port ?? ''}`, node);
    const keys = new Set<string>();
    for (const slot of slots ?? []) {
      const key = client.slots[slot]?.[0];
      if (key !== undefined) keys.add(key);
    }
    for (const key of keys) {
      const node = masters.get(key);
      // The map names a master the pool does not hold (it is being replaced): let the retry sort it out.
      if (!node) throw new RetriableError(`redis WAIT ${o.replicas}: no connection to master ${key}; not checkpointing`);
      targets.push({ name: key, node });
    }
  } else {
    targets.push({ name: '', node: client });
  }
  const what = `WAIT ${o.replicas} ${o.timeoutMs}`;
  const acked = await runBounded(client, what, () => Promise.all(targets.map((t) => t.node.call('WAIT', o.replicas, o.timeoutMs) as Promise<number>)));
  const short = targets.map((t, i) => ({ name: t.name, got: Number(acked[i]) })).filter((t) => !(t.got >= o.replicas));
  if (short.length > 0) {
    const list = short.map((t) => `${t.name === '' ? 'the primary' : t.name}: ${t.got}`).join(', ');
    throw new RetriableError(`redis ${what}: too few replicas acknowledged the writes within ${o.timeoutMs} ms (${list}; want ${o.replicas}); not checkpointing`);
  }
}
