/**
 * The Redis side of the framework (`kinesis-streams/redis`): connections from a URL, error
 * translation, bounded calls, cluster key slots, and the dead-letter sink. It knows no task: the
 * tasks that write through it (recordLastOpen(s)) are the app's, in `kinesis-streams/app-opens`.
 *
 * @example
 * import { createRedisClient, RedisDeadLetterSink } from 'kinesis-streams/redis';
 * const redis = createRedisClient(process.env.RESULTS_REDIS_URL!, { logger });
 * const deadLetters = new RedisDeadLetterSink(redis, { streamName: 'app-opens' });
 */
export {
  createRedisClient,
  closeRedisClient,
  parseRedisUrl,
  translateRedisError,
  replyCode,
  runBounded,
  refreshTopology,
  DEFAULT_REDIS_CLIENT_OPTIONS,
} from './connection.js';
export type { RedisClient, RedisClientOptions, ParsedRedisUrl } from './connection.js';
export { classifyRedisError } from './errors.js';
/** The one URL redaction (src/config/redact.ts), re-exported for Redis users. */
export { redactUrl } from '../config/redact.js';
export {
  RedisDeadLetterSink,
  deadLetterKey,
  deadLetterBytesKey,
  deleteDeadLetters,
  minDeadLetterMaxBytes,
  DEAD_LETTER_FIELDS,
  TRUNCATED_DEAD_LETTER_FIELDS,
  DEFAULT_DEAD_LETTER_MAX_LEN,
  DEFAULT_DEAD_LETTER_MAX_BYTES,
} from './deadLetterSink.js';
export type { RedisDeadLetterSinkOptions } from './deadLetterSink.js';
export { keySlot, SLOT_COUNT } from './keySlot.js';
export { defineScript, RedisScript, digitCount, writeDigits, writeBulkHeader, writeBulkDigits, writeBulkBytes, writeCrlf } from './scripts.js';
export type { Replies, ScriptArg, ScriptDefinition } from './scripts.js';
