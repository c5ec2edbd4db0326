/**
 * The lastopens Lambda function: the work of bin/lastopens (per user and platform, the last time
 * the app was opened, `HSET user:<id>:checkpoint <platform>_app_open <ts>`, monotonic; poison
 * records to the Redis stream `deadletter:<STREAM_NAME>`), driven by a Kinesis event source
 * mapping instead of the KCL daemon.
 *
 * Built by `npm run build` (tsc, and the Lua script copied beside its module) to dist/app-opens/lambda/lastopens.js (ESM); deploy it with the
 * package.json (its `"type": "module"` is what makes Lambda load the .js file as ESM) and
 * node_modules, handler `dist/app-opens/lambda/lastopens.handler`. See docs/lambda.md.
 *
 * Environment (as bin/lastopens; a .env file in the working directory is read too, the real
 * environment wins):
 *   RESULTS_REDIS_URL   mandatory  redis://, rediss://, redis+cluster:// or rediss+cluster:// URL
 *   STREAM_NAME         mandatory  the Kinesis stream; names the dead-letter stream
 *   LOG_LEVEL           optional   pino level, default info (logs go to stdout, i.e. CloudWatch)
 *   DEADLETTER_MAXLEN   optional   cap of the dead-letter stream in entries, default 100000
 *   DEADLETTER_MAX_DATA_BYTES  optional  the most bytes of a record a dead letter keeps, default
 *                                  65536 (larger: cut, with its size and SHA-256)
 *   DEADLETTER_MAX_BYTES optional  byte budget of the dead-letter stream, default 268435456
 *   METRICS             optional   1 (default): one CloudWatch EMF metrics document per invocation
 *                                  on stdout (dimensions StreamName, FunctionName); 0: none
 *   METRICS_NAMESPACE   optional   CloudWatch namespace of the metrics, default KinesisStreams
 * LOG_PATH and STATS_INTERVAL_MS of bin/lastopens do not apply here. A missing or malformed
 * variable fails every invocation with a ConfigError naming it.
 *
 * The Redis client is created on the first invocation of a container and reused by the next ones.
 */
import { lastOpensProcessor, readLastOpensEnv } from '../lastopens.js';
import { ConfigError, optionalVar, parseInteger } from '../../config/env.js';
import { DEFAULT_METRICS_NAMESPACE, checkNamespace } from '../../core/emf.js';
import { redactUrl } from '../../config/redact.js';
import type { Logger } from '../../core/types.js';
import { appOpenDecoder, type AppOpen } from '../model/index.js';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../redis/connection.js';
import { RedisDeadLetterSink } from '../../redis/deadLetterSink.js';
import { createKinesisHandler, type KinesisHandler, type KinesisHandlerWithCounters } from '../../lambda/handler.js';
import { createLambdaLogger } from '../../lambda/logger.js';

/** The `CLIENT SETNAME` of this function's Redis connections (visible in `CLIENT LIST`). */
export const LASTOPENS_CONNECTION_NAME = 'lastopens-lambda';

interface Container {
  handler: KinesisHandlerWithCounters;
  redis: RedisClient;
  logger: Logger;
}

/** What this container set up on its first invocation; kept for the next ones. */
let container: Container | undefined;

function setUp(): Container {
  if (container) return container;
  let config: ReturnType<typeof readLastOpensEnv> & { metrics: boolean; metricsNamespace: string };
  try {
    config = {
      ...readLastOpensEnv(),
      metrics: optionalVar('METRICS', 1, parseInteger({ min: 0, max: 1 })) === 1,
      metricsNamespace: optionalVar('METRICS_NAMESPACE', DEFAULT_METRICS_NAMESPACE, (v) => checkNamespace(v, 'METRICS_NAMESPACE')),
    };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.variable, `lastopens: ${err.message}`);
    throw err;
  }
  const logger = createLambdaLogger({ level: config.logLevel, base: { app: 'lastopens', stream: config.streamName } });
  logger.info(
    {
      redis: redactUrl(config.redisUrl),
      deadLetterMaxLen: config.deadLetterMaxLen,
      deadLetterMaxDataBytes: config.deadLetterMaxDataBytes,
      deadLetterMaxBytes: config.deadLetterMaxBytes,
    },
    'lastopens starting (new container)',
  );
  const redis = createRedisClient(config.redisUrl, { logger, connectionName: LASTOPENS_CONNECTION_NAME });
  const deadLetters = new RedisDeadLetterSink(redis, {
    streamName: config.streamName,
    maxLen: config.deadLetterMaxLen,
    maxDataBytes: config.deadLetterMaxDataBytes,
    maxBytes: config.deadLetterMaxBytes,
    logger,
  });
  const handler = createKinesisHandler<AppOpen>({
    decoder: appOpenDecoder,
    deadLetters,
    logger,
    batchProcessor: lastOpensProcessor(redis, { waitReplicas: config.waitReplicas }),
    ...(config.metrics ? { metrics: { namespace: config.metricsNamespace, streamName: config.streamName } } : {}),
  });
  container = { handler, redis, logger };
  return container;
}

/**
 * The Lambda entry point (`dist/app-opens/lambda/lastopens.handler`). Reads the configuration and connects
 * to Redis on the first invocation of a container; answers with a partial batch response.
 *
 * @example
 * // Lambda: Runtime nodejs24.x (or nodejs22.x), Handler dist/app-opens/lambda/lastopens.handler
 * import { handler } from 'kinesis-streams/dist/app-opens/lambda/lastopens.js';
 * const response = await handler(event, context); // { batchItemFailures: [] }
 */
export const handler: KinesisHandler = (event, context) => {
  let c: Container;
  try {
    c = setUp();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return c.handler(event, context);
};

/**
 * Closes this container's Redis client and forgets the set-up, so the next invocation starts
 * afresh. Lambda never needs it (a frozen container's connection is reused, a dead one is
 * reconnected); local runs and tests call it to let the process exit.
 *
 * @example
 * await handler(event, createLocalContext());
 * await closeLastOpens();
 */
export async function closeLastOpens(): Promise<void> {
  const c = container;
  container = undefined;
  if (c) await closeRedisClient(c.redis);
}
