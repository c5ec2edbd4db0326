/**
 * A KCL worker's options, their defaults (here and nowhere else) and their validation.
 */
import type { Readable } from 'node:stream';
import type { LogDrops } from '../config/logDestination.js';
import { envVar } from '../config/variables.js';
import type { Instrumentation } from './events.js';
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
  /**
   * With `logger`: the log lines it dropped so far (createWorkerLogger's `drops`), shown in the
   * stats line, the metrics and the health file. Without `logger`, the worker's own log's.
   */
  logDrops?: () => LogDrops;
  /** Retries of retriable processor failures. Default: 100 ms doubling to 10 s, forever. */
  retry?: RetryOptions;
  /**
   * Whether a processor's failure is worth another attempt (false: the record is dead-lettered).
   * Default `isRetriable`; see the pipeline's `classify`.
   */
  classify?: (err: unknown) => boolean;
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
   * batchTimings, checkpoint, deadLetter, retry, gcPause, timing, stuckBatch, lifecycle). Default:
   * a private one. Pass your own to subscribe; the stats line and the metrics read one collector
   * of the same hook.
   */
  instrumentation?: Instrumentation;
  /** Per-shard metrics as CloudWatch EMF lines to a file or stderr (docs/metrics.md). Default: off. */
  metrics?: WorkerMetricsOptions;
  /**
   * An action (a batch) in hand longer than this, ms, is reported stuck: one error line naming the
   * shard, the sequence number, how long and the last error (again at most once per this long),
   * a `stuckBatch` event (metric `StuckBatches`) and `stuck: true` in the health file.
   * Default: `KCL_STUCK_BATCH_MS`, else 300,000 (5 min). 0 turns it off.
   */
  stuckBatchMs?: number;
  /**
   * An action in hand longer than this, ms, makes the worker exit with ExitCode.STUCK_BATCH (4),
   * checkpointing nothing more, so the daemon's supervisor starts afresh from the last checkpoint.
   * Default: `KCL_STUCK_BATCH_EXIT_MS`, else 0 (off).
   */
  stuckBatchExitMs?: number;
  /**
   * A folder where the worker keeps `<shardId>.json` (its health: batchInHandMs, stuck, ...), for
   * `bin/kcl-health`. Default: `KCL_HEALTH_DIR`, else none.
   */
  healthDir?: string;
  /** How often the health file is rewritten besides on each action, ms. Default: `KCL_HEALTH_INTERVAL_MS`, else 10,000. */
  healthIntervalMs?: number;
}

/** The defaults of {@link WorkerConfig}'s numbers and switches. */
export const DEFAULT_WORKER_OPTIONS = Object.freeze({
  logPath: 'kcl-worker.log',
  logLevel: 'info',
  statsIntervalMs: 60_000,
  shutdownTimeoutMs: 10_000,
  drainTimeoutMs: 19_000,
  stuckBatchMs: 300_000,
  stuckBatchExitMs: 0,
  healthIntervalMs: 10_000,
  exitProcess: true,
  batchTimings: false,
  checkpointRetry: Object.freeze({ initialDelayMs: 200, maxDelayMs: 5_000, factor: 2, maxAttempts: 10 }) as Readonly<Required<RetryOptions>>,
});

/**
 * The environment variables a worker falls back on when the option is not given (names and
 * defaults used by {@link resolveWorkerSettings}); the docs' tables are generated from it.
 */
export const KCL_WORKER_VARIABLES = Object.freeze({
  KCL_STUCK_BATCH_MS: envVar<number>({
    name: 'KCL_STUCK_BATCH_MS',
    presence: 'optional',
    fallback: DEFAULT_WORKER_OPTIONS.stuckBatchMs,
    defaultText: `\`${DEFAULT_WORKER_OPTIONS.stuckBatchMs}\` (5 min; \`0\`: off)`,
    meaning:
      'a batch in hand this long is logged at error level (shard, sequence number, time, last error), counted as `StuckBatches`, flagged in the health file; [docs/guarantees.md](docs/guarantees.md#is-a-shard-stuck)',
  }),
  KCL_STUCK_BATCH_EXIT_MS: envVar<number>({
    name: 'KCL_STUCK_BATCH_EXIT_MS',
    presence: 'optional',
    fallback: DEFAULT_WORKER_OPTIONS.stuckBatchExitMs,
    defaultText: '`0` (off)',
    meaning: 'a batch in hand this long ends the worker with exit 4, so the supervisor restarts from the last checkpoint',
  }),
  KCL_HEALTH_DIR: envVar<string | undefined>({
    name: 'KCL_HEALTH_DIR',
    presence: 'optional',
    defaultText: 'unset (off)',
    meaning: 'a folder where each worker keeps `<shardId>.json`; `bin/kcl-health <dir>` exits 1 when a shard is stuck (for a Kubernetes exec probe or a systemd timer)',
  }),
  KCL_HEALTH_INTERVAL_MS: envVar<number>({
    name: 'KCL_HEALTH_INTERVAL_MS',
    presence: 'optional',
    fallback: DEFAULT_WORKER_OPTIONS.healthIntervalMs,
    meaning: 'how often the health file is rewritten besides on each action',
  }),
  KCL_DRAIN_TIMEOUT_MS: envVar<number>({
    name: 'KCL_DRAIN_TIMEOUT_MS',
    presence: 'optional',
    fallback: DEFAULT_WORKER_OPTIONS.drainTimeoutMs,
    meaning: 'bound of the drain after a SIGTERM with a daemon attached (scripts/kcl-daemon.sh sets it a little under the properties\' `shutdownGraceMillis`)',
  }),
});

