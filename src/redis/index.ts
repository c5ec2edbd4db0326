/**
 * The Redis side of the package (`kinesis-streams/redis`): connections from a URL, error
 * translation, the dead-letter sink, and the recordLastOpen task.
 *
 * @example
 * import { createRedisClient, RedisDeadLetterSink, recordLastOpens } from 'kinesis-streams/redis';
 * const redis = createRedisClient(process.env.RESULTS_REDIS_URL!, { logger });
 * const deadLetters = new RedisDeadLetterSink(redis, { streamName: 'app-opens' });
 * const result = await recordLastOpens(redis, events);
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
/** The one URL redaction (src/config/redact.ts), re-exported for Redis users. */
export { redactUrl } from '../config/redact.js';
export { RedisDeadLetterSink, deadLetterKey, DEAD_LETTER_FIELDS, DEFAULT_DEAD_LETTER_MAX_LEN } from './deadLetterSink.js';
export type { RedisDeadLetterSinkOptions } from './deadLetterSink.js';
export { keySlot, SLOT_COUNT } from './keySlot.js';
export {
  recordLastOpen,
  recordLastOpens,
  lastOpenKey,
  lastOpenField,
  DEFAULT_RECORD_LAST_OPENS_OPTIONS,
} from '../tasks/recordLastOpen.js';
export type { RecordLastOpensOptions, RecordLastOpensResult } from '../tasks/recordLastOpen.js';
