/**
 * The periodic stats line of a worker: what it did since the last line, how long batches took,
 * how far behind the stream it is, and whether a batch has been in hand for too long. A
 * subscriber of the instrumentation hook (batchStarted, batchDone, checkpoint, deadLetter,
 * lifecycle exit).
 */
import type { Instrumentation } from '../core/instrumentation.js';
import { percentile } from '../core/metrics.js';
import type { PipelineCounters } from '../core/pipeline.js';
import type { Logger } from '../core/types.js';
import type { LogDrops } from '../config/logDestination.js';

/** A batch in hand for longer than this is reported as stalled at warn level. */
const STALLED_AFTER_MS = 60_000;

/**
 * Collects a worker's figures and logs them every `intervalMs`; with `instrumentation`, it
 * listens to the hook (and writes its last line on the `exit` lifecycle event).
 */
export class WorkerStats {
  private latencies: number[] = [];
  private batches = 0;
  private millisBehindLatest: number | null = null;
  private batchStartedAt: number | null = null;
  private checkpoints = 0;
  private checkpointFailures = 0;
  private lastCheckpoint: string | null = null;
  /** Older dead letters the sink dropped to stay inside its bounds, this interval. */
  private deadLettersDropped = 0;
  private last = { records: 0, processed: 0, deadLettered: 0, failures: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly counters: PipelineCounters,
    private readonly logger: () => Logger,
    private readonly intervalMs: number,
    instrumentation?: Instrumentation,
    /** Log lines dropped so far (a failing log destination): shown as `logLinesDropped`. */
    private readonly logDrops?: () => LogDrops,
  ) {
    if (instrumentation) {
      instrumentation.on('batchStarted', (e) => this.batchStarted(e.millisBehindLatest));
      instrumentation.on('batchDone', (e) => this.batchFinished(e.durationMs));
      instrumentation.on('checkpoint', (e) => (e.error === null ? this.checkpointed(e.sequenceNumber) : this.checkpointFailed()));
      instrumentation.on('deadLetter', (e) => (this.deadLettersDropped += e.dropped ?? 0));
      instrumentation.on('lifecycle', (e) => {
        if (e.phase === 'exit') this.stop();
      });
    }
  }

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.log(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.log();
  }

  batchStarted(millisBehindLatest: number | null): void {
    this.batchStartedAt = performance.now();
    if (millisBehindLatest !== null) this.millisBehindLatest = millisBehindLatest;
  }

  batchFinished(ms: number): void {
    this.batchStartedAt = null;
    this.batches++;
    this.latencies.push(ms);
  }

  checkpointed(sequenceNumber: string): void {
    this.checkpoints++;
    this.lastCheckpoint = sequenceNumber;
  }

  checkpointFailed(): void {
    this.checkpointFailures++;
  }

  /** Writes one stats line now. */
  log(): void {
    const c = this.counters;
    const sorted = this.latencies.sort((a, b) => a - b);
    const inHandMs = this.batchStartedAt === null ? 0 : Math.round(performance.now() - this.batchStartedAt);
    const line = {
      stats: {
        records: c.records - this.last.records,
        processed: c.processed - this.last.processed,
        deadLettered: c.deadLettered - this.last.deadLettered,
        failures: c.failures - this.last.failures,
        deadLettersDropped: this.deadLettersDropped,
        batches: this.batches,
        batchLatencyMs: {
          p50: Math.round(percentile(sorted, 50)),
          p99: Math.round(percentile(sorted, 99)),
          max: Math.round(sorted[sorted.length - 1] ?? 0),
        },
        millisBehindLatest: this.millisBehindLatest,
        checkpoints: this.checkpoints,
        checkpointFailures: this.checkpointFailures,
        lastCheckpoint: this.lastCheckpoint,
        batchInHandMs: inHandMs,
        ...(this.logDrops ? { logLinesDropped: this.logDrops().dropped } : {}),
        totals: { ...c },
      },
    };
    this.last = { records: c.records, processed: c.processed, deadLettered: c.deadLettered, failures: c.failures };
    this.latencies = [];
    this.batches = 0;
    this.checkpoints = 0;
    this.checkpointFailures = 0;
    this.deadLettersDropped = 0;
    if (inHandMs >= STALLED_AFTER_MS) this.logger().warn(line, `stats: shard stalled, a batch has been in hand for ${Math.round(inHandMs / 1000)} s`);
    else this.logger().info(line, 'stats');
  }
}
