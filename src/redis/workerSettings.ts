/**
 * The settings every Redis-backed worker reads, whatever runtime drives it (the KCL daemon or
 * Lambda), and the Redis client and dead-letter sink built from them. One table of variables
 * ({@link REDIS_WORKER_VARIABLES}) is both what is read and what the docs show; one function
 * ({@link connectRedisWorker}) turns the settings into a client, so both runtimes get the
 * sentinels' credentials and a command bound that leaves room for WAIT.
 */
import { ConfigError, loadEnvFile, parseInteger, parseStreamName } from '../config/env.js';
import { parseLogLevel } from '../config/logging.js';
import { redactUrl } from '../config/redact.js';
import { envVar, readEnvVar } from '../config/variables.js';
import { DEFAULT_DEAD_LETTER_MAX_DATA_BYTES } from '../core/deadLetterData.js';
import type { Logger } from '../core/types.js';
import { createRedisClient, type RedisClient, type RedisClientOptions } from './connection.js';
import { DEFAULT_DEAD_LETTER_MAX_BYTES, DEFAULT_DEAD_LETTER_MAX_LEN, RedisDeadLetterSink, minDeadLetterMaxBytes } from './deadLetterSink.js';
import { DEFAULT_REDIS_CLIENT_OPTIONS } from './settings.js';
import { parseRedisUrl } from './url.js';
import type { WaitReplicasOptions } from './waitReplicas.js';

/**
 * The settings every Redis worker reads ({@link readRedisWorkerSettings}).
 */
export interface RedisWorkerSettings {
  redisUrl: string;
  streamName: string;
  logLevel: string;
  deadLetterMaxLen: number;
  /** DEADLETTER_MAX_DATA_BYTES: the most bytes of a record's data a dead letter keeps. */
  deadLetterMaxDataBytes: number;
  /** DEADLETTER_MAX_BYTES: the byte budget of the dead-letter stream. */
  deadLetterMaxBytes: number;
  /** REDIS_WAIT_REPLICAS / REDIS_WAIT_TIMEOUT_MS; absent when off. */
  waitReplicas?: WaitReplicasOptions;
  /** REDIS_SENTINEL_USERNAME: the sentinels' own user (redis+sentinel:// URLs); absent when unset. */
  sentinelUsername?: string;
  /** REDIS_SENTINEL_PASSWORD: the sentinels' own password; absent when unset. */
  sentinelPassword?: string;
}

/** Default of REDIS_WAIT_TIMEOUT_MS. */
export const DEFAULT_WAIT_TIMEOUT_MS = 1_000;

/**
 * The variables of {@link readRedisWorkerSettings}: name, presence, default, parser and meaning.
 * The docs' environment tables are generated from it (scripts/env-docs.ts).
 */
