/* global process */
// The worker a user writes by following the README's "Write a worker": runWithSingleProcessor with
// the package's decoder and one recordLastOpen per event, through the package's public entry
// points only, every option at its default (the README's two: decoder and logPath). Used by
// bench/worker.ts for the per-event path's figures beside the batch path's (bin/lastopens).
//
// Environment: RESULTS_REDIS_URL (mandatory), LOG_PATH.
import { runWithSingleProcessor } from 'kinesis-streams';
import { appOpenDecoder, recordLastOpen } from 'kinesis-streams/app-opens';
import { createRedisClient } from 'kinesis-streams/redis';

const redis = createRedisClient(process.env.RESULTS_REDIS_URL);

await runWithSingleProcessor({ decoder: appOpenDecoder, logPath: process.env.LOG_PATH ?? 'stderr' }, async (event) => {
  await recordLastOpen(redis, event);
});
