/**
 * The start-up every Redis-backed worker of the app shares (bin/dailyactives; bin/lastopens reads
 * the same variables): configuration from the environment and `.env`, the log file, the Redis
 * client and the dead-letter sink, with the exits the README promises (78 and one stderr line for
 * a configuration error, nothing on stdout). A user's own worker can copy this file as it is.
 */
import { readLastOpensEnv, type LastOpensEnv } from './lastopens.js';
import { ConfigError, importantVar, optionalVar, parseInteger } from '../config/env.js';
import { createWorkerLogger, type WorkerLogger } from '../config/logging.js';
import { redactUrl } from '../config/redact.js';
import { ExitCode } from '../core/exitCodes.js';
import { createRedisClient, type RedisClient } from '../redis/connection.js';
import { RedisDeadLetterSink } from '../redis/deadLetterSink.js';

/** What {@link startRedisWorker} hands the worker. */
export interface RedisWorker {
  config: LastOpensEnv & { logPath: string; statsIntervalMs: number };
  logger: WorkerLogger['logger'];
  flushSync: WorkerLogger['flushSync'];
  redis: RedisClient;
  deadLetters: RedisDeadLetterSink;
}

/**
 * Reads RESULTS_REDIS_URL, STREAM_NAME (mandatory), LOG_PATH (important: default
 * `./<name>.log` with a warning), LOG_LEVEL, DEADLETTER_MAXLEN and STATS_INTERVAL_MS, opens the
 * log, connects to Redis. On a configuration error it writes one line to stderr and exits 78.
 *
 * @example
 * const { config, logger, flushSync, redis, deadLetters } = startRedisWorker('dailyactives');
 * await runWithBatchProcessor({ decoder: appOpenDecoder, deadLetters, logger, flushLogs: flushSync }, processor);
 */
export function startRedisWorker(name: string): RedisWorker {
  const fail = (message: string): never => {
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(ExitCode.CONFIG_ERROR);
  };
  const warnings: string[] = [];
  let config: RedisWorker['config'] | undefined;
  try {
    config = {
      ...readLastOpensEnv(),
      logPath: importantVar('LOG_PATH', `./${name}.log`, (m) => warnings.push(m)),
      statsIntervalMs: optionalVar('STATS_INTERVAL_MS', 60_000, parseInteger({ min: 0 })),
    };
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }
  const cfg = config!;
  let log: WorkerLogger | undefined;
  try {
    log = createWorkerLogger({ destination: cfg.logPath, level: cfg.logLevel, base: { app: name, stream: cfg.streamName } });
  } catch (err) {
    fail(`LOG_PATH cannot be opened: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { logger, flushSync } = log!;
  for (const warning of warnings) logger.warn({}, warning);
  logger.info({ redis: redactUrl(cfg.redisUrl), deadLetterMaxLen: cfg.deadLetterMaxLen }, `${name} starting`);
  let redis: RedisClient | undefined;
  try {
    redis = createRedisClient(cfg.redisUrl, { logger, connectionName: `${name}:${process.pid}` });
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    logger.fatal({ err: err.message }, 'RESULTS_REDIS_URL is malformed');
    flushSync();
    fail(`RESULTS_REDIS_URL is malformed: ${err.message}`);
  }
  const deadLetters = new RedisDeadLetterSink(redis!, { streamName: cfg.streamName, maxLen: cfg.deadLetterMaxLen });
  return { config: cfg, logger, flushSync, redis: redis!, deadLetters };
}
