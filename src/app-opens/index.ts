/**
 * The app-opens pipeline (`kinesis-streams/app-opens`), built on the framework the way a user's own
 * app would be: the AppOpen model, its tasks (what a worker does with each event), and the batch
 * processor the lastopens entry points share. The entry points themselves are src/app-opens/bin/
 * (bin/lastopens, bin/app-opens-api under the KCL daemon or as a service) and
 * src/app-opens/lambda/lastopens.ts (the Lambda function); the HTTP API is src/app-opens/api/.
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
export { lastOpensProcessor } from './lastopens/processor.js';
