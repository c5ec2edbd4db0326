/**
 * The errors a {@link BatchProducer} rejects with or reports to `onDropped`.
 */
import { NonRetriableError, RetriableError, StreamError } from '../core/errors.js';

/**
 * Which Kinesis limit a record broke at `add`.
 */
export type RecordLimit = 'maxRecordBytes' | 'partitionKeyLength' | 'explicitHashKey' | 'data';

/**
 * A record was refused at `add` because it breaks a Kinesis limit; `limit` says which one.
 * Nothing was buffered. Retrying the same record cannot help.
 *
 * @example
 * try { await producer.add(data, 'user-42'); } catch (e) { if (e instanceof RecordLimitError) logger.warn({ limit: e.limit }, 'refused'); }
 */
export class RecordLimitError extends NonRetriableError {
  override name = 'RecordLimitError';
  readonly limit: RecordLimit;
  constructor(limit: RecordLimit, message: string) {
    super(message);
    this.limit = limit;
  }
}

/**
 * The buffer is full and the producer is configured with `whenFull: 'reject'`. Nothing was
 * buffered; the caller may try again later (an HTTP API answers 503).
 *
 * @example
 * const buffered = await producer.add(data, 'user-42').then(() => true, (e) => { if (e instanceof BufferFullError) return false; throw e; });
 * // false: answer 503, ask the client to retry later
 */
export class BufferFullError extends RetriableError {
  override name = 'BufferFullError';
  constructor(message: string) {
    super(message);
  }
}

/**
 * `add` was called after `stop`, or a waiting `add` was cut short by `stop`.
 *
 * @example
 * await producer.stop(5000);
 * await producer.add(data, 'user-42'); // rejects with ProducerClosedError
 */
export class ProducerClosedError extends StreamError {
  override name = 'ProducerClosedError';
  constructor(message = 'the producer is stopped: add() is no longer accepted') {
    super(message, { retriable: false });
  }
}

/**
 * Kinesis refused one record of a PutRecords call (`code` is its ErrorCode, e.g.
 * ProvisionedThroughputExceededException or InternalFailure). Reported to `onDropped` as the last
 * error of a record that ran out of attempts.
 *
 * @example
 * new BatchProducer({ client: createKinesisClient(), streamName: 'app-opens',
 *   onDropped: (record, error) => { if (error instanceof PutRecordFailedError) logger.warn({ code: error.code }, 'dropped'); } });
 */
export class PutRecordFailedError extends RetriableError {
  override name = 'PutRecordFailedError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/**
 * A record was still held by the producer when `stop`'s timeout ran out. It may or may not have
 * reached the stream (its request may have been in flight): treat it as not delivered.
 *
 * @example
 * new BatchProducer({ client: createKinesisClient(), streamName: 'app-opens',
 *   onDropped: (record, error) => { if (error instanceof AbandonedAtStopError) logger.warn({ key: record.partitionKey }, 'abandoned at stop, may have arrived'); } });
 */
export class AbandonedAtStopError extends StreamError {
  override name = 'AbandonedAtStopError';
  constructor(timeoutMs: number) {
    super(`the producer stopped with this record still buffered after waiting ${timeoutMs} ms`, { retriable: true });
  }
}
