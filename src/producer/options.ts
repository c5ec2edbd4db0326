/**
 * Options of the {@link BatchProducer}: their types, their defaults (in one place) and their
 * validation.
 */
import type { PutRecordsCommand, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { resolveRetryOptions, type RetryOptions } from '../core/retry.js';
import type { Logger } from '../core/types.js';

/**
 * What the producer needs of a Kinesis client: a `KinesisClient` satisfies it. Tests and
 * benchmarks pass one pointed at a local stand-in.
 *
 * @example
 * import { KinesisClient } from '@aws-sdk/client-kinesis';
 * const client: PutRecordsSender = new KinesisClient({ region: 'eu-west-1' });
 */
export interface PutRecordsSender {
  send(command: PutRecordsCommand, options?: { abortSignal?: AbortSignal }): Promise<PutRecordsCommandOutput>;
}

/**
 * A record as the producer holds it and reports it to `onDropped`.
 */
export interface ProducerRecord {
  data: Uint8Array;
  partitionKey: string;
  explicitHashKey: string | undefined;
}

/**
 * Counters of a producer since it was created, plus request latency since the previous report.
 */
export interface ProducerStats {
  /** Records Kinesis acknowledged. */
  sent: number;
  /** Records handed to `onDropped`: out of attempts, refused for good, or abandoned at stop. */
  dropped: number;
  /** Records put back in the queue for another try (per-record or whole-request failure). */
  retried: number;
  /** Failed record attempts by the ErrorCode of a PutRecords result (ProvisionedThroughputExceededException, InternalFailure). */
  recordFailures: Record<string, number>;
  /** Failed PutRecords calls by error (SDK error name such as InternalFailure or ThrottlingException, ECONNRESET, RequestTimeout). */
  requestFailures: Record<string, number>;
  /** PutRecords calls made, and those that failed as a whole. */
  requests: number;
  requestsFailed: number;
  /** Records held now: queued, in flight, or waiting to be retried. */
  buffered: number;
  /** Bytes (data + partition key) of the records held now. */
  bufferedBytes: number;
  /** PutRecords calls in flight now. */
  inFlight: number;
  /** Latency of the PutRecords calls that ended since the previous stats report, in ms. */
  latencyMs: { count: number; mean: number; max: number };
}

/**
 * Options of a {@link BatchProducer}. Only `client` and `streamName` (or `streamARN`) are required.
 *
 * @example
 * const options: BatchProducerOptions = { client: createKinesisClient(), streamName: 'app-opens', whenFull: 'wait', maxInFlight: 8 };
 */
export interface BatchProducerOptions {
  /** The Kinesis client (or anything with its `send`). Give it `maxAttempts: 1`: the producer retries. */
  client: PutRecordsSender;
  /** The stream to write to. One of `streamName` and `streamARN` is required. */
  streamName?: string;
  streamARN?: string;
  /** Records per PutRecords call, 1..500. Default 500 (the Kinesis limit). */
  maxBatchRecords?: number;
  /** Bytes (data + partition keys) per PutRecords call. Default 10 MiB (the current Kinesis limit; 5 MiB on older accounts). */
  maxRequestBytes?: number;
  /** Bytes (data + partition key) of one record. Default 1 MiB (a stream's default maximum record size). */
  maxRecordBytes?: number;
  /** A partial batch is sent once its oldest record has waited this long, in ms. Default 100. */
  flushIntervalMs?: number;
  /** PutRecords calls in flight at once. Default 4. */
  maxInFlight?: number;
  /** Records held at once (queued, in flight, awaiting retry). Default 20,000. */
  maxBufferedRecords?: number;
  /** Bytes held at once. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** What `add` does when the buffer is full: wait for room (`'wait'`) or reject with BufferFullError (`'reject'`). Default `'reject'`. */
  whenFull?: 'wait' | 'reject';
  /** Attempts per record, the first included, counting only per-record failures. Default 10. */
  maxAttemptsPerRecord?: number;
  /** Backoff between attempts (per-record and whole-request). Default: 100 ms doubling up to 5 s, with full jitter. */
  retry?: Omit<RetryOptions, 'maxAttempts'>;
  /** A PutRecords call that takes longer is aborted and retried as a whole, in ms. Default 10,000. */
  requestTimeoutMs?: number;
  /** Told about each record the producer gives up on, with the last error. Default: logged at error level through `logger` (always counted in `stats().dropped`). */
  onDropped?: (record: ProducerRecord, error: Error) => void;
  /** Called with {@link ProducerStats} every `statsIntervalMs` while started. Default: none. */
  onStats?: (stats: ProducerStats) => void;
  /** Interval of `onStats`, in ms. Default 60,000. */
  statsIntervalMs?: number;
  /** Where the producer logs retries and drops. Default: silent. */
  logger?: Logger;
}

/**
 * The options after defaults were applied and checks passed.
 */
export interface ResolvedProducerOptions {
  client: PutRecordsSender;
  streamName: string | undefined;
  streamARN: string | undefined;
  maxBatchRecords: number;
  maxRequestBytes: number;
  maxRecordBytes: number;
  flushIntervalMs: number;
  maxInFlight: number;
  maxBufferedRecords: number;
  maxBufferedBytes: number;
  whenFull: 'wait' | 'reject';
  maxAttemptsPerRecord: number;
  retry: Required<RetryOptions>;
  requestTimeoutMs: number;
  onDropped: ((record: ProducerRecord, error: Error) => void) | undefined;
  onStats: ((stats: ProducerStats) => void) | undefined;
  statsIntervalMs: number;
  logger: Logger | undefined;
}

const MiB = 1024 * 1024;

/**
 * The defaults of {@link BatchProducerOptions}.
 */
export const PRODUCER_DEFAULTS = Object.freeze({
  maxBatchRecords: 500,
  maxRequestBytes: 10 * MiB,
  maxRecordBytes: 1 * MiB,
  flushIntervalMs: 100,
  maxInFlight: 4,
  maxBufferedRecords: 20_000,
  maxBufferedBytes: 64 * MiB,
  whenFull: 'reject' as 'wait' | 'reject',
  maxAttemptsPerRecord: 10,
  retry: Object.freeze({ initialDelayMs: 100, maxDelayMs: 5_000, factor: 2 }),
  requestTimeoutMs: 10_000,
  statsIntervalMs: 60_000,
});

function positiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!(Number.isInteger(value) && value >= 1 && value <= max)) {
    throw new TypeError(`Expected \`${name}\` to be an integer in [1, ${max}], got ${String(value)}.`);
  }
  return value;
}

