/**
 * The library part of the app-opens pipeline (`kinesis-streams/app-opens`), built on the framework
 * the way a user's own app would be: the AppOpen model and its tasks (what a worker does with each
 * event). The app itself is not in the published package (packages/app-opens declares it): its
 * entry points src/app-opens/bin/ (bin/lastopens, bin/dailyactives, bin/app-opens-api), the
 * Lambda function src/app-opens/lambda/lastopens.ts, the processor and settings they share
 * (lastopens.ts, redisWorker.ts) and the HTTP API src/app-opens/api/.
 *
 * @example
 * import { appOpenDecoder, recordLastOpens } from 'kinesis-streams/app-opens';
 * import { runWithBatchProcessor } from 'kinesis-streams';
 * await runWithBatchProcessor({ decoder: appOpenDecoder }, async (events) => { await recordLastOpens(redis, events.map((e) => e.value)); });
 */
export type { AppOpen } from './model/index.js';
export {
  APP_OPEN_SCHEMA_V1,
  APP_OPEN_V1_FINGERPRINT,
  appOpenDecoder,
  fromAvro,
  registerAppOpenSchema,
  toAvro,
  validate,
  validationError,
} from './model/index.js';
export {
  recordLastOpen,
  recordLastOpens,
  lastOpenKey,
  lastOpenField,
} from './tasks/recordLastOpen.js';
export type { RecordLastOpensOptions, RecordLastOpensResult } from './tasks/recordLastOpen.js';
