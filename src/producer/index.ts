/**
 * The producer side: a batching, retrying Kinesis producer. Imported as
 * `kinesis-streams/producer` so that workers never load the AWS SDK. Every export is documented
 * where it is defined.
 *
 * @example
 * import { BatchProducer, createKinesisClient } from 'kinesis-streams/producer';
 */
export { BatchProducer } from './batchProducer.js';
export type { FlushResult } from './batchProducer.js';
export { PRODUCER_DEFAULTS } from './options.js';
export type { BatchProducerOptions, ProducerRecord, ProducerStats, PutRecordsSender } from './options.js';
export { AbandonedAtStopError, BufferFullError, ProducerClosedError, PutRecordFailedError, RecordLimitError } from './errors.js';
export type { RecordLimit } from './errors.js';
export { createKinesisClient } from './client.js';
export { classifyRequestError } from './requestErrors.js';
export type { KinesisClientOptions } from './client.js';
