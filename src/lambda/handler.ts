/**
 * The Lambda driver of the record pipeline: a handler for Kinesis event source mappings with
 * partial batch responses (`ReportBatchItemFailures`).
 *
 * Per invocation: map the event's records to the pipeline's shape, open KPL aggregates, run the
 * pipeline (decode -> process -> dead-letter) with a retry bounded by the invocation's remaining
 * time, and answer with the sequence number of the first Kinesis record not fully handled, so
 * that Lambda retries from there and keeps the shard's order. Poison records are dead-lettered,
 * never reported.
 */
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { Collector, newCounters, type PipelineCounters } from '../core/collector.js';
import { DEFAULT_METRICS_NAMESPACE, EmfMetrics, EmfWriter, checkNamespace, writeLineSync } from '../core/emf.js';
import { AbortedError, errorMessage } from '../core/errors.js';
import { TypedEmitter } from '../core/events.js';
import type { RuntimeEvents } from '../core/pipelineEvents.js';
import { RecordPipeline, resolveSingleOptions, type KeyOf, type ProcessorSpec } from '../core/pipeline.js';
import { resolveRetryOptions, type RetryOptions } from '../core/retry.js';
import { LogDeadLetterSink } from '../core/logDeadLetterSink.js';
import type { BatchProcessor, DeadLetterSink, Decoder, Logger, SingleProcessor } from '../core/types.js';
import { eventBatch } from './eventRecords.js';
import { createLambdaLogger } from './logger.js';

/** What the handler needs of Lambda's context object; a real `Context` has it all. */
export type LambdaContextLike = Pick<Context, 'getRemainingTimeInMillis'> & Partial<Pick<Context, 'awsRequestId' | 'functionName'>>;

/** A Lambda handler for Kinesis events that answers with a partial batch response. */
export type KinesisHandler = (event: KinesisStreamEvent, context: LambdaContextLike) => Promise<KinesisStreamBatchResponse>;

/**
 * Options of {@link createKinesisHandler}. Give `decoder` and exactly one of `singleProcessor` and
 * `batchProcessor` (the same types the KCL runtime takes); everything else has a default.
 */
export interface KinesisHandlerOptions<T> {
  /** Turns a record's bytes into the value the processor gets; throwing dead-letters the record. */
  decoder: Decoder<T>;
  /**
   * Handles one decoded record per call (as `runWithSingleProcessor`'s processor): records of one
   * partition key (or `keyOf` key) one after another in sequence order, different keys
   * concurrently, at most `concurrency` at a time.
   */
  singleProcessor?: SingleProcessor<T>;
  /** With `singleProcessor`: records in flight at once. Default 64; `1` is strict shard order. */
  concurrency?: number;
  /** With `singleProcessor`: which records must run one after another. Default: the partition key. */
  keyOf?: KeyOf<T>;
  /** Handles the decoded records of a batch at once (poison records already set aside). */
  batchProcessor?: BatchProcessor<T>;
  /** With `batchProcessor`: records per call, calls run concurrently. Default: the whole batch in one call. */
  chunkSize?: number;
  /** Where poison records go. Default: the log, at error level, with the record's data. */
  deadLetters?: DeadLetterSink;
  /** Default: {@link createLambdaLogger} (JSON lines on stdout, level `info`). */
  logger?: Logger;
  /**
   * In-process retries of retriable failures before the record is reported to Lambda. Default
   * {@link DEFAULT_LAMBDA_RETRY}: 4 attempts, 100 ms doubling, at most 1 s apart. Whatever the
   * setting, retrying stops `reserveMs` before the invocation's deadline.
   */
  retry?: RetryOptions;
  /**
   * Whether a processor's failure is worth another attempt (false: the record is dead-lettered).
   * Default `isRetriable`; see the pipeline's `classify`.
   */
  classify?: (err: unknown) => boolean;
  /**
   * Time kept back from `context.getRemainingTimeInMillis()`, in ms: when only this much is left,
   * waiting for a retry stops and the record in hand is reported. Default 1,000. A call already
   * running is not interrupted (its `signal` is aborted; its own timeouts bound it), so keep the
   * function timeout above the longest call plus this reserve.
   */
  reserveMs?: number;
  /**
   * Time kept back to answer, in ms: when only this much of `context.getRemainingTimeInMillis()`
   * is left and a call (say a Redis command that never returns) still holds the batch, the
   * handler stops waiting for it and reports the batch as failed from its first record (Lambda
   * retries it), instead of being killed by the timeout mid-way. Default 250; at most `reserveMs`.
   */
  deadlineMarginMs?: number;
  /** Open KPL aggregates into their user records. Default true. */
  deaggregate?: boolean;
  /** Counters to add to (they are cumulative across invocations). Default: fresh ones, see {@link KinesisHandlerWithCounters.counters}. */
  counters?: PipelineCounters;
  /** One CloudWatch EMF metrics blob per invocation on stdout (see {@link LambdaMetricsOptions}). Default: off. */
  metrics?: LambdaMetricsOptions;
}

