/**
 * bin/dailyactives: a second worker on the same stream as bin/lastopens, the example of adding a
 * projection of one's own. For every valid AppOpen: `PFADD dau:<yyyy-mm-dd> <userId>` (UTC day),
 * idempotent by nature. Poison records go to the Redis stream deadletter:<STREAM_NAME>.
 * Launched by the KCL MultiLangDaemon with properties/dailyactives.properties (its own
 * applicationName, so its own lease table and checkpoints: each projection reads the stream at
 * its own pace).
 *
 * Environment (a .env file in the working directory is read too; the real environment wins):
 *   RESULTS_REDIS_URL, STREAM_NAME  mandatory  as for bin/lastopens
 *   LOG_PATH                        important  default ./dailyactives.log (with a warning), or `stderr`
 *   LOG_LEVEL, DEADLETTER_MAXLEN, DEADLETTER_MAX_DATA_BYTES, DEADLETTER_MAX_BYTES, STATS_INTERVAL_MS
 *                       optional, as for bin/lastopens
 *   REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS       optional, as for bin/lastopens: a batch is
 *                                  checkpointed only once that many replicas acknowledged its PFADDs
 *   REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD  optional, as for bin/lastopens
 *   KCL_STUCK_BATCH_MS, KCL_STUCK_BATCH_EXIT_MS, KCL_HEALTH_DIR  optional, as for bin/lastopens
 * Exit codes: as bin/lastopens (0, 1, 2, 3, 4, 78).
 */
import { Cluster } from 'ioredis';
import { startRedisWorker } from '../redisWorker.js';
import { runWithBatchProcessor } from '../../kcl/worker.js';
import { keySlot } from '../../redis/keySlot.js';
import { waitForReplicas } from '../../redis/waitReplicas.js';
import { appOpenDecoder, type AppOpen } from '../model/index.js';
import { dailyActivesKey, recordDailyActives } from '../tasks/recordDailyActives.js';

const { config, logger, flushSync, logDrops, redis, deadLetters } = startRedisWorker('dailyactives');
const wait = config.waitReplicas;

await runWithBatchProcessor<AppOpen>(
  { decoder: appOpenDecoder, deadLetters, logger, flushLogs: flushSync, logDrops, statsIntervalMs: config.statsIntervalMs },
  async (records) => {
    const events = records.map((r) => r.value);
    const result = await recordDailyActives(redis, events);
    // Too few acknowledgements is retriable: the batch is retried, never checkpointed.
    if (wait) await waitForReplicas(redis, redis instanceof Cluster ? new Set(events.map((e) => keySlot(dailyActivesKey(e.timestamp)))) : undefined, wait);
    return { failed: result.rejected };
  },
);
