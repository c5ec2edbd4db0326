/**
 * A KCL worker's options, their defaults (here and nowhere else) and their validation.
 */
import type { Readable } from 'node:stream';
import type { Instrumentation } from '../core/instrumentation.js';
import { resolveRetryOptions, type RetryOptions } from '../core/retry.js';
import type { DeadLetterSink, Decoder, Logger } from '../core/types.js';
import type { WorkerMetricsOptions } from './metrics.js';

/**
 * How a worker runs. Only `decoder` is required.
 */
export interface WorkerConfig<T> {
  /** Turns a record's bytes into the value the processor gets; throwing dead-letters the record. */
  decoder: Decoder<T>;
  /** Where poison records go. Default: the log, at error level, with the record's data. */
  deadLetters?: DeadLetterSink;
  /** Stream name, added to every log line. */
  streamName?: string;
  /** Worker name, added to every log line. */
  workerName?: string;
  /** Log file path, or `stderr`. Default `kcl-worker.log` in the working directory. Ignored when `logger` is given. */
  logPath?: string;
  /** pino level. Default `info`. */
  logLevel?: string;
  /** A logger to use instead of creating one from `logPath`. */
  logger?: Logger;
  /** With `logger`: writes out its buffered lines synchronously; called once before exit. */
  flushLogs?: () => void;
  /** Retries of retriable processor failures. Default: 100 ms doubling to 10 s, forever. */
  retry?: RetryOptions;
  /** Retries of throttled checkpoints. Default: 200 ms doubling to 5 s, 10 attempts. */
  checkpointRetry?: RetryOptions;
  /** Interval of the stats line in the log, ms. Default 60,000; 0 turns it off. */
  statsIntervalMs?: number;
  /** On end of input or SIGTERM, how long to wait for the batch in hand, ms. Default 10,000. */
  shutdownTimeoutMs?: number;
  /**
   * A SIGTERM or SIGINT while a daemon is attached (its `initialize` received, stdin still open)
   * starts a drain instead of an exit: the worker finishes the batch in hand and keeps answering
   * the daemon (`shutdownRequested` with its checkpoint, `leaseLost`, `shardEnded`) until the daemon
   * closes stdin, or until this many ms have passed. A second signal ends it at once.
   * Default: the `KCL_DRAIN_TIMEOUT_MS` environment variable (scripts/kcl-daemon.sh sets it a little
   * under the properties' `shutdownGraceMillis`), else 19,000 (under the production template's 20,000).
   */
  drainTimeoutMs?: number;
  /** Default process.stdin. */
  input?: Readable;
  /** Default process.stdout. */
  stdout?: NodeJS.WriteStream;
  /** Exit the process when done (and handle SIGTERM/SIGINT). Default true. */
  exitProcess?: boolean;
  /**
   * Log one `batch timings` line per processRecords at info level: where the batch's milliseconds
   * went (parsing the line, decoding, processing, dead letters, checkpoint). Default false.
   */
  batchTimings?: boolean;
  /**
   * The instrumentation hook the worker and its pipeline emit to (batchStarted, batchDone,
   * checkpoint, deadLetter, retry, gcPause, timing, lifecycle). Default: a private one. Pass your
   * own to subscribe; the stats line and the metrics listen to the same hook.
   */
  instrumentation?: Instrumentation;
  /** Per-shard metrics as CloudWatch EMF lines to a file or stderr (docs/metrics.md). Default: off. */
  metrics?: WorkerMetricsOptions;
}

/** The defaults of {@link WorkerConfig}'s numbers and switches. */
export const DEFAULT_WORKER_OPTIONS = Object.freeze({
  logPath: 'kcl-worker.log',
  logLevel: 'info',
  statsIntervalMs: 60_000,
  shutdownTimeoutMs: 10_000,
  drainTimeoutMs: 19_000,
  exitProcess: true,
  batchTimings: false,
  checkpointRetry: Object.freeze({ initialDelayMs: 200, maxDelayMs: 5_000, factor: 2, maxAttempts: 10 }) as Readonly<Required<RetryOptions>>,
});

/** The settings a worker runs with, every default filled in and every value checked. */
export interface ResolvedWorkerSettings {
  statsIntervalMs: number;
  shutdownTimeoutMs: number;
  drainTimeoutMs: number;
  checkpointRetry: Required<RetryOptions>;
  exitProcess: boolean;
  batchTimings: boolean;
}

const nonNegative = (n: number): boolean => Number.isFinite(n) && n >= 0;

/**
 * Fills in the defaults of `config` and checks it, with an error that names the option.
 * `drainTimeoutMs` falls back on the `KCL_DRAIN_TIMEOUT_MS` environment variable.
 *
 * @example
 * resolveWorkerSettings({ decoder, statsIntervalMs: -1 }); // TypeError: Expected `statsIntervalMs` to be a non-negative number.
 */
export function resolveWorkerSettings<T>(config: WorkerConfig<T>, env: NodeJS.ProcessEnv = process.env): ResolvedWorkerSettings {
  const d = DEFAULT_WORKER_OPTIONS;
  const statsIntervalMs = config.statsIntervalMs ?? d.statsIntervalMs;
  if (!nonNegative(statsIntervalMs)) throw new TypeError('Expected `statsIntervalMs` to be a non-negative number.');
  const shutdownTimeoutMs = config.shutdownTimeoutMs ?? d.shutdownTimeoutMs;
  if (!nonNegative(shutdownTimeoutMs)) throw new TypeError('Expected `shutdownTimeoutMs` to be a non-negative number.');
  const fromEnv = env.KCL_DRAIN_TIMEOUT_MS;
  const drainTimeoutMs = config.drainTimeoutMs ?? (fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : d.drainTimeoutMs);
  if (!nonNegative(drainTimeoutMs)) {
    throw new TypeError(config.drainTimeoutMs === undefined ? `Expected KCL_DRAIN_TIMEOUT_MS to be a non-negative number of ms, got ${JSON.stringify(fromEnv)}.` : 'Expected `drainTimeoutMs` to be a non-negative number.');
  }
  if (typeof config.decoder !== 'function') throw new TypeError('Expected `decoder` to be a function.');
  return {
    statsIntervalMs,
    shutdownTimeoutMs,
    drainTimeoutMs,
    checkpointRetry: resolveRetryOptions({ ...d.checkpointRetry, ...config.checkpointRetry }),
    exitProcess: config.exitProcess ?? d.exitProcess,
    batchTimings: config.batchTimings ?? d.batchTimings,
  };
}
