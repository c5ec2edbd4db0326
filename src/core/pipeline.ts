/**
 * The record pipeline every runtime drives: decode -> process -> (bad record) dead-letter ->
 * outcome. The KCL runtime and the Lambda adapter differ only in what they do with the outcome.
 */
import { AbortedError, errorMessage, isRetriable } from './errors.js';
import type { BatchTimings, PipelineEmitter } from './pipelineEvents.js';
import { resolveRetryOptions, withRetry, type RetryOptions } from './retry.js';
import type {
  BatchProcessor,
  BatchResult,
  DeadLetter,
  DeadLetterSink,
  DeadLetterWriteResult,
  DecodedRecord,
  Decoder,
  KinesisRecord,
  Logger,
  SingleProcessor,
} from './types.js';

/** Which kind of processor a pipeline calls. */
export type ProcessorSpec<T> =
  /**
   * One record per call (`runWithSingleProcessor`, the Lambda handler's `singleProcessor`):
   * records of one key (`keyOf`, default the partition key) one after another in sequence order,
   * records of different keys concurrently, at most `concurrency` at a time.
   */
  | ({ kind: 'single'; processor: SingleProcessor<T> } & SingleProcessorOptions<T>)
  | {
      kind: 'batch';
      processor: BatchProcessor<T>;
      /**
       * Records per processor call. Default: the whole batch. A smaller value lets processing of
       * one chunk overlap decoding of the next; only for idempotent, order-insensitive work.
       */
      chunkSize?: number;
    };

/**
 * The key whose records a single processor handles one after another, in sequence order. Records
 * of different keys run concurrently. Compared as a `Map` key (SameValueZero). Throwing
 * dead-letters the record, as a decoder's throw does.
 *
 * @example
 * const byUser: KeyOf<AppOpen> = (event) => event.userId; // instead of the partition key
 */
export type KeyOf<T> = (value: T, record: KinesisRecord) => unknown;

/**
 * How a single processor is called within a batch.
 *
 * @example
 * runWithSingleProcessor({ decoder, concurrency: 1 }, processor); // strict shard order
 */
export interface SingleProcessorOptions<T> {
  /**
   * Records in flight at once, across keys. Default {@link DEFAULT_CONCURRENCY}. `1` handles the
   * batch strictly in shard order, one record at a time, and stops at the first record whose
   * retries ran out, as a plain loop would.
   */
  concurrency?: number;
  /** Which records must run one after another. Default: the record's partition key. */
  keyOf?: KeyOf<T>;
}

/**
 * The default bound on records in flight in a batch of a single processor: enough that per-event
 * writes fill a Redis pipeline (ioredis auto-pipelining) and the round trip stops being the limit.
 */
export const DEFAULT_CONCURRENCY = 64;

const byPartitionKey = (_value: unknown, record: KinesisRecord): string => record.partitionKey;

/** Checks `concurrency` and `keyOf` and fills in their defaults. */
export function resolveSingleOptions<T>(options: SingleProcessorOptions<T>): Required<SingleProcessorOptions<T>> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new TypeError('Expected `concurrency` to be a positive integer.');
  const keyOf = options.keyOf ?? byPartitionKey;
  if (typeof keyOf !== 'function') throw new TypeError('Expected `keyOf` to be a function.');
  return { concurrency, keyOf };
}

export interface PipelineOptions<T> {
  decoder: Decoder<T>;
  spec: ProcessorSpec<T>;
  deadLetters: DeadLetterSink;
  retry?: RetryOptions;
  /** Logger of the shard: the driver binds `shardId` to it (the pipeline never repeats it in a line). */
  logger: Logger;
  /**
   * Where the pipeline tells what it did (its only output besides the outcome): batchStarted,
   * batchDone, batchTimings, retry, deadLetter, timing (see {@link PipelineEvents}). Default: nowhere.
   */
  instrumentation?: PipelineEmitter;
  /**
   * Whether a processor's failure is worth another attempt (true: retried, and the batch stops
   * there once retries run out; false: the record is dead-lettered). Default {@link isRetriable}.
   */
  classify?: (err: unknown) => boolean;
}

/** One batch to run through the pipeline. */
export interface PipelineBatch {
  shardId: string;
  records: readonly KinesisRecord[];
  millisBehindLatest: number | null;
  signal: AbortSignal;
}

