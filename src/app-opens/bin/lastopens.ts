/**
 * bin/lastopens: the worker the KCL MultiLangDaemon launches per shard. It records, per user and
 * platform, the last time the app was opened: HSET user:<id>:checkpoint <platform>_app_open <ts>,
 * monotonic, in Redis. Poison records go to the Redis stream deadletter:<STREAM_NAME>.
 *
 * Environment (a .env file in the working directory is read too; the real environment wins):
 *   RESULTS_REDIS_URL   mandatory  redis://, rediss://, redis+cluster://, rediss+cluster://,
 *                                  redis+sentinel:// or rediss+sentinel:// URL (docs/redis.md)
 *   STREAM_NAME         mandatory  the Kinesis stream; names the dead-letter stream
 *   LOG_PATH            important  log file (default ./lastopens.log, with a warning), or `stderr`
 *   LOG_LEVEL           optional   pino level, default info
 *   DEADLETTER_MAXLEN   optional   cap of the dead-letter stream in entries, default 100000
 *   DEADLETTER_MAX_DATA_BYTES optional  the most bytes of a record a dead letter keeps, default
 *                                  65536 (a larger one: its first bytes, full size and SHA-256)
 *   DEADLETTER_MAX_BYTES optional  byte budget of the dead-letter stream (the oldest letters go
 *                                  first), default 268435456 (256 MiB); docs/redis.md
 *   STATS_INTERVAL_MS   optional   interval of the stats line, default 60000
 *   LOG_BATCH_TIMINGS   optional   1 logs where each batch's milliseconds went, default 0
 *   CHUNK_SIZE          optional   records per Redis write while the rest of a batch decodes,
 *                                  default 2000 (see docs/performance.md)
 *   REDIS_WAIT_REPLICAS optional   replicas that must acknowledge a batch's writes before it is
 *                                  checkpointed (WAIT), default 0 (off); docs/guarantees.md
 *   REDIS_WAIT_TIMEOUT_MS optional how long WAIT may block, default 1000
 *   REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD  optional  the sentinels' own credentials
 *   RETRY_MAX_DELAY_MS  optional   longest wait between retries of a failed batch, default 2000:
 *                                  a failover is followed within about that of Redis being healthy
 *   METRICS_PATH        optional   per-shard metrics as CloudWatch EMF lines: a file path or `stderr`
 *                                  (never stdout); unset: no metrics (the stats line stays as it is)
 *   METRICS_NAMESPACE   optional   CloudWatch namespace of the metrics, default KinesisStreams
 *   METRICS_INTERVAL_MS optional   one metrics line per shard this often, default 60000 (docs/metrics.md)
 *   KCL_STUCK_BATCH_MS  optional   a batch in hand this long is reported stuck (error line, metric,
 *                                  health file), default 300000; 0 turns it off
 *   KCL_STUCK_BATCH_EXIT_MS optional a batch in hand this long ends the worker (exit 4), default 0 (off)
 *   KCL_HEALTH_DIR      optional   folder for <shardId>.json health files (bin/kcl-health reads them)
 *   KCL_HEALTH_INTERVAL_MS optional how often the health file is rewritten, default 10000
 *   KCL_DRAIN_TIMEOUT_MS optional  bound of the drain after SIGTERM with a daemon attached
 * Exit codes: 0 end of input or SIGTERM; 1 crash; 2 protocol error; 3 retries exhausted;
 * 4 stuck batch (KCL_STUCK_BATCH_EXIT_MS); 78 configuration error or a LOG_PATH that cannot be
 * opened (one line on stderr, nothing on stdout). A log that fails later never stops the worker.
 * The start-up (configuration, log, Redis client, dead-letter sink, exit 78) is startRedisWorker's,
 * shared with bin/dailyactives; this file adds the settings only lastopens has.
 */
import { lastOpensProcessor } from '../lastopens.js';
import { startRedisWorker } from '../redisWorker.js';
import { optionalVar, parseInteger } from '../../config/env.js';
import { DEFAULT_METRICS_NAMESPACE, checkNamespace } from '../../core/emf.js';
import { openMetricsDestination } from '../../kcl/metrics.js';
import { runWithBatchProcessor } from '../../kcl/worker.js';
import { appOpenDecoder, type AppOpen } from '../model/index.js';

/**
 * Records per Redis write. A batch is decoded and written a chunk at a time, so Redis applies one
 * chunk while this process decodes the next. Safe here because the writes are monotonic and
 * idempotent: chunks may land in any order and the final state is the same, and the checkpoint
 * still waits for every chunk.
 */
const DEFAULT_CHUNK_SIZE = 2_000;
/**
 * Longest backoff between retries of a failed batch. 2 s, not the runtime's 10 s: after a failover
 * the shard writes again within about this of Redis being healthy, for one retry (and one log
 * line) per 2 s while Redis is away.
 */
const DEFAULT_RETRY_MAX_DELAY_MS = 2_000;

/** The settings of bin/lastopens beyond the ones every Redis worker reads (startRedisWorker's). */
function readLastOpensWorkerConfig() {
  return {
    batchTimings: optionalVar('LOG_BATCH_TIMINGS', 0, parseInteger({ min: 0, max: 1 })) === 1,
    chunkSize: optionalVar('CHUNK_SIZE', DEFAULT_CHUNK_SIZE, parseInteger({ min: 1 })),
    retryMaxDelayMs: optionalVar('RETRY_MAX_DELAY_MS', DEFAULT_RETRY_MAX_DELAY_MS, parseInteger({ min: 100, max: 600_000 })),
    metricsPath: optionalVar<string | undefined>('METRICS_PATH', undefined, (v) => {
      if (v !== 'stderr') {
        // Refuses stdout under any name, and a path that cannot be opened, at start-up.
        openMetricsDestination(v).close();
      }
      return v;
    }),
    metricsNamespace: optionalVar('METRICS_NAMESPACE', DEFAULT_METRICS_NAMESPACE, (v) => checkNamespace(v, 'METRICS_NAMESPACE')),
    metricsIntervalMs: optionalVar('METRICS_INTERVAL_MS', 60_000, parseInteger({ min: 1 })),
  };
}

const { config, logger, flushSync, logDrops, redis, deadLetters } = startRedisWorker('lastopens', { readConfig: readLastOpensWorkerConfig });

await runWithBatchProcessor<AppOpen>(
  {
    decoder: appOpenDecoder,
    deadLetters,
    logger,
    flushLogs: flushSync,
    logDrops,
    statsIntervalMs: config.statsIntervalMs,
    batchTimings: config.batchTimings,
    chunkSize: config.chunkSize,
    retry: { maxDelayMs: config.retryMaxDelayMs },
    ...(config.metricsPath === undefined
      ? {}
      : { metrics: { destination: config.metricsPath, streamName: config.streamName, namespace: config.metricsNamespace, intervalMs: config.metricsIntervalMs } }),
  },
  lastOpensProcessor(redis, { waitReplicas: config.waitReplicas }),
);
