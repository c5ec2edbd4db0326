/**
 * The Lambda side of the package (`kinesis-streams/lambda`): a handler factory for Kinesis event
 * source mappings with partial batch responses, KPL de-aggregation, the Lambda logger, and a
 * context for local runs. The app's lastopens function (src/app-opens/lambda/lastopens.ts) is built
 * on it; it lives in the repository, not in the npm package: write yours as docs/lambda.md shows.
 *
 * @example
 * import { createKinesisHandler } from 'kinesis-streams/lambda';
 * import { appOpenDecoder } from 'kinesis-streams/app-opens';
 * export const handler = createKinesisHandler({ decoder: appOpenDecoder, singleProcessor: async (event, { logger }) => logger.info({ platform: event.platform }, 'app open') });
 */
export { createKinesisHandler } from './handler.js';
export type { KinesisHandler, KinesisHandlerOptions, KinesisHandlerWithCounters, LambdaContextLike, LambdaMetricsOptions } from './handler.js';
export { createLambdaLogger } from './logger.js';
export type { LambdaLoggerOptions } from './logger.js';
export { createLocalContext } from './localContext.js';
export type { LocalContextOptions } from './localContext.js';
