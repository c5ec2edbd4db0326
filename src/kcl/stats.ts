/**
 * The periodic stats line of a worker: what it did since the last line, how long batches took,
 * how far behind the stream it is, and whether a batch has been in hand for too long. A reader of
 * the worker's collector (the metrics are the other), with an interval of its own; it writes its
 * last line on the `exit` lifecycle event.
 */
import { percentile, type Interval } from '../core/collector.js';
import type { Logger } from '../core/types.js';
import type { LogDrops } from '../config/logDestination.js';
import type { WorkerCollector } from './workerCollector.js';

/** A batch in hand for longer than this is reported as stalled at warn level. */
const STALLED_AFTER_MS = 60_000;

/**
 * Logs a worker's figures every `intervalMs` (0: only at exit and when asked).
 */
export class WorkerStats {
  private readonly interval: Interval;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly collector: WorkerCollector,
    private readonly logger: () => Logger,
    private readonly intervalMs: number,
    /** Log lines dropped so far (a failing log destination): shown as `logLinesDropped`. */
    private readonly logDrops?: () => LogDrops,
  ) {
    this.interval = collector.interval();
    collector.events.on('lifecycle', (e) => {
      if (e.phase === 'exit') this.stop();
    });
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

  /** Writes one stats line now. */
  log(): void {
    const c = this.collector;
    const f = this.interval.take();
    const sorted = f.batchDurations.sorted;
    const inHandMs = Math.round(c.batchInHandMs());
    const line = {
      stats: {
        records: f.records,
        processed: f.processed,
        deadLettered: f.deadLettered,
        failures: f.failures,
        deadLettersDropped: f.deadLettersDropped,
        batches: f.batches,
        batchLatencyMs: {
          p50: Math.round(percentile(sorted, 50)),
          p99: Math.round(percentile(sorted, 99)),
          max: Math.round(f.batchDurations.maxMs),
        },
        millisBehindLatest: c.millisBehindLatest,
        checkpoints: f.counts.get('Checkpoints') ?? 0,
        checkpointFailures: f.counts.get('CheckpointFailures') ?? 0,
        lastCheckpoint: c.lastCheckpoint,
        batchInHandMs: inHandMs,
        ...(this.logDrops ? { logLinesDropped: this.logDrops().dropped } : {}),
        totals: { ...c.totals },
      },
    };
    if (inHandMs >= STALLED_AFTER_MS) this.logger().warn(line, `stats: shard stalled, a batch has been in hand for ${Math.round(inHandMs / 1000)} s`);
    else this.logger().info(line, 'stats');
  }
}
