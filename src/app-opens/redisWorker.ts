/**
 * The start-up every Redis-backed worker of the app shares (bin/lastopens, bin/dailyactives):
 * configuration from the environment and `.env`, the log file, the Redis client and the
 * dead-letter sink, with the exits the README promises (78 and one stderr line for a
 * configuration error, nothing on stdout). A user's own worker can copy this file as it is.
 */
import { readLastOpensEnv, type LastOpensEnv } from './lastopens.js';
import { ConfigError, importantVar, optionalVar, parseInteger } from '../config/env.js';
import { createWorkerLogger, type WorkerLogger } from '../config/logging.js';
import { redactUrl } from '../config/redact.js';
import { ExitCode } from '../core/exitCodes.js';
import { createRedisClient, type RedisClient, type RedisClientOptions } from '../redis/connection.js';
import { RedisDeadLetterSink } from '../redis/deadLetterSink.js';

/**
 * The settings every Redis worker reads: the shared lastopens ones, LOG_PATH, STATS_INTERVAL_MS.
 */
export type RedisWorkerEnv = LastOpensEnv & {
  logPath: string;
  statsIntervalMs: number;
  /** REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD: the sentinels' own credentials (redis+sentinel:// URLs). */
  sentinelUsername: string | undefined;
  sentinelPassword: string | undefined;
};

/**
 * What a worker adds to the shared start-up. Every field is optional: without them the worker
 * gets exactly the shared settings, start line and client (bin/dailyactives).
 */
export interface RedisWorkerOptions<Extra extends object> {
  /**
   * Reads the worker's own settings, after the shared ones and within the same check: a
   * ConfigError it throws exits 78 with its one stderr line, like the shared ones.
   */
  readConfig?: () => Extra;
  /** More fields of the `<name> starting` log line, after `redis`, the dead-letter bounds and `waitReplicas`. */
  startFields?: (config: RedisWorkerEnv & Extra) => Record<string, unknown>;
  /** More options of the Redis client (its logger and `connectionName` are the start-up's). */
  redisOptions?: (config: RedisWorkerEnv & Extra) => Omit<RedisClientOptions, 'logger' | 'connectionName'>;
}

/**
 * What {@link startRedisWorker} hands the worker.
 */
export interface RedisWorker<Extra extends object = Record<never, never>> {
  config: RedisWorkerEnv & Extra;
  logger: WorkerLogger['logger'];
  flushSync: WorkerLogger['flushSync'];
  /** Log lines dropped so far (a full log disk...): pass it as the worker's `logDrops`. */
  logDrops: WorkerLogger['drops'];
  redis: RedisClient;
  deadLetters: RedisDeadLetterSink;
}

/**
 * Reads RESULTS_REDIS_URL, STREAM_NAME (mandatory), LOG_PATH (important: default
 * `./<name>.log` with a warning), LOG_LEVEL, DEADLETTER_MAXLEN, DEADLETTER_MAX_DATA_BYTES,
 * DEADLETTER_MAX_BYTES, REDIS_WAIT_REPLICAS,
 * REDIS_WAIT_TIMEOUT_MS, STATS_INTERVAL_MS and REDIS_SENTINEL_USERNAME / _PASSWORD, then the worker's own settings
 * (`options.readConfig`); opens the log, logs `<name> starting`, connects to Redis
 * (`connectionName` `<name>:<pid>`). On a configuration error (a malformed variable, a LOG_PATH
 * that cannot be opened, a RESULTS_REDIS_URL the client refuses) it writes one line
 * `<name>: <message>` to stderr and exits 78.
 */
export function startRedisWorker<Extra extends object = Record<never, never>>(name: string, options: RedisWorkerOptions<Extra> = {}): RedisWorker<Extra> {
  const fail = (message: string): never => {
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(ExitCode.CONFIG_ERROR);
  };
  const warnings: string[] = [];
  let config: RedisWorker<Extra>['config'] | undefined;
  try {
    const shared: RedisWorkerEnv = {
      ...readLastOpensEnv(),
      logPath: importantVar('LOG_PATH', `./${name}.log`, (m) => warnings.push(m)),
      statsIntervalMs: optionalVar('STATS_INTERVAL_MS', 60_000, parseInteger({ min: 0 })),
      sentinelUsername: optionalVar<string | undefined>('REDIS_SENTINEL_USERNAME', undefined),
      sentinelPassword: optionalVar<string | undefined>('REDIS_SENTINEL_PASSWORD', undefined),
    };
    config = { ...shared, ...(options.readConfig?.() ?? ({} as Extra)) };
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }
  const cfg = config!;
  let log: WorkerLogger | undefined;
  try {
    log = createWorkerLogger({
      destination: cfg.logPath,
      level: cfg.logLevel,
      base: { app: name, stream: cfg.streamName },
      name,
      // A log that cannot be written: one stderr line per stats interval (60 s by default).
      dropReportIntervalMs: cfg.statsIntervalMs > 0 ? cfg.statsIntervalMs : 60_000,
    });
  } catch (err) {
    // The log file is opened at once: a path that cannot be written is a configuration error.
    fail(`LOG_PATH cannot be opened: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { logger, flushSync, drops: logDrops } = log!;
  for (const warning of warnings) logger.warn({}, warning);
  logger.info(
    {
      redis: redactUrl(cfg.redisUrl),
      deadLetterMaxLen: cfg.deadLetterMaxLen,
      deadLetterMaxDataBytes: cfg.deadLetterMaxDataBytes,
      deadLetterMaxBytes: cfg.deadLetterMaxBytes,
      waitReplicas: cfg.waitReplicas ?? null,
      ...options.startFields?.(cfg),
    },
    `${name} starting`,
  );
  let redis: RedisClient | undefined;
  try {
    redis = createRedisClient(cfg.redisUrl, {
      logger,
      connectionName: `${name}:${process.pid}`,
      sentinelUsername: cfg.sentinelUsername,
      sentinelPassword: cfg.sentinelPassword,
      // WAIT blocks up to its timeout: the command bound must leave room for it.
      ...(cfg.waitReplicas ? { commandTimeoutMs: Math.max(5_000, cfg.waitReplicas.timeoutMs + 2_000) } : {}),
      ...options.redisOptions?.(cfg),
    });
  } catch (err) {
    // A URL that parses as a URL but not as a Redis URL (a db that is not a number, a query
    // string, a db on a cluster): the client names the problem with the password redacted.
    if (!(err instanceof TypeError)) throw err;
    logger.fatal({ err: err.message }, 'RESULTS_REDIS_URL is malformed');
    flushSync();
    fail(`RESULTS_REDIS_URL is malformed: ${err.message}`);
  }
  const deadLetters = new RedisDeadLetterSink(redis!, {
    streamName: cfg.streamName,
    maxLen: cfg.deadLetterMaxLen,
    maxDataBytes: cfg.deadLetterMaxDataBytes,
    maxBytes: cfg.deadLetterMaxBytes,
    logger,
    logIntervalMs: cfg.statsIntervalMs > 0 ? cfg.statsIntervalMs : 60_000,
  });
  return { config: cfg, logger, flushSync, logDrops, redis: redis!, deadLetters };
}
