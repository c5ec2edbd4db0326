/**
 * The worker's `batch timings` log line (option `batchTimings`): where one processRecords batch's
 * milliseconds went, from reading its line to the daemon's checkpoint reply, and the GC pauses
 * since the last line. A subscriber of the instrumentation hook's `batchTimings` (the pipeline's
 * part) and `gcPause` events.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import type { BatchTimings } from '../core/pipelineEvents.js';
import type { Logger } from '../core/types.js';
import type { Instrumentation } from './events.js';

const round = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * Collects one batch's timings and writes them as one info line.
 */
export class BatchTimingsLog {
  /** Read and parse time, and length, of the last processRecords line. */
  private lastLine = { readMs: 0, parseMs: 0, chars: 0 };
  /** The pipeline's timings of the last batch. */
  private lastBatch: BatchTimings = { decodeMs: 0, processMs: 0, deadLetterMs: 0, totalMs: 0 };
  /** Garbage collection pauses since the last line, ms. */
  private gc = { minorMs: 0, majorMs: 0, count: 0 };

  constructor(
    instrumentation: Instrumentation,
    private readonly logger: () => Logger,
  ) {
    instrumentation.on('batchTimings', (e) => (this.lastBatch = e));
    instrumentation.on('gcPause', (e) => {
      if (e.kind === 'minor') this.gc.minorMs += e.durationMs;
      else this.gc.majorMs += e.durationMs;
      this.gc.count++;
    });
  }

  /** The processRecords line of the next batch was read and parsed. */
  lineParsed(line: { readMs: number; parseMs: number; chars: number }): void {
    this.lastLine = line;
  }

  /** Logs the batch of `records` that started at `started` and began its checkpoint at `beforeCheckpoint` (performance.now()). */
  log(records: number, started: number, beforeCheckpoint: number): void {
    const t = this.lastBatch;
    this.logger().info(
      {
        timings: {
          records,
          lineChars: this.lastLine.chars,
          readMs: round(this.lastLine.readMs),
          parseMs: round(this.lastLine.parseMs),
          decodeMs: round(t.decodeMs),
          processMs: round(t.processMs),
          deadLetterMs: round(t.deadLetterMs),
          pipelineMs: round(t.totalMs),
          checkpointMs: round(performance.now() - beforeCheckpoint),
          batchMs: round(performance.now() - started),
          // GC entries are delivered asynchronously: these are the pauses up to about now.
          gcMinorMs: round(this.gc.minorMs),
          gcMajorMs: round(this.gc.majorMs),
          gcCount: this.gc.count,
        },
      },
      'batch timings',
    );
    this.gc = { minorMs: 0, majorMs: 0, count: 0 };
  }
}

/**
 * Emits a `gcPause` event for each garbage collection of this process, if anyone listens to
 * `gcPause` now (observing costs a little on every GC). Returns the function that stops it.
 */
export function observeGcPauses(instrumentation: Instrumentation): () => void {
  if (!instrumentation.has('gcPause')) return () => undefined;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      instrumentation.emit('gcPause', { kind: kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? 'minor' : 'major', durationMs: entry.duration });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