/**
 * The per-invocation metrics of a Lambda handler: the figures of the KCL worker's metrics
 * (RecordsProcessed, RecordsDeadLettered, ProcessingFailures, BatchDurationP50/P99,
 * RecordsPerSecond, the processor's timings such as RedisWriteMs) as one Embedded Metric Format
 * document per invocation, with dimensions `[["StreamName","FunctionName"],["StreamName"]]`.
 * No Checkpoints (Lambda checkpoints by itself) and no MillisBehindLatest (Lambda publishes
 * IteratorAge for the event source mapping).
 *
 * @example
 * createKinesisHandler({ decoder, batchProcessor, metrics: { namespace: 'KinesisStreams' } });
 */
export interface LambdaMetricsOptions {
  /** CloudWatch namespace. Default `KinesisStreams`. */
  namespace?: string;
  /** The StreamName dimension. Default: the stream of the event's `eventSourceARN`. */
  streamName?: string;
  /** The FunctionName dimension. Default: `context.functionName`, else AWS_LAMBDA_FUNCTION_NAME. */
  functionName?: string;
  /** Where the document goes (one JSON line, without the newline). Default: stdout, synchronously. */
  write?: (line: string) => void;
}

/**
 * On Lambda, stdout IS where EMF belongs: the runtime ships every stdout line to CloudWatch Logs,
 * which extracts the metrics from it. (A KCL worker must never do this: its stdout belongs to the
 * daemon protocol, so its metrics go to a file or stderr instead, see kcl/metrics.ts.) Written
 * synchronously, so nothing is left in a buffer when the runtime freezes the container.
 */
const writeStdout = (line: string): void => writeLineSync(1, line);

/** The stream name in a Kinesis ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`), or undefined. */
function streamOfArn(arn: unknown): string | undefined {
  if (typeof arn !== 'string') return undefined;
  const m = /:stream\/([^/]+)/.exec(arn);
  return m?.[1];
}

/** The in-process retry of {@link KinesisHandlerOptions.retry} when none is given. */
export const DEFAULT_LAMBDA_RETRY: Readonly<Required<RetryOptions>> = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 1_000,
  factor: 2,
  maxAttempts: 4,
});

/** The defaults of {@link KinesisHandlerOptions}. */
export const DEFAULT_KINESIS_HANDLER_OPTIONS = Object.freeze({
  reserveMs: 1_000,
  deadlineMarginMs: 250,
  deaggregate: true,
  retry: DEFAULT_LAMBDA_RETRY,
});

/** A handler, and the counters it adds to (records, processed, deadLettered, failures). */
export type KinesisHandlerWithCounters = KinesisHandler & { readonly counters: PipelineCounters };

interface Resolved<T> {
  decoder: Decoder<T>;
  spec: ProcessorSpec<T>;
  deadLetters: DeadLetterSink | undefined;
  logger: Logger;
  retry: Required<RetryOptions>;
  reserveMs: number;
  deadlineMarginMs: number;
  deaggregate: boolean;
  counters: PipelineCounters;
  metrics: (Required<Pick<LambdaMetricsOptions, 'namespace' | 'write'>> & LambdaMetricsOptions) | undefined;
}

