/**
 * The Lambda side of the package (`kinesis-streams/lambda`): a handler factory for Kinesis event
 * source mappings with partial batch responses, KPL de-aggregation, the Lambda logger, and a
 * context for local runs. The deployable lastopens function is dist/app-opens/lambda/lastopens.js.
 *
 * @example
 * import { createKinesisHandler } from 'kinesis-streams/lambda';
 * export const handler = createKinesisHandler({ decoder, batchProcessor, deadLetters });
 */
export { createKinesisHandler } from './handler.js';
export type { KinesisHandler, KinesisHandlerOptions, KinesisHandlerWithCounters, LambdaContextLike, LambdaMetricsOptions } from './handler.js';
export { createLambdaLogger } from './logger.js';
export type { LambdaLoggerOptions } from './logger.js';
export { createLocalContext } from './localContext.js';
export type { LocalContextOptions } from './localContext.js';
