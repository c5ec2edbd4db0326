/**
 * The process start-up every Redis-backed KCL worker shares (bin/lastopens, bin/dailyactives):
 * configuration from the environment and `.env` (the settings of ./workerSettings.ts, plus
 * LOG_PATH and STATS_INTERVAL_MS), the log file, the Redis client and the dead-letter sink, with
 * the exits the README promises (78 and one stderr line for a configuration error, nothing on
 * stdout). It knows no app: a worker passes its name and its own settings. A Lambda function
 * builds the same client and sink from the same settings (connectRedisWorker) without the log
 * file and the exit.
 */
import { ConfigError, parseInteger } from '../config/env.js';
import { createWorkerLogger, type WorkerLogger } from '../config/logging.js';
import { envVar, readEnvVar } from '../config/variables.js';
import { ExitCode } from '../core/exitCodes.js';
import type { RedisClient, RedisClientOptions } from './connection.js';
import type { RedisDeadLetterSink } from './deadLetterSink.js';
import { connectRedisWorker, readRedisWorkerSettings, redisWorkerStartFields, type RedisWorkerSettings } from './workerSettings.js';

/** The variables {@link startRedisWorker} reads besides the settings of every Redis worker (REDIS_WORKER_VARIABLES). */
export const REDIS_WORKER_PROCESS_VARIABLES = Object.freeze({
  LOG_PATH: envVar<string>({
    name: 'LOG_PATH',
    presence: 'important',
    defaultText: '`./<worker>.log`, with a warning',
    meaning: 'log file, or `stderr`; one that cannot be opened is a configuration error (exit 78)',
  }),
  STATS_INTERVAL_MS: envVar<number>({
    name: 'STATS_INTERVAL_MS',
    presence: 'optional',
    fallback: 60_000,
    parse: parseInteger({ min: 0 }),
    meaning: 'interval of the stats line in the log (`0`: off); a log that cannot be written is reported on stderr at most this often',
  }),
});

/**
 * The settings of a Redis worker under the KCL daemon: those of every Redis worker, LOG_PATH,
 * STATS_INTERVAL_MS.
 */
export type RedisWorkerEnv = RedisWorkerSettings & {
  logPath: string;
  statsIntervalMs: number;
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
 * Reads REDIS_WORKER_VARIABLES (./workerSettings.ts) and {@link REDIS_WORKER_PROCESS_VARIABLES}
 * (LOG_PATH: default `./<name>.log` with a warning), then the worker's own settings
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
      ...readRedisWorkerSettings(),
      logPath: readEnvVar(REDIS_WORKER_PROCESS_VARIABLES.LOG_PATH, process.env, { fallback: `./${name}.log`, onDefault: (m) => warnings.push(m) }),
      statsIntervalMs: readEnvVar(REDIS_WORKER_PROCESS_VARIABLES.STATS_INTERVAL_MS),
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
  logger.info({ ...redisWorkerStartFields(cfg), ...options.startFields?.(cfg) }, `${name} starting`);
  let parts: ReturnType<typeof connectRedisWorker> | undefined;
  try {
    parts = connectRedisWorker(cfg, {
      logger,
      connectionName: `${name}:${process.pid}`,
      logIntervalMs: cfg.statsIntervalMs > 0 ? cfg.statsIntervalMs : 60_000,
      ...(options.redisOptions ? { redisOptions: options.redisOptions(cfg) } : {}),
    });
  } catch (err) {
    // A URL that parses as a URL but not as a Redis URL (a db that is not a number, a query
    // string, a db on a cluster): the client names the problem with the password redacted.
    if (!(err instanceof TypeError)) throw err;
    logger.fatal({ err: err.message }, 'RESULTS_REDIS_URL is malformed');
    flushSync();
    fail(`RESULTS_REDIS_URL is malformed: ${err.message}`);
  }
  return { config: cfg, logger, flushSync, logDrops, redis: parts!.redis, deadLetters: parts!.deadLetters };
}
