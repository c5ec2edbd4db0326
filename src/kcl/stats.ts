/**
 * The periodic stats line of a worker: what it did since the last line, how long batches took,
 * how far behind the stream it is, and whether a batch has been in hand for too long.
 */
import type { PipelineCounters } from '../core/pipeline.js';
import type { Logger } from '../core/types.js';

/** A batch in hand for longer than this is reported as stalled at warn level. */
const STALLED_AFTER_MS = 60_000;

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Collects a worker's figures and logs them every `intervalMs`.
 *
 * @example
 * const stats = new WorkerStats(pipeline.counters, () => logger, 60_000);
 * stats.start();
 */
export class WorkerStats {
  private latencies: number[] = [];
  private batches = 0;
  private millisBehindLatest: number | null = null;
  private batchStartedAt: number | null = null;
  private checkpoints = 0;
  private checkpointFailures = 0;
  private lastCheckpoint: string | null = null;
  private last = { records: 0, processed: 0, deadLettered: 0, failures: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly counters: PipelineCounters,
    private readonly logger: () => Logger,
    private readonly intervalMs: number,
  ) {}

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
        totals: { ...c },
      },
    };
    this.last = { records: c.records, processed: c.processed, deadLettered: c.deadLettered, failures: c.failures };
    this.latencies = [];
    this.batches = 0;
    this.checkpoints = 0;
    this.checkpointFailures = 0;
    if (inHandMs >= STALLED_AFTER_MS) this.logger().warn(line, `stats: shard stalled, a batch has been in hand for ${Math.round(inHandMs / 1000)} s`);
    else this.logger().info(line, 'stats');
  }
}