/** The settings a worker runs with, every default filled in and every value checked. */
export interface ResolvedWorkerSettings {
  statsIntervalMs: number;
  shutdownTimeoutMs: number;
  drainTimeoutMs: number;
  stuckBatchMs: number;
  stuckBatchExitMs: number;
  healthDir: string | undefined;
  healthIntervalMs: number;
  checkpointRetry: Required<RetryOptions>;
  exitProcess: boolean;
  batchTimings: boolean;
}

const nonNegative = (n: number): boolean => Number.isFinite(n) && n >= 0;

/**
 * A number of ms from the option, else from the environment variable, else the default; checked
 * non-negative, with an error naming the option or the variable.
 */
function msSetting(option: string, given: number | undefined, variable: string, env: NodeJS.ProcessEnv, fallback: number): number {
  const fromEnv = env[variable];
  const value = given ?? (fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : fallback);
  if (!nonNegative(value)) {
    throw new TypeError(given === undefined ? `Expected ${variable} to be a non-negative number of ms, got ${JSON.stringify(fromEnv)}.` : `Expected \`${option}\` to be a non-negative number.`);
  }
  return value;
}

/**
 * Fills in the defaults of `config` and checks it, with an error that names the option.
 * `drainTimeoutMs`, `stuckBatchMs`, `stuckBatchExitMs`, `healthDir` and `healthIntervalMs` fall
 * back on `KCL_DRAIN_TIMEOUT_MS`, `KCL_STUCK_BATCH_MS`, `KCL_STUCK_BATCH_EXIT_MS`, `KCL_HEALTH_DIR`
 * and `KCL_HEALTH_INTERVAL_MS`.
 */
export function resolveWorkerSettings<T>(config: WorkerConfig<T>, env: NodeJS.ProcessEnv = process.env): ResolvedWorkerSettings {
  const d = DEFAULT_WORKER_OPTIONS;
  const statsIntervalMs = config.statsIntervalMs ?? d.statsIntervalMs;
  if (!nonNegative(statsIntervalMs)) throw new TypeError('Expected `statsIntervalMs` to be a non-negative number.');
  const shutdownTimeoutMs = config.shutdownTimeoutMs ?? d.shutdownTimeoutMs;
  if (!nonNegative(shutdownTimeoutMs)) throw new TypeError('Expected `shutdownTimeoutMs` to be a non-negative number.');
  const V = KCL_WORKER_VARIABLES;
  const drainTimeoutMs = msSetting('drainTimeoutMs', config.drainTimeoutMs, V.KCL_DRAIN_TIMEOUT_MS.name, env, d.drainTimeoutMs);
  const stuckBatchMs = msSetting('stuckBatchMs', config.stuckBatchMs, V.KCL_STUCK_BATCH_MS.name, env, d.stuckBatchMs);
  const stuckBatchExitMs = msSetting('stuckBatchExitMs', config.stuckBatchExitMs, V.KCL_STUCK_BATCH_EXIT_MS.name, env, d.stuckBatchExitMs);
  const healthIntervalMs = msSetting('healthIntervalMs', config.healthIntervalMs, V.KCL_HEALTH_INTERVAL_MS.name, env, d.healthIntervalMs);
  if (healthIntervalMs < 10) throw new TypeError('Expected `healthIntervalMs` (KCL_HEALTH_INTERVAL_MS) to be at least 10 ms.');
  const healthDir = config.healthDir ?? (env[V.KCL_HEALTH_DIR.name] ? env[V.KCL_HEALTH_DIR.name] : undefined);
  if (healthDir !== undefined && (typeof healthDir !== 'string' || healthDir === '')) throw new TypeError('Expected `healthDir` to be a folder path.');
  if (typeof config.decoder !== 'function') throw new TypeError('Expected `decoder` to be a function.');
  return {
    statsIntervalMs,
    shutdownTimeoutMs,
    drainTimeoutMs,
    stuckBatchMs,
    stuckBatchExitMs,
    healthDir,
    healthIntervalMs,
    checkpointRetry: resolveRetryOptions({ ...d.checkpointRetry, ...config.checkpointRetry }),
    exitProcess: config.exitProcess ?? d.exitProcess,
    batchTimings: config.batchTimings ?? d.batchTimings,
  };
}