/**
 * What happened to a batch. `complete` means every record was handled (processed or
 * dead-lettered): the runtime may checkpoint the last one. Otherwise `firstUnhandled` is the index
 * of the earliest record that was not, and nothing at or after it may be checkpointed.
 */
export type PipelineOutcome =
  | { complete: true; processed: number; deadLettered: number }
  | { complete: false; firstUnhandled: number; error: unknown; processed: number; deadLettered: number };

/**
 * Runs batches through decode, process and dead-letter, with retries. What it did goes out as
 * events on `instrumentation` (per batch, and per failure), nowhere else: the runtimes' stats
 * line and metrics are a collector of those events (collector.ts).
 */
export class RecordPipeline<T> {
  private readonly retry: Required<RetryOptions>;
  private readonly classify: (err: unknown) => boolean;
  private logger: Logger;

  constructor(private readonly options: PipelineOptions<T>) {
    this.logger = options.logger;
    this.classify = options.classify ?? isRetriable;
    if (typeof this.classify !== 'function') throw new TypeError('Expected `classify` to be a function.');
    this.retry = resolveRetryOptions(options.retry);
    if (options.spec.kind === 'single') resolveSingleOptions(options.spec);
    if (options.spec.kind === 'batch' && options.spec.chunkSize !== undefined) {
      const n = options.spec.chunkSize;
      if (!(Number.isInteger(n) && n >= 1)) throw new TypeError('Expected `chunkSize` to be a positive integer.');
    }
  }

  /** Logs from now on go to `logger` (the runtimes switch to a per-shard child once they know the shard). */
  setLogger(logger: Logger): void {
    this.logger = logger;
  }

  /** Runs one batch. Never throws for a record's failure; see {@link PipelineOutcome}. */
  async run(batch: PipelineBatch): Promise<PipelineOutcome> {
    const started = performance.now();
    const events = this.options.instrumentation;
    events?.emit('batchStarted', { shardId: batch.shardId, records: batch.records.length, millisBehindLatest: batch.millisBehindLatest });
    const state: BatchState = {
      letters: [],
      processed: 0,
      deadLettered: 0,
      failures: 0,
      firstUnhandled: batch.records.length,
      error: undefined,
      timings: { decodeMs: 0, processMs: 0, deadLetterMs: 0, totalMs: 0 },
    };
    let complete = false;
    try {
      const outcome = await this.runTimed(batch, state);
      complete = outcome.complete;
      return outcome;
    } finally {
      const timings = state.timings;
      timings.totalMs = performance.now() - started;
      if (events?.has('batchTimings')) events.emit('batchTimings', { shardId: batch.shardId, ...timings });
      // Counted as the batch went, so a batch cut short (abort, thrown error) reports what it did.
      events?.emit('batchDone', {
        shardId: batch.shardId,
        records: batch.records.length,
        processed: state.processed,
        deadLettered: state.deadLettered,
        failures: state.failures,
        durationMs: timings.totalMs,
        millisBehindLatest: batch.millisBehindLatest,
        complete,
      });
    }
  }

  /** The `reportTiming` a processor's context carries: a `timing` event for this shard. */
  private timingReporter(shardId: string): (name: string, durationMs: number) => void {
    const instrumentation = this.options.instrumentation;
    if (!instrumentation) return noTiming;
    return (name, durationMs) => instrumentation.emit('timing', { shardId, name, durationMs });
  }

  private async runTimed(batch: PipelineBatch, state: BatchState): Promise<PipelineOutcome> {
    const spec = this.options.spec;
    if (spec.kind === 'single') {
      const { concurrency, keyOf } = resolveSingleOptions(spec);
      if (concurrency === 1) await this.runRecords(batch, spec.processor, state);
      else await this.runByKey(batch, spec.processor, concurrency, keyOf, state);
    } else {
      await this.runChunks(batch, spec.processor, spec.chunkSize ?? Math.max(1, batch.records.length), state);
    }
    // Dead letters before the first unhandled record are part of the handled prefix; later ones
    // will be delivered again and dead-lettered then.
    // In shard order, whatever order the records settled in.
    if (spec.kind === 'single') state.letters.sort((a, b) => a.index - b.index);
    const letters = state.letters.filter((l) => l.index < state.firstUnhandled).map((l) => l.letter);
    if (letters.length > 0) {
      const t0 = performance.now();
      let written: void | DeadLetterWriteResult;
      try {
        written = await this.writeDeadLetters(letters, batch.signal, batch.shardId, state);
        state.timings.deadLetterMs = performance.now() - t0;
      } catch (error) {
        state.timings.deadLetterMs = performance.now() - t0;
        const firstLetter = state.letters.reduce((min, l) => Math.min(min, l.index), batch.records.length);
        state.firstUnhandled = Math.min(state.firstUnhandled, firstLetter);
        state.error ??= error;
        return this.incomplete(state, 0);
      }
      state.deadLettered = letters.length;
      const dropped = written?.dropped;
      this.options.instrumentation?.emit('deadLetter', { shardId: batch.shardId, count: letters.length, ...(typeof dropped === 'number' ? { dropped } : {}) });
    }
    if (state.firstUnhandled < batch.records.length) return this.incomplete(state, letters.length);
    return { complete: true, processed: state.processed, deadLettered: letters.length };
  }

