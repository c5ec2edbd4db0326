/**
 * The lastopens batch processor: the work both lastopens runtimes (bin/lastopens under the KCL
 * daemon, and the Lambda function) do with a batch, wired by ./app.ts.
 */
import type { BatchProcessor } from '../../core/types.js';
import type { AppOpen } from '../model/index.js';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../../redis/connection.js';
import { keySlot } from '../../redis/keySlot.js';
import { waitForReplicas, type WaitReplicasOptions } from '../../redis/waitReplicas.js';
import { lastOpenKey, recordLastOpens } from '../tasks/recordLastOpen.js';

/**
 * The lastopens work for a batch of decoded AppOpens: monotonic HSETs through
 * `recordLastOpens`; events it rejects (a key holding another type) are dead-lettered. With
 * `waitReplicas`, the batch then waits for that many replicas of every master it wrote to
 * (`WAIT`), and fails (retriable, so it is not checkpointed) when too few acknowledged.
 */
export function lastOpensProcessor(redis: RedisClient, options: { waitReplicas?: WaitReplicasOptions | undefined } = {}): BatchProcessor<AppOpen> {
  const wait = options.waitReplicas;
  return async (records, ctx) => {
    const events = new Array<AppOpen>(records.length);
    for (let i = 0; i < records.length; i++) events[i] = records[i]!.value;
    // The Redis write time, reported through the instrumentation hook (metrics: RedisWriteMs,
    // RedisWriteP99, RedisWriteCount): the framework itself knows nothing of Redis. Only
    // successful writes are timed; a failed one shows as ProcessingFailures.
    const t0 = performance.now();
    const result = await recordLastOpens(redis, events);
    ctx.reportTiming('RedisWrite', performance.now() - t0);
    if (wait) await waitForReplicas(redis, redis instanceof Cluster ? slotsOf(events) : undefined, wait);
    return { failed: result.rejected };
  };
}

/** The cluster slots a batch wrote to (only computed with REDIS_WAIT_REPLICAS on a cluster). */
function slotsOf(events: readonly AppOpen[]): Set<number> {
  const slots = new Set<number>();
  for (const e of events) if (typeof e.userId === 'bigint') slots.add(keySlot(lastOpenKey(e.userId)));
  return slots;
}
