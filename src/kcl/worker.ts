/**
 * A worker process for the KCL MultiLangDaemon: reads the daemon's actions from stdin, runs each
 * batch through the record pipeline, checkpoints what was handled, answers every action with
 * exactly one status, and owns stdout so nothing else can write there.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { createWorkerLogger } from '../config/logging.js';
import { AbortedError, errorMessage } from '../core/errors.js';
import { ExitCode } from '../core/exitCodes.js';
import { Instrumentation } from '../core/instrumentation.js';
import { RecordPipeline, type ProcessorSpec } from '../core/pipeline.js';
import { backoffDelay, resolveRetryOptions, sleep, type RetryOptions } from '../core/retry.js';
import type { BatchProcessor, DeadLetterSink, Decoder, KinesisRecord, Logger, RecordProcessor } from '../core/types.js';
import { readLineBytes } from './lineReader.js';
import { parseDaemonLineBytes, type CheckpointReply, type DaemonAction } from './messages.js';
import { WorkerMetrics, type WorkerMetricsOptions } from './metrics.js';
import { guardStdout, type ProtocolWriter } from './output.js';
import { WorkerStats } from './stats.js';

export { ExitCode };

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

const CHECKPOINT_RETRY_DEFAULT: RetryOptions = { initialDelayMs: 200, maxDelayMs: 5_000, factor: 2, maxAttempts: 10 };
/** Checkpoint errors worth another try, and at most how many attempts each gets. */
const RETRIABLE_CHECKPOINT_ERRORS: Readonly<Record<string, number | undefined>> = {
  ThrottlingException: undefined, // use checkpointRetry.maxAttempts
  KinesisClientLibDependencyException: undefined,
  InvalidStateException: 3,
};

interface Position {
  sequenceNumber: string;
  subSequenceNumber: number;
}

/**
 * The daemon reads a worker's stderr line by line (Java's readLine also ends a line at a lone \r)
 * and logs each one: escape control characters and Unicode line separators, which can come from
 * the daemon's own input (a shard id, a malformed line), so a fatal message stays one line.
 */
const oneLine = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const positionOf = (r: KinesisRecord): Position => ({ sequenceNumber: r.sequenceNumber, subSequenceNumber: r.subSequenceNumber });
const samePosition = (a: Position | null, b: Position | null): boolean =>
  a !== null && b !== null && a.sequenceNumber === b.sequenceNumber && a.subSequenceNumber === b.subSequenceNumber;

class LogDeadLetterSink implements DeadLetterSink {
  constructor(private readonly logger: Logger) {}
  write(letters: Parameters<DeadLetterSink['write']>[0]): Promise<void> {
    for (const l of letters) this.logger.error({ deadLetter: { ...l.record, shardId: l.shardId, reason: l.reason } }, 'dead letter');
    return Promise.resolve();
  }
}

class KclWorker<T> {
  private readonly baseLogger: Logger;
  private logger: Logger;
  private readonly flushLogs: () => void;
  private readonly writer: ProtocolWriter;
  private readonly restoreStdout: () => void;
  private readonly pipeline: RecordPipeline<T>;
  private readonly stats: WorkerStats;
  private readonly instrumentation: Instrumentation;
  private readonly metrics: WorkerMetrics | undefined;
  private readonly abort = new AbortController();
  private readonly checkpointRetry: Required<RetryOptions>;
  private readonly shutdownTimeoutMs: number;
  private readonly drainTimeoutMs: number;
  /** The daemon's `initialize` arrived: a daemon is driving this process. */
  private initialized = false;
  /** A first signal arrived while attached: working on until the daemon closes stdin. */
  private draining = false;
  private readonly exitProcess: boolean;
  private readonly batchTimings: boolean;
  /** Parse time and length of the last processRecords line, for the batch timings log. */
  private lastLine = { readMs: 0, parseMs: 0, chars: 0 };
  /** Garbage collection pauses since the last batch timings line, ms (only with batchTimings). */
  private gc = { minorMs: 0, majorMs: 0, count: 0 };
  private gcObserver: PerformanceObserver | undefined;

  private readonly queue: DaemonAction[] = [];
  private busy = false;
  private stopping = false;
  private finished = false;
  private inputEnded = false;
  private stopReading: () => void = () => undefined;
  private pendingCheckpoint: { resolve: (r: CheckpointReply) => void; reject: (e: unknown) => void } | null = null;

  private shardId = 'uninitialized';
  private lastHandled: Position | null = null;
  private lastCheckpointed: Position | null = null;
  private checkpointsStopped = false;