  private incomplete(state: BatchState, deadLettered: number): PipelineOutcome {
    return {
      complete: false,
      firstUnhandled: state.firstUnhandled,
      error: state.error,
      processed: state.processed,
      deadLettered,
    };
  }

  private decode(shardId: string, record: KinesisRecord, index: number, state: BatchState): DecodedRecord<T> | undefined {
    try {
      return { value: this.options.decoder(Buffer.from(record.data, 'base64'), record), record };
    } catch (error) {
      state.letters.push({ index, letter: { shardId, record, reason: reasonOf(error) } });
      return undefined;
    }
  }

  private async runRecords(batch: PipelineBatch, processor: SingleProcessor<T>, state: BatchState): Promise<void> {
    const { shardId, records, signal } = batch;
    const reportTiming = this.timingReporter(shardId);
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const t0 = performance.now();
      const decoded = this.decode(shardId, record, i, state);
      const t1 = performance.now();
      state.timings.decodeMs += t1 - t0;
      if (decoded === undefined) continue;
      const ctx = { shardId, record, logger: this.logger, signal, reportTiming };
      try {
        await this.attempt(() => processor(decoded.value, ctx), batch, record, state);
        state.processed++;
        state.timings.processMs += performance.now() - t1;
      } catch (error) {
        state.timings.processMs += performance.now() - t1;
        if (stopsBatch(error, this.classify)) {
          state.firstUnhandled = i;
          state.error = error;
          return;
        }
        state.letters.push({ index: i, letter: { shardId, record, reason: reasonOf(error) } });
      }
    }
  }

  /**
   * The batch with records of different keys in flight at once (at most `limit`), each key's
   * records one after another in sequence order. A record that stops the batch (retries ran out,
   * abort) stops its key: the key's later records are not started; other keys go on. Once the
   * signal aborts, no record starts. `firstUnhandled` is then the first record not handled.
   */
  private async runByKey(batch: PipelineBatch, processor: SingleProcessor<T>, limit: number, keyOf: KeyOf<T>, state: BatchState): Promise<void> {
    const { shardId, records, signal } = batch;
    const n = records.length;
    const reportTiming = this.timingReporter(shardId);
    const handled = new Uint8Array(n);
    const values: T[] = new Array<T>(n);
    // Decoded first (the key may depend on the value); poison records are handled by their letter.
    const lanes = new Map<unknown, Lane>();
    const ready = new LaneHeap();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const record = records[i]!;
      const decoded = this.decode(shardId, record, i, state);
      if (decoded === undefined) {
        handled[i] = 1;
        continue;
      }
      values[i] = decoded.value;
      let key: unknown;
      try {
        key = keyOf(decoded.value, record);
      } catch (error) {
        // A key function that throws on a value: the value is unusable, as if decoding had failed.
        state.letters.push({ index: i, letter: { shardId, record, reason: reasonOf(error) } });
        handled[i] = 1;
        continue;
      }
      const lane = lanes.get(key);
      if (lane) lane.items.push(i);
      else {
        const fresh: Lane = { items: [i], pos: 0 };
        lanes.set(key, fresh);
        ready.push(fresh);
      }
    }
    const t1 = performance.now();
    state.timings.decodeMs += t1 - t0;
    lanes.clear();
    let stoppedAt = n;

    const runOne = async (i: number): Promise<boolean> => {
      const record = records[i]!;
      const ctx = { shardId, record, logger: this.logger, signal, reportTiming };
      try {
        await this.attempt(() => processor(values[i]!, ctx), batch, record, state);
        handled[i] = 1;
        state.processed++;
        return true;
      } catch (error) {
        if (stopsBatch(error, this.classify)) {
          if (i < stoppedAt) {
            stoppedAt = i;
            state.error = error;
          }
          return false;
        }
        state.letters.push({ index: i, letter: { shardId, record, reason: reasonOf(error) } });
        handled[i] = 1;
        return true;
      }
    };

    await new Promise<void>((resolve) => {
      let inFlight = 0;
      const pump = (): void => {
        while (inFlight < limit && ready.size > 0 && !signal.aborted) {
          const lane = ready.pop()!;
          const i = lane.items[lane.pos++]!;
          inFlight++;
          void runOne(i).then((goOn) => {
            inFlight--;
            if (goOn && lane.pos < lane.items.length) ready.push(lane);
            pump();
          });
        }
        if (inFlight === 0) resolve();
      };
      pump();
    });
    state.timings.processMs = performance.now() - t1;
    const first = handled.indexOf(0);
    if (first >= 0) {
      state.firstUnhandled = first;
      state.error ??= new AbortedError();
    }
  }

  private async runChunks(batch: PipelineBatch, processor: BatchProcessor<T>, chunkSize: number, state: BatchState): Promise<void> {
    const { shardId, records, signal } = batch;
    const ctx = { shardId, logger: this.logger, millisBehindLatest: batch.millisBehindLatest, signal, reportTiming: this.timingReporter(shardId) };
    const running: Array<Promise<void>> = [];
    let firstCall = -1;
    for (let start = 0; start < records.length; start += chunkSize) {
      const t0 = performance.now();
      const end = Math.min(records.length, start + chunkSize);
      const good: Array<DecodedRecord<T>> = [];
      const indexes: number[] = [];
      for (let i = start; i < end; i++) {
        const decoded = this.decode(shardId, records[i]!, i, state);
        if (decoded !== undefined) {
          good.push(decoded);
          indexes.push(i);
        }
      }
      const t1 = performance.now();
      state.timings.decodeMs += t1 - t0;
      if (good.length === 0) continue;
      if (firstCall < 0) firstCall = t1;
      running.push(this.runChunk(batch, processor, ctx, good, indexes, start, state));
    }
    await Promise.all(running);
    if (firstCall >= 0) state.timings.processMs = performance.now() - firstCall;
  }

  private async runChunk(
    batch: PipelineBatch,
    processor: BatchProcessor<T>,
    ctx: Parameters<BatchProcessor<T>>[1],
    good: Array<DecodedRecord<T>>,
    indexes: number[],
    start: number,
    state: BatchState,
  ): Promise<void> {
    let result: void | BatchResult;
    try {
      result = await this.attempt(() => processor(good, ctx), batch, good[0]!.record, state);
    } catch (error) {
      if (stopsBatch(error, this.classify)) {
        if (start < state.firstUnhandled) {
          state.firstUnhandled = start;
          state.error = error;
        }
        return;
      }
      const reason = reasonOf(error);
      for (let k = 0; k < good.length; k++) {
        state.letters.push({ index: indexes[k]!, letter: { shardId: batch.shardId, record: good[k]!.record, reason } });
      }
      return;
    }
    const failed = result?.failed ?? [];
    for (const f of failed) {
      const k = f.index;
      if (!(Number.isInteger(k) && k >= 0 && k < good.length)) {
        throw new RangeError(`batch processor reported failed index ${String(k)} outside [0, ${good.length})`);
      }
      state.letters.push({ index: indexes[k]!, letter: { shardId: batch.shardId, record: good[k]!.record, reason: reasonOf(f.error) } });
    }
    const ok = good.length - failed.length;
    state.processed += ok;
  }

  /**
   * Runs `fn`, with retries. The first attempt is a plain call (the common case, success, costs
   * no retry machinery per record); its failure enters {@link withRetry} as attempt 1.
   */
  private attempt<R>(fn: () => R | Promise<R>, batch: PipelineBatch, record: KinesisRecord, state: BatchState): Promise<R> {
    if (batch.signal.aborted) return Promise.reject(new AbortedError());
    let first: Promise<R>;
    try {
      first = Promise.resolve(fn());
    } catch (error) {
      first = Promise.reject(error);
    }
    return first.then(undefined, (error: unknown) => {
      let firstFailure = true;
      return this.retryAfter(() => {
        if (!firstFailure) return fn();
        firstFailure = false;
        throw error;
      }, batch, record, state);
    });
  }

  private retryAfter<R>(fn: () => R | Promise<R>, batch: PipelineBatch, record: KinesisRecord, state: BatchState): Promise<R> {
    return withRetry(async () => fn(), this.retry, {
      signal: batch.signal,
      classify: this.classify,
      onRetry: ({ attempt, delayMs, error }) => {
        state.failures++;
        this.options.instrumentation?.emit('retry', { shardId: batch.shardId, what: 'processor', attempt, delayMs, error: errorMessage(error) });
        this.logger.warn(
          {
            // shardId: the driver's logger binds it (a second copy would duplicate the JSON key).
            sequenceNumber: record.sequenceNumber,
            subSequenceNumber: record.subSequenceNumber,
            attempt,
            retryInMs: delayMs,
            err: errorMessage(error),
          },
          'retriable processor failure; retrying (not checkpointing past this record)',
        );
      },
    }).catch((error: unknown) => {
      if (!stopsBatch(error, this.classify)) state.failures++;
      throw error;
    });
  }

  /**
   * Hands the letters to the sink, retrying until it takes them. Each letter is one log line: a
   * warn line from here, or the sink's own when it declares `logsLetters` (the log sink).
   */
  private writeDeadLetters(letters: DeadLetter[], signal: AbortSignal, shardId: string, state: BatchState): Promise<void | DeadLetterWriteResult> {
    for (const l of this.options.deadLetters.logsLetters === true ? [] : letters) {
      this.logger.warn(
        {
          // shardId: the driver's logger binds it (a second copy would duplicate the JSON key).
          sequenceNumber: l.record.sequenceNumber,
          subSequenceNumber: l.record.subSequenceNumber,
          partitionKey: l.record.partitionKey,
          reason: l.reason,
        },
        'dead-lettering record',
      );
    }
    return withRetry(() => this.options.deadLetters.write(letters), this.retry, {
      signal,
      // The sink failing is never the record's fault: always worth another try.
      classify: () => true,
      onRetry: ({ attempt, delayMs, error }) => {
        state.failures++;
        this.options.instrumentation?.emit('retry', { shardId, what: 'deadLetterSink', attempt, delayMs, error: errorMessage(error) });
        this.logger.warn({ attempt, retryInMs: delayMs, err: errorMessage(error) }, 'dead-letter write failed; retrying');
      },
    });
  }
}

