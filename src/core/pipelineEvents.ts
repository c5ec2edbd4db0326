/**
 * The events of the record pipeline (what it did with a batch), and the events every runtime that
 * drives it adds (`RuntimeEvents`). A runtime declares its own on top of these (the KCL worker's
 * checkpoints and lifecycle: kcl/events.ts). Times are ms (performance.now() based durations).
 * Emitted per batch, or per failure: never per successful record.
 */
import type { TypedEmitter } from './events.js';

/**
 * Where the time of one batch went, ms. Decoding runs on this thread; processing of a chunk
 * overlaps the decoding of the next, so `decodeMs + processMs` can exceed the batch's wall time.
 */
export interface BatchTimings {
  /** base64 + decoder, summed over the batch. */
  decodeMs: number;
  /** From the first processor call to the settling of the last one (includes retries). */
  processMs: number;
  /** Writing the batch's dead letters. */
  deadLetterMs: number;
  /** The whole run. */
  totalMs: number;
}

/**
 * What the pipeline tells, and what each event carries.
 */
export interface PipelineEvents {
  /** A batch was handed over and its run begins. */
  batchStarted: { shardId: string; records: number; millisBehindLatest: number | null };
  /**
   * A batch's run through the pipeline ended (complete or not). The counts are this batch's:
   * `failures` are failed attempts that were retried (or, for a non-retriable error, led to a
   * dead letter).
   */
  batchDone: {
    shardId: string;
    records: number;
    processed: number;
    deadLettered: number;
    failures: number;
    durationMs: number;
    millisBehindLatest: number | null;
    complete: boolean;
  };
  /** Where the batch's time went (emitted just before `batchDone`, only while someone listens). */
  batchTimings: BatchTimings & { shardId: string };
  /**
   * Dead letters written to the sink (after the write succeeded). `dropped`, when the sink reports
   * it: older letters the sink removed to stay inside its bounds (see `DeadLetterWriteResult`).
   */
  deadLetter: { shardId: string; count: number; dropped?: number };
  /** A failed attempt that will be tried again (`what`: the processor or the dead-letter sink). */
  retry: { shardId: string; what: 'processor' | 'deadLetterSink'; attempt: number; delayMs: number; error: string };
  /** A duration the processor measured and reported (e.g. `RedisWrite`), see `reportTiming`. */
  timing: { shardId: string; name: string; durationMs: number };
}

/**
 * The pipeline's events plus what every runtime driving it reports.
 */
export interface RuntimeEvents extends PipelineEvents {
  /**
   * A batch has been in hand longer than the runtime's bound (the KCL worker's
   * `stuckBatchMs`; on Lambda, the invocation's deadline came first). `sequenceNumber` is the
   * batch's first record (KCL) or the first record reported failed (Lambda).
   */
  stuckBatch: { shardId: string; action: string; sequenceNumber: string | null; inHandMs: number; lastError: string | null };
}

/**
 * The emitter the pipeline emits to: any emitter whose events include the pipeline's (a runtime's
 * own, with more events, fits).
 */
export type PipelineEmitter = Pick<TypedEmitter<PipelineEvents>, 'emit' | 'has'>;
