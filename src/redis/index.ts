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
export { createRedisClient, closeRedisClient, parseRedisUrl, translateRedisError, runBounded } from './connection.js';
export type { RedisClient, RedisClientOptions, ParsedRedisUrl } from './connection.js';
export { classifyRedisError } from './errors.js';
export { RedisDeadLetterSink, deadLetterKey, deleteDeadLetters } from './deadLetterSink.js';
export type { RedisDeadLetterSinkOptions } from './deadLetterSink.js';
export { keySlot } from './keySlot.js';
export { defineScript } from './scripts.js';
export type { RedisScript, Replies, ScriptArg, ScriptDefinition } from './scripts.js';