const noTiming = (): void => undefined;

/** The records of one key, in sequence order, and the next one to start. */
interface Lane {
  items: number[];
  pos: number;
}

/**
 * Lanes ready to start their next record, the lowest record index first: with a small
 * `concurrency`, the batch advances in shard order as far as the keys allow, which keeps the
 * handled prefix (what may be checkpointed) growing.
 */
class LaneHeap {
  private readonly heap: Lane[] = [];
  get size(): number {
    return this.heap.length;
  }
  private static at(l: Lane): number {
    return l.items[l.pos]!;
  }
  push(lane: Lane): void {
    const h = this.heap;
    let i = h.length;
    h.push(lane);
    const v = LaneHeap.at(lane);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (LaneHeap.at(h[parent]!) <= v) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = lane;
  }
  pop(): Lane | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    const v = LaneHeap.at(last);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && LaneHeap.at(h[r]!) < LaneHeap.at(h[l]!) ? r : l;
      if (LaneHeap.at(h[c]!) >= v) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

/** One batch's run: what it did so far (reported in `batchDone`) and where its time went. */
interface BatchState {
  letters: Array<{ index: number; letter: DeadLetter }>;
  processed: number;
  /** Letters the sink took. */
  deadLettered: number;
  /** Failed attempts: retried ones, and non-retriable processor failures (their records dead-lettered). */
  failures: number;
  firstUnhandled: number;
  error: unknown;
  timings: BatchTimings;
}

/**
 * Whether a processor's failure stops the batch (the record and everything after it stay
 * unhandled, nothing past them is checkpointed) instead of dead-lettering the record: an abort, a
 * retriable error whose retries ran out, or any retriable error that reached here.
 */
function stopsBatch(error: unknown, classify: (err: unknown) => boolean): boolean {
  if (error instanceof AbortedError || (error as { name?: unknown } | null)?.name === 'AbortedError') return true;
  if ((error as { name?: unknown } | null)?.name === 'RetriesExhaustedError') return true;
  return classify(error);
}

function reasonOf(error: unknown): string {
  return errorMessage(error).replace(/\s+/g, ' ').slice(0, 1000);
}
