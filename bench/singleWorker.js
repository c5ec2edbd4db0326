/* global process */
// bin/lastopens's work through the per-event runtime: runWithSingleProcessor, one monotonic
// recordLastOpen (one script call, awaited) per record, the same decoder and dead-letter sink.
// Used by bench/worker.ts to state the per-event path's rate beside the batch path's.
//
// Environment: RESULTS_REDIS_URL, STREAM_NAME (mandatory), LOG_PATH.
import { runWithSingleProcessor } from '../dist/kcl/worker.js';
import { appOpenDecoder } from '../dist/app-opens/model/index.js';
import { createRedisClient } from '../dist/redis/connection.js';
import { RedisDeadLetterSink } from '../dist/redis/deadLetterSink.js';
import { recordLastOpen } from '../dist/app-opens/tasks/recordLastOpen.js';

const redis = createRedisClient(process.env.RESULTS_REDIS_URL);
const deadLetters = new RedisDeadLetterSink(redis, { streamName: process.env.STREAM_NAME, maxLen: 100_000 });

await runWithSingleProcessor(
  { decoder: appOpenDecoder, deadLetters, logPath: process.env.LOG_PATH ?? 'stderr', statsIntervalMs: 0 },
  async (event) => {
    await recordLastOpen(redis, event);
  },
);
