/**
 * The metrics of a KCL worker: per shard and per interval, one CloudWatch Embedded Metric Format
 * line to a destination of its own (a file, or stderr), never stdout, which belongs to the
 * protocol. A reader of the worker's collector, like the stats line, written with the EMF output
 * the Lambda handler uses too (core/emf.ts).
 *
 * Lines are written synchronously (one small write per interval), so the last one is out before
 * the process exits: written every `intervalMs`, and on lease loss, shard end, shutdown and exit.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { errorMessage } from '../core/errors.js';
import { DEFAULT_METRICS_NAMESPACE, EmfMetrics, EmfWriter, checkNamespace, writeLineSync } from '../core/emf.js';
import type { Logger } from '../core/types.js';
import type { LogDrops } from '../config/logDestination.js';
import type { InstrumentationEvents } from './events.js';
import type { WorkerCollector } from './workerCollector.js';

/**
 * Metrics options of a worker (`WorkerConfig.metrics`).
 */
export interface WorkerMetricsOptions {
  /** A file path (appended to, created if missing) or `stderr`. Never stdout. */
  destination: string;
  /** The StreamName dimension. */
  streamName: string;
  /** CloudWatch namespace. Default `KinesisStreams`. */
  namespace?: string;
  /** One line per shard every this many ms. Default 60,000. */
  intervalMs?: number;
}

/** Why a line was written; carried in the line as `reason`. */
type FlushReason = 'interval' | 'stuckBatch' | InstrumentationEvents['lifecycle']['phase'];

const STDOUT_NAMES = new Set(['stdout', '-', '/dev/stdout', '/dev/fd/1', '/proc/self/fd/1']);

/**
 * Opens `destination` for metrics lines: `stderr` is fd 2; a path is opened for appending. Refuses
 * stdout under any name (including a path that is the same file as this process's stdout).
 * Throws an Error naming the destination when it cannot be opened.
 */
export function openMetricsDestination(destination: string): { fd: number; close: () => void } {
  if (typeof destination !== 'string' || destination.trim() === '') throw new TypeError('Expected `metrics.destination` to be a file path or `stderr`.');
  if (STDOUT_NAMES.has(destination)) {
    throw new TypeError(`Expected \`metrics.destination\` to be a file path or \`stderr\`, not ${destination}: stdout belongs to the daemon protocol.`);
  }
  if (destination === 'stderr') return { fd: 2, close: () => undefined };
  const fd = openSync(destination, 'a');
  try {
    const a = fstatSync(fd);
    const out = fstatSync(1);
    if (a.dev === out.dev && a.ino === out.ino) {
      throw new TypeError(`Expected \`metrics.destination\` not to be this process's stdout (${destination}): stdout belongs to the daemon protocol.`);
    }
  } catch (err) {
    if (err instanceof TypeError) {
      closeSync(fd);
      throw err;
    }
    // fd 1 closed or not stat-able: nothing to compare with.
  }
  return { fd, close: () => closeSync(fd) };
}

/**
 * Writes a worker's EMF lines: the collector's figures (its own interval of them) with
 * dimensions `[["StreamName","ShardId"],["StreamName"]]`.
 */
export class WorkerMetrics {
  private readonly metrics: EmfMetrics;
  private readonly writer: EmfWriter;
  private readonly intervalMs: number;
  private readonly out: { fd: number; close: () => void };
  private shardId: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private writeFailed = false;
  private logDropsSeen = 0;

  constructor(
    private readonly options: WorkerMetricsOptions,
    collector: WorkerCollector,
    private readonly logger: () => Logger,
    /** Log lines dropped so far: their increase is the interval's `LogLinesDropped` (when not 0). */
    private readonly logDrops?: () => LogDrops,
  ) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Expected `metrics` to be an object.');
    const namespace = checkNamespace(options.namespace ?? DEFAULT_METRICS_NAMESPACE, 'metrics.namespace');
    if (typeof options.streamName !== 'string' || options.streamName === '') throw new TypeError('Expected `metrics.streamName` to be a non-empty string.');
    this.intervalMs = options.intervalMs ?? 60_000;
    if (!(Number.isFinite(this.intervalMs) && this.intervalMs > 0)) throw new TypeError('Expected `metrics.intervalMs` to be a positive number.');
    this.out = openMetricsDestination(options.destination);
    const fd = this.out.fd;
    this.writer = new EmfWriter({ namespace, dimensionSets: [['StreamName', 'ShardId'], ['StreamName']], write: (line) => writeLineSync(fd, line) });
    this.metrics = new EmfMetrics(collector);
    const instrumentation = collector.events;
    instrumentation.on('lifecycle', (e) => {
      if (e.phase === 'initialize') {
        this.shardId = e.shardId;
        return;
      }
      this.flush(e.phase);
      if (e.phase === 'exit') this.close();
    });
    // A stuck batch is news now, not at the end of the interval: an alarm sees it at once.
    instrumentation.on('stuckBatch', () => this.flush('stuckBatch'));
  }

  /**
   * Starts the interval timer (it does not keep the process alive).
   */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.flush('interval'), this.intervalMs);
    this.timer.unref();
  }

  /**
   * Writes the figures counted so far as one line, now. An interval line is written even when
   * nothing happened (a flat line is news too); the other reasons write only what was counted.
   */
  flush(reason: FlushReason): void {
    if (this.closed || this.shardId === null) return;
    if (reason !== 'interval' && !this.metrics.hasData()) return;
    const figures = this.metrics.take();
    const dropped = this.logDrops?.().dropped ?? 0;
    if (dropped > this.logDropsSeen) figures.set('LogLinesDropped', { value: dropped - this.logDropsSeen, unit: 'Count' });
    this.logDropsSeen = dropped;
    try {
      this.writer.write(figures, { StreamName: this.options.streamName, ShardId: this.shardId }, { reason });
    } catch (err) {
      if (!this.writeFailed) this.logger().warn({ err: errorMessage(err), destination: this.options.destination }, 'metrics line could not be written; dropping it');
      this.writeFailed = true;
    }
  }

  /**
   * Stops the timer and closes the destination (after the exit flush).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      this.out.close();
    } catch {
      // already closed
    }
  }
}