export const REDIS_WORKER_VARIABLES = Object.freeze({
  RESULTS_REDIS_URL: envVar<string>({
    name: 'RESULTS_REDIS_URL',
    presence: 'mandatory',
    // parseRedisUrl, not WHATWG URL: a cluster URL lists several seeds (host1:p1,host2:p2), which
    // URL refuses. Its errors show the URL with the password redacted.
    parse: (v) => {
      parseRedisUrl(v);
      return v;
    },
    meaning:
      '`redis://`, `rediss://` (TLS), `redis+cluster://host:port,host:port` (Redis Cluster), `redis+sentinel://host:port,host:port/<masterName>[/db]` (Sentinel; `rediss+...` for TLS); the password in the URL is never logged. Failover is followed: [docs/redis.md](docs/redis.md#failover)',
  }),
  STREAM_NAME: envVar<string>({ name: 'STREAM_NAME', presence: 'mandatory', parse: parseStreamName, meaning: 'the Kinesis stream; dead letters go to the Redis stream `deadletter:<STREAM_NAME>`' }),
  LOG_LEVEL: envVar<string>({ name: 'LOG_LEVEL', presence: 'optional', fallback: 'info', parse: parseLogLevel, meaning: 'pino level' }),
  DEADLETTER_MAXLEN: envVar<number>({
    name: 'DEADLETTER_MAXLEN',
    presence: 'optional',
    fallback: DEFAULT_DEAD_LETTER_MAX_LEN,
    parse: parseInteger({ min: 1 }),
    meaning: 'cap of the dead-letter stream, in entries',
  }),
  DEADLETTER_MAX_DATA_BYTES: envVar<number>({
    name: 'DEADLETTER_MAX_DATA_BYTES',
    presence: 'optional',
    fallback: DEFAULT_DEAD_LETTER_MAX_DATA_BYTES,
    parse: parseInteger({ min: 0, max: 10 * 1024 * 1024 }),
    meaning: 'the most bytes of a record a dead letter keeps (a larger one: its first bytes, full size and SHA-256); at most 10485760',
  }),
  DEADLETTER_MAX_BYTES: envVar<number>({
    name: 'DEADLETTER_MAX_BYTES',
    presence: 'optional',
    fallback: DEFAULT_DEAD_LETTER_MAX_BYTES,
    defaultText: `\`${DEFAULT_DEAD_LETTER_MAX_BYTES}\` (256 MiB)`,
    parse: parseInteger({ min: 1 }),
    meaning:
      'byte budget of the dead-letter stream, at least twice the largest letter `DEADLETTER_MAX_DATA_BYTES` allows; the oldest letters go first, counted as `DeadLettersDropped` ([docs/redis.md](docs/redis.md#dead-letters))',
  }),
  REDIS_WAIT_REPLICAS: envVar<number>({
    name: 'REDIS_WAIT_REPLICAS',
    presence: 'optional',
    fallback: 0,
    defaultText: '`0` (off)',
    parse: parseInteger({ min: 0, max: 100 }),
    meaning:
      'replicas that must acknowledge a batch\'s writes (`WAIT`) before it counts as done (checkpointed, or not reported to Lambda); guarantee and cost in [docs/guarantees.md](docs/guarantees.md#redis-failover-and-replicas)',
  }),
  REDIS_WAIT_TIMEOUT_MS: envVar<number>({
    name: 'REDIS_WAIT_TIMEOUT_MS',
    presence: 'optional',
    fallback: DEFAULT_WAIT_TIMEOUT_MS,
    parse: parseInteger({ min: 1, max: 60_000 }),
    meaning: 'how long `WAIT` may block, at most 60000; the Redis command bound is raised to leave room for it',
  }),
  REDIS_SENTINEL_USERNAME: envVar<string | undefined>({ name: 'REDIS_SENTINEL_USERNAME', presence: 'optional', meaning: 'the sentinels\' own user, if any (`redis+sentinel://` URLs)' }),
  REDIS_SENTINEL_PASSWORD: envVar<string | undefined>({ name: 'REDIS_SENTINEL_PASSWORD', presence: 'optional', meaning: 'the sentinels\' own password, if any (`redis+sentinel://` URLs)' }),
});

/**
 * Reads `.env` (the real environment wins) and {@link REDIS_WORKER_VARIABLES}. Throws ConfigError
 * naming the variable.
 */
