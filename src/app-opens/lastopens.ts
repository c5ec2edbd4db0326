/**
 * What the two lastopens entry points (bin/lastopens under the KCL daemon, and the Lambda
 * module) share: the environment they both read, and the batch processor that does the work.
 */
import { loadEnvFile, mandatoryVar, optionalVar, parseInteger, parseStreamName } from '../config/env.js';
import { parseLogLevel } from '../config/logging.js';
import type { BatchProcessor } from '../core/types.js';
import type { AppOpen } from './model/index.js';
import { Cluster } from 'ioredis';
import { parseRedisUrl, type RedisClient } from '../redis/connection.js';
import { keySlot } from '../redis/keySlot.js';
import { DEFAULT_DEAD_LETTER_MAX_BYTES, DEFAULT_DEAD_LETTER_MAX_LEN, minDeadLetterMaxBytes } from '../redis/deadLetterSink.js';
import { DEFAULT_DEAD_LETTER_MAX_DATA_BYTES } from '../core/deadLetterData.js';
import { waitForReplicas, type WaitReplicasOptions } from '../redis/waitReplicas.js';
import { lastOpenKey, recordLastOpens } from './tasks/recordLastOpen.js';

/** The settings every lastopens runtime reads. */
export interface LastOpensEnv {
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
}

/** Default of REDIS_WAIT_TIMEOUT_MS. */
export const DEFAULT_WAIT_TIMEOUT_MS = 1_000;

/**
 * Reads `.env` (the real environment wins) and the shared variables: RESULTS_REDIS_URL and
 * STREAM_NAME (mandatory), LOG_LEVEL (default info), DEADLETTER_MAXLEN (default 100000),
 * DEADLETTER_MAX_DATA_BYTES (default 65536), DEADLETTER_MAX_BYTES (default 268435456, at least
 * twice the largest dead letter DEADLETTER_MAX_DATA_BYTES allows), REDIS_WAIT_REPLICAS (default
 * 0: off) and REDIS_WAIT_TIMEOUT_MS (default 1000, at most 60000). Throws ConfigError naming the
 * variable.
 *
 * @example
 * const env = readLastOpensEnv();
 * // { redisUrl, streamName, logLevel: 'info', deadLetterMaxLen: 100000, deadLetterMaxDataBytes: 65536, deadLetterMaxBytes: 268435456 }
 */
export function readLastOpensEnv(): LastOpensEnv {
  loadEnvFile();
  const waitReplicas = readWaitReplicas();
  const deadLetterMaxDataBytes = optionalVar('DEADLETTER_MAX_DATA_BYTES', DEFAULT_DEAD_LETTER_MAX_DATA_BYTES, parseInteger({ min: 0, max: 10 * 1024 * 1024 }));
  const least = minDeadLetterMaxBytes(deadLetterMaxDataBytes);
  const deadLetterMaxBytes = optionalVar('DEADLETTER_MAX_BYTES', Math.max(DEFAULT_DEAD_LETTER_MAX_BYTES, least), (v) => {
    const n = parseInteger({ min: 1 })(v);
    if (n < least) throw new Error(`must be >= ${least}: twice the largest dead letter of DEADLETTER_MAX_DATA_BYTES ${deadLetterMaxDataBytes}`);
    return n;
  });
  return {
    // parseRedisUrl, not WHATWG URL: a cluster URL lists several seeds (host1:p1,host2:p2), which
    // URL refuses. Its errors show the URL with the password redacted.
    redisUrl: mandatoryVar('RESULTS_REDIS_URL', (v) => {
      parseRedisUrl(v);
      return v;
    }),
    streamName: mandatoryVar('STREAM_NAME', parseStreamName),
    logLevel: optionalVar('LOG_LEVEL', 'info', parseLogLevel),
    deadLetterMaxLen: optionalVar('DEADLETTER_MAXLEN', DEFAULT_DEAD_LETTER_MAX_LEN, parseInteger({ min: 1 })),
    deadLetterMaxDataBytes,
    deadLetterMaxBytes,
    ...(waitReplicas === undefined ? {} : { waitReplicas }),
  };
}

function readWaitReplicas(): WaitReplicasOptions | undefined {
  const replicas = optionalVar('REDIS_WAIT_REPLICAS', 0, parseInteger({ min: 0, max: 100 }));
  const timeoutMs = optionalVar('REDIS_WAIT_TIMEOUT_MS', DEFAULT_WAIT_TIMEOUT_MS, parseInteger({ min: 1, max: 60_000 }));
  return replicas === 0 ? undefined : { replicas, timeoutMs };
}

/**
 * The lastopens work for a batch of decoded AppOpens: monotonic HSETs through
 * `recordLastOpens`; events it rejects (a key holding another type) are dead-lettered. With
 * `waitReplicas`, the batch then waits for that many replicas of every master it wrote to
 * (`WAIT`), and fails (retriable, so it is not checkpointed) when too few acknowledged.
 *
 * @example
 * await runWithBatchProcessor({ decoder: appOpenDecoder, deadLetters }, lastOpensProcessor(redis));
 * lastOpensProcessor(redis, { waitReplicas: { replicas: 1, timeoutMs: 1000 } });
 * // each Redis write's duration is reported as the timing `RedisWrite`
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