function resolve<T>(options: KinesisHandlerOptions<T>): Resolved<T> {
  if (typeof options !== 'object' || options === null) throw new TypeError('Expected options to be an object.');
  const d = DEFAULT_KINESIS_HANDLER_OPTIONS;
  if (typeof options.decoder !== 'function') throw new TypeError('Expected `decoder` to be a function.');
  const { batchProcessor, chunkSize } = options;
  const single = options.singleProcessor;
  if ((single === undefined) === (batchProcessor === undefined)) {
    throw new TypeError('Expected exactly one of `singleProcessor` and `batchProcessor`.');
  }
  if (single !== undefined && typeof single !== 'function') throw new TypeError('Expected `singleProcessor` to be a function.');
  if (batchProcessor !== undefined && typeof batchProcessor !== 'function') throw new TypeError('Expected `batchProcessor` to be a function.');
  if (chunkSize !== undefined) {
    if (single !== undefined) throw new TypeError('Expected `chunkSize` only with `batchProcessor`.');
    if (!(Number.isInteger(chunkSize) && chunkSize >= 1)) throw new TypeError('Expected `chunkSize` to be a positive integer.');
  }
  if (single === undefined && (options.concurrency !== undefined || options.keyOf !== undefined)) {
    throw new TypeError('Expected `concurrency` and `keyOf` only with `singleProcessor`.');
  }
  const reserveMs = options.reserveMs ?? d.reserveMs;
  if (!(Number.isFinite(reserveMs) && reserveMs >= 0)) throw new TypeError('Expected `reserveMs` to be a non-negative number.');
  const deadlineMarginMs = options.deadlineMarginMs ?? Math.min(d.deadlineMarginMs, reserveMs);
  if (!(Number.isFinite(deadlineMarginMs) && deadlineMarginMs >= 0 && deadlineMarginMs <= reserveMs)) {
    throw new TypeError('Expected `deadlineMarginMs` to be a non-negative number of ms, at most `reserveMs`.');
  }
  const deaggregate = options.deaggregate ?? d.deaggregate;
  if (typeof deaggregate !== 'boolean') throw new TypeError('Expected `deaggregate` to be a boolean.');
  if (options.deadLetters !== undefined && typeof options.deadLetters?.write !== 'function') {
    throw new TypeError('Expected `deadLetters` to have a `write` method.');
  }
  let metrics: Resolved<T>['metrics'];
  if (options.metrics !== undefined) {
    const m = options.metrics;
    if (typeof m !== 'object' || m === null) throw new TypeError('Expected `metrics` to be an object.');
    if (m.write !== undefined && typeof m.write !== 'function') throw new TypeError('Expected `metrics.write` to be a function.');
    metrics = { ...m, namespace: checkNamespace(m.namespace ?? DEFAULT_METRICS_NAMESPACE, 'metrics.namespace'), write: m.write ?? writeStdout };
  }
  let spec: ProcessorSpec<T>;
  if (single !== undefined) spec = { kind: 'single', processor: single, ...resolveSingleOptions(options) };
  else if (chunkSize !== undefined) spec = { kind: 'batch', processor: batchProcessor!, chunkSize };
  else spec = { kind: 'batch', processor: batchProcessor! };
  return {
    decoder: options.decoder,
    spec,
    deadLetters: options.deadLetters,
    logger: options.logger ?? createLambdaLogger(),
    retry: resolveRetryOptions({ ...d.retry, ...options.retry }),
    reserveMs,
    deadlineMarginMs,
    deaggregate,
    counters: options.counters ?? newCounters(),
    metrics,
  };
}

/**
 * Creates a Lambda handler for a Kinesis event source mapping that runs each invocation's records
 * through the same pipeline as the KCL runtime, with the same decoder, processor and dead-letter
 * sink. It answers with a partial batch response:
 *
 * - everything handled (processed, or poison and dead-lettered): `{ batchItemFailures: [] }`;
 * - a retriable failure that outlasts the in-process retry (or the invocation's time), or a
 *   dead-letter write that fails: `{ batchItemFailures: [{ itemIdentifier }] }` naming the
 *   sequence number of the Kinesis record that holds the first unhandled record. Later records
 *   of its key are not processed (records of other keys may have been: they come again);
 *   Lambda retries from that record, so each key's order is kept.
 *
 * The event source mapping must have `FunctionResponseTypes: ["ReportBatchItemFailures"]`; see
 * docs/lambda.md for the other settings. A malformed (non-Kinesis) event fails the invocation.
 *
 * @example
 * import { createKinesisHandler } from 'kinesis-streams/lambda';
 * import { appOpenDecoder } from 'kinesis-streams/app-opens';
 * export const handler = createKinesisHandler({
 *   decoder: appOpenDecoder,
 *   singleProcessor: async (event, { logger }) => { logger.info({ platform: event.platform }, 'app open'); },
 * });
 */