export function readRedisWorkerSettings(env: NodeJS.ProcessEnv = process.env): RedisWorkerSettings {
  if (env === process.env) loadEnvFile();
  const V = REDIS_WORKER_VARIABLES;
  const replicas = readEnvVar(V.REDIS_WAIT_REPLICAS, env);
  const timeoutMs = readEnvVar(V.REDIS_WAIT_TIMEOUT_MS, env);
  const deadLetterMaxDataBytes = readEnvVar(V.DEADLETTER_MAX_DATA_BYTES, env);
  const least = minDeadLetterMaxBytes(deadLetterMaxDataBytes);
  const deadLetterMaxBytes = readEnvVar(V.DEADLETTER_MAX_BYTES, env, { fallback: Math.max(DEFAULT_DEAD_LETTER_MAX_BYTES, least) });
  if (deadLetterMaxBytes < least) {
    throw new ConfigError(
      V.DEADLETTER_MAX_BYTES.name,
      `DEADLETTER_MAX_BYTES is malformed: must be >= ${least}: twice the largest dead letter of DEADLETTER_MAX_DATA_BYTES ${deadLetterMaxDataBytes}`,
    );
  }
  const sentinelUsername = readEnvVar(V.REDIS_SENTINEL_USERNAME, env);
  const sentinelPassword = readEnvVar(V.REDIS_SENTINEL_PASSWORD, env);
  return {
    redisUrl: readEnvVar(V.RESULTS_REDIS_URL, env),
    streamName: readEnvVar(V.STREAM_NAME, env),
    logLevel: readEnvVar(V.LOG_LEVEL, env),
    deadLetterMaxLen: readEnvVar(V.DEADLETTER_MAXLEN, env),
    deadLetterMaxDataBytes,
    deadLetterMaxBytes,
    ...(replicas === 0 ? {} : { waitReplicas: { replicas, timeoutMs } }),
    ...(sentinelUsername === undefined ? {} : { sentinelUsername }),
    ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
  };
}

/**
 * The Redis client options the settings imply: the sentinels' credentials, and with
 * REDIS_WAIT_REPLICAS a command bound of at least the WAIT timeout plus 2 s (WAIT blocks up to
 * its timeout; the default 5 s bound would cut a longer one off).
 */
export function redisWorkerClientOptions(settings: RedisWorkerSettings): Pick<RedisClientOptions, 'sentinelUsername' | 'sentinelPassword' | 'commandTimeoutMs'> {
  return {
    ...(settings.sentinelUsername === undefined ? {} : { sentinelUsername: settings.sentinelUsername }),
    ...(settings.sentinelPassword === undefined ? {} : { sentinelPassword: settings.sentinelPassword }),
    ...(settings.waitReplicas ? { commandTimeoutMs: Math.max(DEFAULT_REDIS_CLIENT_OPTIONS.commandTimeoutMs, settings.waitReplicas.timeoutMs + 2_000) } : {}),
  };
}

/**
 * The fields a worker's start line shows of the settings (the URL with its password redacted).
 */
export function redisWorkerStartFields(settings: RedisWorkerSettings): Record<string, unknown> {
  return {
    redis: redactUrl(settings.redisUrl),
    deadLetterMaxLen: settings.deadLetterMaxLen,
    deadLetterMaxDataBytes: settings.deadLetterMaxDataBytes,
    deadLetterMaxBytes: settings.deadLetterMaxBytes,
    waitReplicas: settings.waitReplicas ?? null,
  };
}

/** Options of {@link connectRedisWorker}. */
export interface ConnectRedisWorkerOptions {
  logger: Logger;
  /** `CLIENT SETNAME` of the connections. */
  connectionName: string;
  /** At most one dead-letter drop report per this long, ms. Default: the sink's. */
  logIntervalMs?: number;
  /** More client options; they win over the settings' own. */
  redisOptions?: Omit<RedisClientOptions, 'logger' | 'connectionName'>;
}

/**
 * The Redis client and the dead-letter sink of a worker, from its settings: what both runtimes
 * build the same way. Throws TypeError for a URL the client refuses (a db on a cluster...).
 */
export function connectRedisWorker(settings: RedisWorkerSettings, options: ConnectRedisWorkerOptions): { redis: RedisClient; deadLetters: RedisDeadLetterSink } {
  const redis = createRedisClient(settings.redisUrl, {
    logger: options.logger,
    connectionName: options.connectionName,
    ...redisWorkerClientOptions(settings),
    ...options.redisOptions,
  });
  const deadLetters = new RedisDeadLetterSink(redis, {
    streamName: settings.streamName,
    maxLen: settings.deadLetterMaxLen,
    maxDataBytes: settings.deadLetterMaxDataBytes,
    maxBytes: settings.deadLetterMaxBytes,
    logger: options.logger,
    ...(options.logIntervalMs === undefined ? {} : { logIntervalMs: options.logIntervalMs }),
  });
  return { redis, deadLetters };
}
