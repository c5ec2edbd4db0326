/**
 * What the two lastopens entry points (bin/lastopens under the KCL daemon, and the Lambda
 * module) share: the environment they both read, and the batch processor that does the work.
 */
import { loadEnvFile, mandatoryVar, optionalVar, parseInteger, parseStreamName } from '../config/env.js';
import type { BatchProcessor } from '../core/types.js';
import type { AppOpen } from './model/index.js';
import { parseRedisUrl, type RedisClient } from '../redis/connection.js';
import { recordLastOpens } from './tasks/recordLastOpen.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The settings every lastopens runtime reads. */
export interface LastOpensEnv {
  redisUrl: string;
  streamName: string;
  logLevel: string;
  deadLetterMaxLen: number;
}

/**
 * Reads `.env` (the real environment wins) and the shared variables: RESULTS_REDIS_URL and
 * STREAM_NAME (mandatory), LOG_LEVEL (default info), DEADLETTER_MAXLEN (default 100000).
 * Throws ConfigError naming the variable.
 *
 * @example
 * const env = readLastOpensEnv(); // { redisUrl, streamName, logLevel: 'info', deadLetterMaxLen: 100000 }
 */
export function readLastOpensEnv(): LastOpensEnv {
  loadEnvFile();
  return {
    // parseRedisUrl, not WHATWG URL: a cluster URL lists several seeds (host1:p1,host2:p2), which
    // URL refuses. Its errors show the URL with the password redacted.
    redisUrl: mandatoryVar('RESULTS_REDIS_URL', (v) => {
      parseRedisUrl(v);
      return v;
    }),
    streamName: mandatoryVar('STREAM_NAME', parseStreamName),
    logLevel: optionalVar('LOG_LEVEL', 'info', (v) => {
      if (!LOG_LEVELS.includes(v)) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`);
      return v;
    }),
    deadLetterMaxLen: optionalVar('DEADLETTER_MAXLEN', 100_000, parseInteger({ min: 1 })),
  };
}

/**
 * The lastopens work for a batch of decoded AppOpens: monotonic HSETs through
 * `recordLastOpens`; events it rejects (a key holding another type) are dead-lettered.
 *
 * @example
 * await runWithBatchProcessor({ decoder: appOpenDecoder, deadLetters }, lastOpensProcessor(redis));
 */
export function lastOpensProcessor(redis: RedisClient): BatchProcessor<AppOpen> {
  return async (records) => {
    const events = new Array<AppOpen>(records.length);
    for (let i = 0; i < records.length; i++) events[i] = records[i]!.value;
    const result = await recordLastOpens(redis, events);
    return { failed: result.rejected };
  };
}