export function createKinesisHandler<T>(options: KinesisHandlerOptions<T>): KinesisHandlerWithCounters {
  const o = resolve(options);
  const deadLetters = o.deadLetters ?? new LogDeadLetterSink(o.logger);
  const emf = o.metrics && new EmfWriter({ namespace: o.metrics.namespace, dimensionSets: [['StreamName', 'FunctionName'], ['StreamName']], write: o.metrics.write });
  const handler = async (event: KinesisStreamEvent, context: LambdaContextLike): Promise<KinesisStreamBatchResponse> => {
    const started = performance.now();
    const { shardId, records, origin } = eventBatch(event, { deaggregate: o.deaggregate });
    if (records.length === 0) return { batchItemFailures: [] };
    const logger = o.logger.child({ shardId, ...(context.awsRequestId ? { requestId: context.awsRequestId } : {}) });
    // A hook and a collector per invocation: its metrics (and its last error) are this
    // invocation's alone, even if calls overlap; its totals add to the handler's counters.
    const instrumentation = new TypedEmitter<RuntimeEvents>((err) => logger.warn({ err: errorMessage(err) }, 'instrumentation listener failed (ignored)'));
    const collector = new Collector(instrumentation, { totals: o.counters });
    const metrics = o.metrics ? new EmfMetrics(collector) : undefined;
    const pipeline = new RecordPipeline<T>({
      decoder: o.decoder,
      spec: o.spec,
      deadLetters,
      retry: o.retry,
      logger,
      instrumentation,
      classify: options.classify,
    });
    const abort = new AbortController();
    const remaining = remainingMs(context);
    const budgetMs = Math.max(0, remaining - o.reserveMs);
    // setTimeout takes at most 2^31-1 ms; a larger value would fire at once.
    const timer = setTimeout(() => abort.abort(), Math.min(budgetMs, 2_147_483_647));
    // The hard deadline: a call that ignores the abort (a command that never returns) must not
    // let Lambda kill the invocation mid-way; answer before, from the first record.
    let deadlineTimer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      deadlineTimer = setTimeout(() => resolve('deadline'), Math.min(Math.max(0, remaining - o.deadlineMarginMs), 2_147_483_647));
    });
    let outcome;
    let lastError: string | null = null;
    const offRetry = instrumentation.on('retry', (e) => (lastError = e.error));
    try {
      const run = pipeline.run({ shardId, records, millisBehindLatest: null, signal: abort.signal });
      run.catch(() => undefined); // if the deadline wins, a late rejection goes nowhere
      outcome = await Promise.race([run, deadline]);
      if (outcome === 'deadline') {
        abort.abort();
        const inHandMs = Math.round(performance.now() - started);
        const first = event.Records[0]!.kinesis.sequenceNumber;
        instrumentation.emit('stuckBatch', { shardId, action: 'invocation', sequenceNumber: first, inHandMs, lastError });
        logger.error(
          { kinesisRecords: event.Records.length, userRecords: records.length, itemIdentifier: first, inHandMs, deadlineMarginMs: o.deadlineMarginMs, lastError },
          `invocation deadline: a call still holds the batch with ${o.deadlineMarginMs} ms left; reporting the batch from its first record so Lambda retries it (not waiting to be killed)`,
        );
        return { batchItemFailures: [{ itemIdentifier: first }] };
      }
    } finally {
      clearTimeout(timer);
      clearTimeout(deadlineTimer);
      offRetry();
      if (metrics && emf && o.metrics) writeMetrics(o.metrics, emf, metrics, event, context, logger);
    }
    const summary = {
      kinesisRecords: event.Records.length,
      userRecords: records.length,
      processed: outcome.processed,
      deadLettered: outcome.deadLettered,
      durationMs: Math.round(performance.now() - started),
    };
    if (outcome.complete) {
      logger.info(summary, 'batch handled');
      return { batchItemFailures: [] };
    }
    const failed = records[outcome.firstUnhandled]!;
    const holder = event.Records[origin[outcome.firstUnhandled]!]!;
    const timedOut = outcome.error instanceof AbortedError || abort.signal.aborted;
    logger.warn(
      {
        ...summary,
        itemIdentifier: holder.kinesis.sequenceNumber,
        sequenceNumber: failed.sequenceNumber,
        subSequenceNumber: failed.subSequenceNumber,
        err: timedOut ? `the invocation's time ran out (reserveMs ${o.reserveMs})` : errorMessage(outcome.error),
      },
      'batch not fully handled: reporting the first unhandled record so Lambda retries from it',
    );
    return { batchItemFailures: [{ itemIdentifier: holder.kinesis.sequenceNumber }] };
  };
  return Object.assign(handler, { counters: o.counters });
}

function writeMetrics(
  m: NonNullable<Resolved<unknown>['metrics']>,
  emf: EmfWriter,
  metrics: EmfMetrics,
  event: KinesisStreamEvent,
  context: LambdaContextLike,
  logger: Logger,
): void {
  try {
    emf.write(
      metrics.take(),
      {
        StreamName: m.streamName ?? streamOfArn(event.Records[0]?.eventSourceARN) ?? 'unknown',
        FunctionName: m.functionName ?? context.functionName ?? process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'unknown',
      },
      context.awsRequestId ? { requestId: context.awsRequestId } : undefined,
    );
  } catch (err) {
    logger.warn({ err: errorMessage(err) }, 'metrics could not be written (ignored)');
  }
}

function remainingMs(context: LambdaContextLike): number {
  const ms = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : Number.NaN;
  // Without a usable context (a hand-made call), retry within the retry options alone.
  return Number.isFinite(ms) ? ms : Number.MAX_SAFE_INTEGER;
}
