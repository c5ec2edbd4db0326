/**
 * Types shared by every runtime (KCL daemon, Lambda, tests, benchmarks).
 */

/**
 * A Kinesis record as a runtime delivers it, before decoding. The shape is the multilang
 * protocol's; the Lambda adapter maps its events onto it.
 */
export interface KinesisRecord {
  /** The record's bytes, base64-encoded, exactly as received. */
  data: string;
  partitionKey: string;
  /** Decimal digits; compare as strings of equal length or as BigInt, never as Number. */
  sequenceNumber: string;
  /** 0 unless the record came out of a KPL aggregate. */
  subSequenceNumber: number;
  /** Milliseconds since the epoch, when known. */
  approximateArrivalTimestamp: number | null;
}

/** A record and the value its decoder produced. */
export interface DecodedRecord<T> {
  value: T;
  record: KinesisRecord;
}

/**
 * Turns a record's bytes into a typed value. Throwing (any error) marks the record as poison:
 * it goes to the dead-letter sink with the error's message as the reason.
 *
 * @example
 * const json: Decoder<unknown> = (data) => JSON.parse(data.toString('utf8'));
 */
export type Decoder<T> = (data: Buffer, record: KinesisRecord) => T;

/** A record that could not be used, and why. */
export interface DeadLetter {
  shardId: string;
  record: KinesisRecord;
  /** One line a person can act on, e.g. "ValidationError: platform must match ...". */
  reason: string;
}

/**
 * What a {@link DeadLetterSink} may report about a write that succeeded.
 */
export interface DeadLetterWriteResult {
  /**
   * Letters already stored (older ones, possibly written by other workers) that the sink removed
   * to stay inside its bounds while storing these. The letters just written are all stored.
   */
  dropped: number;
}

/**
 * Where records that cannot be used go. Writing a dead letter is part of handling its record:
 * when `write` rejects, the batch is retried and not checkpointed.
 *
 * @example
 * const sink: DeadLetterSink = { async write(letters) { for (const l of letters) console.error(l.reason); } };
 */
export interface DeadLetterSink {
  /**
   * Stores the letters. May resolve with {@link DeadLetterWriteResult} to report older letters it
   * dropped to stay inside its bounds (counted in the stats line and the metrics).
   */
  write(letters: readonly DeadLetter[]): Promise<void | DeadLetterWriteResult>;
  /**
   * True when `write` itself logs each letter (as the default, the log sink, does): the pipeline
   * then writes no `dead-lettering record` line of its own, so a dead letter is one line. Default
   * false: the pipeline logs one warn line per letter before handing it to the sink.
   */
  readonly logsLetters?: boolean;
}

/**
 * The logging surface the framework needs; a pino logger satisfies it.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** What a per-record processor is told besides the value. */
export interface RecordContext {
  shardId: string;
  record: KinesisRecord;
  logger: Logger;
  /** Aborted when the worker is shutting down: long work should stop early. */
  signal: AbortSignal;
  /** Reports a duration the processor measured (see {@link ReportTiming}). */
  reportTiming: ReportTiming;
}

/**
 * Reports a duration a processor measured, e.g. the time of its write to a store, under a name
 * (`RedisWrite`). It reaches the instrumentation hook as a `timing` event; the metrics publish it
 * as `<name>Ms` (the sum), `<name>P99` and `<name>Count`. Costs nothing when nobody listens.
 *
 * @example
 * const processor: BatchProcessor<AppOpen> = async (records, ctx) => {
 *   const t0 = performance.now();
 *   await recordLastOpens(redis, records.map((r) => r.value));
 *   ctx.reportTiming('RedisWrite', performance.now() - t0);
 * };
 */
export type ReportTiming = (name: string, durationMs: number) => void;

/**
 * Handles one decoded record (the single-record mode: `runWithSingleProcessor`, the Lambda
 * handler's `singleProcessor`). Throw to fail it: a retriable error (see `isRetriable`) is retried
 * with backoff and blocks the checkpoint; a non-retriable one dead-letters the record.
 *
 * @example
 * const processor: SingleProcessor<AppOpen> = async (event, { logger }) => {
 *   logger.debug({ userId: String(event.userId) }, 'app open');
 * };
 */
export type SingleProcessor<T> = (value: T, ctx: RecordContext) => unknown;

/** What a batch processor is told besides the records. */
export interface BatchContext {
  shardId: string;
  logger: Logger;
  millisBehindLatest: number | null;
  signal: AbortSignal;
  /** Reports a duration the processor measured (see {@link ReportTiming}). */
  reportTiming: ReportTiming;
}

/**
 * Optional answer of a batch processor: the records (by index into the array it was given)
 * that are poison. They are dead-lettered with the given error's message; the rest count as done.
 */
export interface BatchResult {
  failed?: ReadonlyArray<{ index: number; error: unknown }>;
}

/**
 * Handles decoded records a batch at a time. Throwing a retriable error retries the whole batch
 * (so the work must be idempotent); throwing a non-retriable one dead-letters every record in it;
 * returning {@link BatchResult} dead-letters just the records it names.
 *
 * @example
 * const processor: BatchProcessor<AppOpen> = async (records) => {
 *   await recordLastOpens(redis, records.map((r) => r.value));
 * };
 */
export type BatchProcessor<T> = (
  records: ReadonlyArray<DecodedRecord<T>>,
  ctx: BatchContext,
) => void | BatchResult | Promise<void | BatchResult>;