/**
 * Applies defaults and checks every option, with a message that names the wrong one.
 */
export function resolveProducerOptions(options: BatchProducerOptions): ResolvedProducerOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('Expected producer options to be an object.');
  const d = PRODUCER_DEFAULTS;
  if (typeof options.client?.send !== 'function') throw new TypeError('Expected `client` to have a send() method (a KinesisClient).');
  if (!options.streamName && !options.streamARN) throw new TypeError('Expected `streamName` or `streamARN` to be a non-empty string.');
  const whenFull = options.whenFull ?? d.whenFull;
  if (whenFull !== 'wait' && whenFull !== 'reject') throw new TypeError("Expected `whenFull` to be 'wait' or 'reject'.");
  const r: ResolvedProducerOptions = {
    client: options.client,
    streamName: options.streamName || undefined,
    streamARN: options.streamARN || undefined,
    maxBatchRecords: positiveInt('maxBatchRecords', options.maxBatchRecords ?? d.maxBatchRecords, 500),
    maxRequestBytes: positiveInt('maxRequestBytes', options.maxRequestBytes ?? d.maxRequestBytes),
    maxRecordBytes: positiveInt('maxRecordBytes', options.maxRecordBytes ?? d.maxRecordBytes),
    flushIntervalMs: positiveInt('flushIntervalMs', options.flushIntervalMs ?? d.flushIntervalMs),
    maxInFlight: positiveInt('maxInFlight', options.maxInFlight ?? d.maxInFlight),
    maxBufferedRecords: positiveInt('maxBufferedRecords', options.maxBufferedRecords ?? d.maxBufferedRecords),
    maxBufferedBytes: positiveInt('maxBufferedBytes', options.maxBufferedBytes ?? d.maxBufferedBytes),
    whenFull,
    maxAttemptsPerRecord: positiveInt('maxAttemptsPerRecord', options.maxAttemptsPerRecord ?? d.maxAttemptsPerRecord),
    retry: resolveRetryOptions({ ...d.retry, ...stripUndefined(options.retry ?? {}) }),
    requestTimeoutMs: positiveInt('requestTimeoutMs', options.requestTimeoutMs ?? d.requestTimeoutMs),
    onDropped: options.onDropped,
    onStats: options.onStats,
    statsIntervalMs: positiveInt('statsIntervalMs', options.statsIntervalMs ?? d.statsIntervalMs),
    logger: options.logger,
  };
  if (r.maxRecordBytes > r.maxRequestBytes) throw new TypeError('Expected `maxRecordBytes` to be <= `maxRequestBytes`.');
  if (r.maxBufferedBytes < r.maxRecordBytes) throw new TypeError('Expected `maxBufferedBytes` to be >= `maxRecordBytes`.');
  if (options.onDropped !== undefined && typeof options.onDropped !== 'function') throw new TypeError('Expected `onDropped` to be a function.');
  if (options.onStats !== undefined && typeof options.onStats !== 'function') throw new TypeError('Expected `onStats` to be a function.');
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