  private resolveDone!: (code: number) => void;
  readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));

  constructor(
    private readonly config: WorkerConfig<T>,
    spec: ProcessorSpec<T>,
  ) {
    const statsIntervalMs = config.statsIntervalMs ?? 60_000;
    if (!(Number.isFinite(statsIntervalMs) && statsIntervalMs >= 0)) throw new TypeError('Expected `statsIntervalMs` to be a non-negative number.');
    this.shutdownTimeoutMs = config.shutdownTimeoutMs ?? 10_000;
    if (!(Number.isFinite(this.shutdownTimeoutMs) && this.shutdownTimeoutMs >= 0)) throw new TypeError('Expected `shutdownTimeoutMs` to be a non-negative number.');
    const fromEnv = process.env.KCL_DRAIN_TIMEOUT_MS;
    this.drainTimeoutMs = config.drainTimeoutMs ?? (fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : 19_000);
    if (!(Number.isFinite(this.drainTimeoutMs) && this.drainTimeoutMs >= 0)) {
      throw new TypeError(config.drainTimeoutMs === undefined ? `Expected KCL_DRAIN_TIMEOUT_MS to be a non-negative number of ms, got ${JSON.stringify(fromEnv)}.` : 'Expected `drainTimeoutMs` to be a non-negative number.');
    }
    if (typeof config.decoder !== 'function') throw new TypeError('Expected `decoder` to be a function.');
    this.checkpointRetry = resolveRetryOptions({ ...CHECKPOINT_RETRY_DEFAULT, ...config.checkpointRetry });
    this.exitProcess = config.exitProcess ?? true;
    this.batchTimings = config.batchTimings ?? false;
    this.instrumentation = config.instrumentation ?? new Instrumentation();
    this.instrumentation.setListenerErrorHandler((err, event) => this.logger.warn({ err: errorMessage(err), event }, 'instrumentation listener failed (ignored)'));
    if (this.batchTimings) {
      this.instrumentation.on('gcPause', (e) => {
        if (e.kind === 'minor') this.gc.minorMs += e.durationMs;
        else this.gc.majorMs += e.durationMs;
        this.gc.count++;
      });
    }
    if (this.instrumentation.has('gcPause')) {
      this.gcObserver = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
          this.instrumentation.emit('gcPause', { kind: kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? 'minor' : 'major', durationMs: entry.duration });
        }
      });
      this.gcObserver.observe({ entryTypes: ['gc'] });
    }

    const base: Record<string, unknown> = {};
    if (config.streamName) base.stream = config.streamName;
    if (config.workerName) base.worker = config.workerName;
    if (config.logger) {
      this.baseLogger = config.logger.child(base);
      this.flushLogs = config.flushLogs ?? (() => undefined);
    } else {
      const created = createWorkerLogger({ destination: config.logPath ?? 'kcl-worker.log', level: config.logLevel ?? 'info', base });
      this.baseLogger = created.logger;
      this.flushLogs = created.flushSync;
    }
    this.logger = this.baseLogger.child({ shardId: null });
    const guarded = guardStdout(() => this.logger, config.stdout ?? process.stdout);
    this.writer = guarded.writer;
    this.restoreStdout = guarded.restore;
    this.pipeline = new RecordPipeline<T>({
      decoder: config.decoder,
      spec,
      deadLetters: config.deadLetters ?? new LogDeadLetterSink(this.baseLogger),
      retry: config.retry ?? {},
      logger: this.logger,
      instrumentation: this.instrumentation,
    });
    this.stats = new WorkerStats(this.pipeline.counters, () => this.logger, statsIntervalMs, this.instrumentation);
    this.metrics = config.metrics ? new WorkerMetrics(config.metrics, this.instrumentation, () => this.logger) : undefined;
  }

  start(): Promise<number> {
    const input = this.config.input ?? process.stdin;
    if (this.exitProcess) {
      process.on('SIGTERM', () => this.onSignal('SIGTERM'));
      process.on('SIGINT', () => this.onSignal('SIGINT'));
      process.on('uncaughtException', (err) => this.fatal(err, ExitCode.CRASH, 'uncaught exception'));
      process.on('unhandledRejection', (reason) => {
        this.logger.error({ err: errorMessage(reason) }, 'unhandled promise rejection in user code (ignored; the batch outcome does not depend on it)');
      });
      (this.config.stdout ?? process.stdout).on('error', (err) => {
        this.logger.warn({ err: errorMessage(err) }, 'stdout closed by the daemon');
        this.onInputEnd();
      });
    }
    this.stopReading = readLineBytes(
      input,
      (line, firstChunkAt) => this.onLine(line, firstChunkAt),
      (err) => {
        if (err) this.logger.warn({ err: errorMessage(err) }, 'error reading stdin');
        this.onInputEnd();
      },
    );
    this.stats.start();
    this.metrics?.start();
    this.logger.info({ pid: process.pid }, 'worker started; waiting for the daemon');
    return this.done;
  }

  private onLine(line: Buffer, firstChunkAt: number): void {
    if (this.finished) return;
    let msg;
    const t0 = this.batchTimings ? performance.now() : 0;
    try {
      msg = parseDaemonLineBytes(line);
    } catch (err) {
      this.fatal(err, ExitCode.PROTOCOL_ERROR, 'protocol error');
      return;
    }
    if (msg === null) return;
    if (this.batchTimings && msg.action === 'processRecords') this.lastLine = { readMs: t0 - firstChunkAt, parseMs: performance.now() - t0, chars: line.length };
    if (msg.action === 'initialize') this.initialized = true;
    if (msg.action === 'checkpoint') {
      const pending = this.pendingCheckpoint;
      if (pending) {
        this.pendingCheckpoint = null;
        pending.resolve(msg);
      } else {
        this.logger.warn({ reply: msg }, 'checkpoint reply without a pending checkpoint; ignored');
      }
      return;
    }
    this.queue.push(msg);
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.finished) return;
    if (this.stopping) {
      this.finish(ExitCode.OK);
      return;
    }
    const next = this.queue.shift();
    if (!next) return;
    this.busy = true;
    this.handle(next).then(
      () => {
        this.busy = false;
        this.pump();
      },
      (err: unknown) => {
        this.busy = false;
        if (err instanceof AbortedError) {
          this.logger.info({ action: next.action }, 'action abandoned: the worker is shutting down (nothing checkpointed past unhandled records)');
          this.finish(ExitCode.OK);
        } else {
          this.fatal(err, ExitCode.CRASH, `failed handling ${next.action}`);
        }
      },
    );
  }

  private async handle(msg: DaemonAction): Promise<void> {
    switch (msg.action) {
      case 'initialize':
        this.shardId = msg.shardId;
        this.logger = this.baseLogger.child({ shardId: msg.shardId });
        this.pipeline.setLogger(this.logger);
        if (msg.sequenceNumber !== null && /^\d+$/.test(msg.sequenceNumber)) {
          this.lastCheckpointed = { sequenceNumber: msg.sequenceNumber, subSequenceNumber: msg.subSequenceNumber ?? 0 };
        }
        this.logger.info({ sequenceNumber: msg.sequenceNumber, subSequenceNumber: msg.subSequenceNumber }, 'initialize');
        this.lifecycle('initialize');
        return this.status('initialize');
      case 'processRecords':
        return this.processRecords(msg.records, msg.millisBehindLatest);
      case 'leaseLost':
        this.checkpointsStopped = true;
        this.logger.info({ lastHandled: this.lastHandled, lastCheckpointed: this.lastCheckpointed }, 'lease lost: another worker owns the shard now; not checkpointing');
        this.lifecycle('leaseLost');
        return this.status('leaseLost');
      case 'shardEnded':
        this.logger.info({}, 'shard ended: checkpointing SHARD_END');
        await this.checkpoint(null);
        this.lifecycle('shardEnded');
        return this.status('shardEnded');
      case 'shutdownRequested':
        this.logger.info({ lastHandled: this.lastHandled }, 'shutdown requested: checkpointing what is done');
        await this.checkpointHandled();
        this.lifecycle('shutdownRequested');
        return this.status('shutdownRequested');
      case 'shutdown':
        if (msg.reason === 'TERMINATE') await this.checkpoint(null);
        else this.checkpointsStopped = true;
        this.lifecycle('shutdown');
        return this.status('shutdown');
    }
  }

  private async processRecords(records: KinesisRecord[], millisBehindLatest: number | null): Promise<void> {
    const started = performance.now();
    this.instrumentation.emit('batchStarted', { shardId: this.shardId, records: records.length, millisBehindLatest });
    const outcome = await this.pipeline.run({ shardId: this.shardId, records, millisBehindLatest, signal: this.abort.signal });
    if (outcome.complete) {
      const last = records[records.length - 1];
      if (last) this.lastHandled = positionOf(last);
      const beforeCheckpoint = performance.now();
      await this.checkpointHandled();
      if (this.batchTimings) this.logTimings(records.length, started, beforeCheckpoint);
      return this.status('processRecords');
    }
    if (outcome.error instanceof AbortedError || this.abort.signal.aborted) throw new AbortedError();
    // Retries ran out: checkpoint the handled prefix, then stop loudly so a supervisor restarts
    // the daemon and the shard resumes at the first unhandled record.
    const lastDone = records[outcome.firstUnhandled - 1];
    if (lastDone) this.lastHandled = positionOf(lastDone);
    await this.checkpointHandled();
    const failed = records[outcome.firstUnhandled];
    this.fatal(outcome.error, ExitCode.RETRIES_EXHAUSTED, 'retries exhausted', failed ? positionOf(failed) : undefined);
    throw new AbortedError('stopping after exhausted retries');
  }

  private logTimings(records: number, started: number, beforeCheckpoint: number): void {
    const t = this.pipeline.lastTimings;
    const round = (ms: number): number => Math.round(ms * 100) / 100;
    this.logger.info(
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

  private async checkpointHandled(): Promise<void> {
    if (this.checkpointsStopped || this.lastHandled === null) return;
    if (samePosition(this.lastHandled, this.lastCheckpointed)) return;
    await this.checkpoint(this.lastHandled);
  }

  /** Checkpoints `position` (null: everything delivered / SHARD_END). Returns whether it took. */
  private async checkpoint(position: Position | null): Promise<boolean> {
    const where = {
      sequenceNumber: position?.sequenceNumber ?? 'SHARD_END',
      subSequenceNumber: position?.subSequenceNumber ?? null,
    };
    for (let attempt = 1; ; attempt++) {
      const reply = await this.requestCheckpoint(position);
      this.instrumentation.emit('checkpoint', { shardId: this.shardId, sequenceNumber: where.sequenceNumber, error: reply.error, attempt });
      if (reply.error === null) {
        this.lastCheckpointed = position ?? this.lastHandled;
        this.logger.debug(where, 'checkpointed');
        return true;
      }
      if (reply.error === 'ShutdownException') {
        this.checkpointsStopped = true;
        this.logger.warn({ ...where, error: reply.error }, 'checkpoint refused: the lease is shutting down; no more checkpoints for this lease');
        return false;
      }
      const error = reply.error;
      const limit = error in RETRIABLE_CHECKPOINT_ERRORS ? (RETRIABLE_CHECKPOINT_ERRORS[error] ?? this.checkpointRetry.maxAttempts) : 1;
      if (attempt < limit) {
        const delayMs = backoffDelay(attempt, this.checkpointRetry);
        this.logger.warn({ ...where, error, attempt, retryInMs: delayMs }, 'checkpoint failed; retrying');
        await sleep(delayMs, this.abort.signal);
        continue;
      }
      this.logger.error(
        { ...where, error, attempts: attempt },
        position === null
          ? 'SHARD_END checkpoint failed: KCL will not finish this shard until it succeeds'
          : 'checkpoint failed; the position stays pending and is checkpointed again after the next batch',
      );
      return false;
    }
  }

  private requestCheckpoint(position: Position | null): Promise<CheckpointReply> {
    if (this.inputEnded) return Promise.reject(new AbortedError('the daemon closed stdin'));
    const reply = new Promise<CheckpointReply>((resolve, reject) => {
      this.pendingCheckpoint = { resolve, reject };
    });
    return this.writer
      .send({
        action: 'checkpoint',
        sequenceNumber: position?.sequenceNumber ?? null,
        subSequenceNumber: position?.subSequenceNumber ?? null,
      })
      .then(() => reply);
  }

  /** Tells the instrumentation hook about a step of the worker's life (metrics flush on most). */
  private lifecycle(phase: 'initialize' | 'leaseLost' | 'shardEnded' | 'shutdownRequested' | 'shutdown' | 'exit'): void {
    this.instrumentation.emit('lifecycle', { shardId: this.shardId, phase });
  }

  private status(responseFor: string): Promise<void> {
    return this.writer.send({ action: 'status', responseFor });
  }

  private onInputEnd(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    const pending = this.pendingCheckpoint;
    this.pendingCheckpoint = null;
    pending?.reject(new AbortedError('the daemon closed stdin'));
    this.beginShutdown('end of input');
  }

  /**
   * SIGTERM/SIGINT. Under Ctrl-C or systemd's KillMode=control-group the whole process group gets
   * it, the daemon too, and the daemon's graceful shutdown still needs this worker to answer
   * `shutdownRequested`. So with a daemon attached (initialize received, stdin open) the first
   * signal starts a bounded drain; a second signal, or one with no daemon attached, stops now.
   */
  private onSignal(signal: NodeJS.Signals): void {
    if (this.finished) return;
    if (this.draining || this.stopping || !this.initialized || this.inputEnded) {
      this.beginShutdown(this.draining ? `second signal (${signal})` : signal);
      return;
    }
    this.draining = true;
    this.logger.info(
      { signal, busy: this.busy, drainTimeoutMs: this.drainTimeoutMs },
      'signal: draining (finishing the batch in hand and answering the daemon until it closes stdin); a second signal stops now',
    );
    const timer = setTimeout(() => {
      this.logger.warn({ drainTimeoutMs: this.drainTimeoutMs }, 'drain timed out: the daemon did not close stdin; stopping');
      this.beginShutdown('drain timeout');
    }, this.drainTimeoutMs);
    timer.unref();
  }

  private beginShutdown(reason: string): void {
    if (this.stopping || this.finished) return;
    this.stopping = true;
    this.logger.info({ reason, busy: this.busy }, 'shutting down');
    this.abort.abort();
    if (!this.busy) {
      this.finish(ExitCode.OK);
      return;
    }
    const timer = setTimeout(() => {
      this.logger.warn({ timeoutMs: this.shutdownTimeoutMs }, 'gave up waiting for the batch in hand; nothing past it was checkpointed');
      this.finish(ExitCode.OK);
    }, this.shutdownTimeoutMs);
    timer.unref();
  }

  private fatal(err: unknown, code: number, what: string, position?: Position): void {
    if (this.finished) return;
    const message = errorMessage(err);
    this.logger.error({ err: message, ...position, code }, `fatal: ${what}`);
    process.stderr.write(`${oneLine(`kcl worker (shard ${this.shardId}): fatal: ${what}: ${message}`)}\n`);
    this.finish(code);
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.stopping = true;
    this.abort.abort();
    this.stopReading();
    this.gcObserver?.disconnect();
    // The stats line's last line and the metrics' last flush (both listen for 'exit').
    this.lifecycle('exit');
    this.logger.info({ code, lastHandled: this.lastHandled, lastCheckpointed: this.lastCheckpointed }, 'worker exiting');
    this.flushLogs();
    if (this.exitProcess) {
      process.exit(code);
    } else {
      this.restoreStdout();
    }
    this.resolveDone(code);
  }
}

/**
 * Runs this process as a KCL multilang worker that hands each decoded record to `processor`, in
 * order, and checkpoints after every batch whose records were all handled. Resolves with the
 * exit code (the process exits with it unless `exitProcess` is false).
 *
 * @example
 * import { runWithSingleProcessor } from 'kinesis-streams';
 * import { appOpenDecoder } from 'kinesis-streams/app-opens';
 * await runWithSingleProcessor({ decoder: appOpenDecoder, logPath: '/var/log/worker.log' }, async (event, { logger }) => {
 *   logger.info({ platform: event.platform }, 'app open');
 * });
 */
export function runWithSingleProcessor<T>(config: WorkerConfig<T>, processor: RecordProcessor<T>): Promise<number> {
  if (typeof processor !== 'function') throw new TypeError('Expected `processor` to be a function.');
  return new KclWorker(config, { kind: 'record', processor }).start();
}

/**
 * Like {@link runWithSingleProcessor}, but `processor` gets each batch's decoded records at once
 * (poison records already dead-lettered). With `chunkSize`, a batch is handed over in chunks that
 * run concurrently with the decoding of the next; use it only for idempotent, order-insensitive
 * work (such as monotonic writes).
 *
 * @example
 * await runWithBatchProcessor({ decoder: appOpenDecoder }, async (records) => {
 *   await recordLastOpens(redis, records.map((r) => r.value));
 * });
 */
export function runWithBatchProcessor<T>(config: WorkerConfig<T> & { chunkSize?: number }, processor: BatchProcessor<T>): Promise<number> {
  if (typeof processor !== 'function') throw new TypeError('Expected `processor` to be a function.');
  const spec: ProcessorSpec<T> = config.chunkSize === undefined ? { kind: 'batch', processor } : { kind: 'batch', processor, chunkSize: config.chunkSize };
  return new KclWorker(config, spec).start();
}
