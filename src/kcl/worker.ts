/**
 * A worker process for the KCL MultiLangDaemon: the protocol loop. It reads the daemon's actions
 * from stdin, runs each batch through the record pipeline, has the checkpointer checkpoint what
 * was handled, answers every action with exactly one status, and owns stdout so nothing else can
 * write there.
 *
 * The other jobs live beside it: options and defaults (workerConfig.ts), the log (workerLog.ts),
 * checkpoint state and retries (checkpointer.ts), signals, crashes and the fatal stderr line
 * (processHooks.ts), GC pauses and the batch timings line (batchTimings.ts), the stats line
 * (stats.ts) and the metrics (metrics.ts), which both read one collector (workerCollector.ts) of
 * the instrumentation hook's events (events.ts).
 *
 * ## The loop's phases
 *
 * ```
 *   waiting --initialize--> attached --first signal--> draining
 *      |                       |                          |  second signal, drain timeout,
 *      |   a signal, end of    |    end of input          |  end of input
 *      +---- input ----------> stopping <-----------------+
 *                                 |
 *                                 |  the action in hand settled (or shutdownTimeoutMs passed)
 *                                 v
 *   (a fatal error, from any) --> finished: exit code decided, log flushed, process exits
 * ```
 *
 * - **waiting**: started, no `initialize` read yet. A signal stops at once (no daemon to answer).
 * - **attached**: a daemon drives this process. Actions are queued as they are read and handled
 *   one at a time (`busy` while one is in hand); checkpoint replies go straight to the checkpointer.
 * - **draining**: a first SIGTERM/SIGINT while attached. Work goes on exactly as attached (the
 *   daemon's graceful shutdown still needs `shutdownRequested` answered), until the daemon closes
 *   stdin or `drainTimeoutMs` passes.
 * - **stopping**: the abort signal has fired (processors see it; the pipeline starts no new record
 *   and no retry). The action in hand may finish, for up to `shutdownTimeoutMs`; no new one starts.
 * - **finished**: terminal. Nothing more is read or written on stdout.
 */
import { AbortedError, errorMessage } from '../core/errors.js';
import { ExitCode } from '../core/exitCodes.js';
import { LogDeadLetterSink } from '../core/logDeadLetterSink.js';
import { RecordPipeline, resolveSingleOptions, type ProcessorSpec, type SingleProcessorOptions } from '../core/pipeline.js';
import type { BatchProcessor, KinesisRecord, Logger, SingleProcessor } from '../core/types.js';
import { BatchTimingsLog, observeGcPauses } from './batchTimings.js';
import { Checkpointer, positionOf, type Position } from './checkpointer.js';
import { Instrumentation } from './events.js';
import { readLineBytes } from './lineReader.js';
import { parseDaemonLineBytes, type DaemonAction } from './messages.js';
import { WorkerMetrics } from './metrics.js';
import { guardStdout, type ProtocolWriter } from './output.js';
import { exitProcessNow, listenToProcess, writeFatalLine, writeStartFailureLine } from './processHooks.js';
import { WorkerStats } from './stats.js';
import { BatchWatchdog } from './watchdog.js';
import { WorkerCollector } from './workerCollector.js';
import { makeDirs } from '../config/logDestination.js';
import { resolveWorkerSettings, type ResolvedWorkerSettings, type WorkerConfig } from './workerConfig.js';
import { openWorkerLog } from './workerLog.js';

export { ExitCode };
export type { WorkerConfig };

type Phase = 'waiting' | 'attached' | 'draining' | 'stopping' | 'finished';

class KclWorker<T> {
  private readonly settings: ResolvedWorkerSettings;
  private readonly baseLogger: Logger;
  /** The shard's logger: `shardId` bound once `initialize` names it. */
  private logger: Logger;
  private readonly flushLogs: () => void;
  private readonly writer: ProtocolWriter;
  private readonly restoreStdout: () => void;
  private readonly pipeline: RecordPipeline<T>;
  private readonly checkpointer: Checkpointer;
  private readonly stats: WorkerStats;
  private readonly instrumentation: Instrumentation;
  private readonly metrics: WorkerMetrics | undefined;
  private readonly timings: BatchTimingsLog | undefined;
  private readonly stopGcObserver: () => void;
  private readonly watchdog: BatchWatchdog;
  private readonly abort = new AbortController();

  private phase: Phase = 'waiting';
  /** Actions read and not yet handled, in order. */
  private readonly queue: DaemonAction[] = [];
  /** An action is in hand. */
  private busy = false;
  /** stdin ended (or stdout failed): the daemon is gone. */
  private inputEnded = false;
  private stopReading: () => void = () => undefined;
  private shardId = 'uninitialized';
  private exitCode: number | undefined;

  private resolveDone!: (code: number) => void;
  readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));

  constructor(
    private readonly config: WorkerConfig<T>,
    spec: ProcessorSpec<T>,
  ) {
    this.settings = resolveWorkerSettings(config);
    this.instrumentation = config.instrumentation ?? new Instrumentation();
    this.instrumentation.setListenerErrorHandler((err, event) => this.logger.warn({ err: errorMessage(err), event }, 'instrumentation listener failed (ignored)'));
    this.timings = this.settings.batchTimings ? new BatchTimingsLog(this.instrumentation, () => this.logger) : undefined;
    this.stopGcObserver = observeGcPauses(this.instrumentation);

    const log = openWorkerLog(config);
    this.baseLogger = log.logger;
    this.flushLogs = log.flush;
    this.logger = this.baseLogger.child({ shardId: null });
    if (this.settings.healthDir !== undefined) makeDirs(this.settings.healthDir);
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
      classify: config.classify,
    });
    this.checkpointer = new Checkpointer({
      send: (request) => this.writer.send(request),
      retry: this.settings.checkpointRetry,
      signal: this.abort.signal,
      instrumentation: this.instrumentation,
      logger: () => this.logger,
      shardId: () => this.shardId,
    });
    this.watchdog = new BatchWatchdog({
      stuckBatchMs: this.settings.stuckBatchMs,
      stuckBatchExitMs: this.settings.stuckBatchExitMs,
      healthDir: this.settings.healthDir,
      healthIntervalMs: this.settings.healthIntervalMs,
      instrumentation: this.instrumentation,
      logger: () => this.logger,
      logDrops: log.drops,
      onExit: (r) => {
        const err = new Error(
          `${r.action} in hand for ${r.inHandMs} ms, over stuckBatchExitMs ${this.settings.stuckBatchExitMs} (sequence number ${r.sequenceNumber ?? 'n/a'}; last error: ${r.lastError ?? 'none'}); nothing past the last checkpoint (${r.lastCheckpoint ?? 'none'}) was checkpointed`,
        );
        this.fatal(err, ExitCode.STUCK_BATCH, 'stuck batch', r.sequenceNumber === null ? undefined : { sequenceNumber: r.sequenceNumber, subSequenceNumber: 0 });
      },
    });
    const collector = new WorkerCollector(this.instrumentation);
    this.stats = new WorkerStats(collector, () => this.logger, this.settings.statsIntervalMs, log.drops);
    this.metrics = config.metrics ? new WorkerMetrics(config.metrics, collector, () => this.logger, log.drops) : undefined;
  }

  start(): Promise<number> {
    const input = this.config.input ?? process.stdin;
    if (this.settings.exitProcess) {
      listenToProcess(this.config.stdout ?? process.stdout, {
        signal: (signal) => this.onSignal(signal),
        crash: (err) => this.fatal(err, ExitCode.CRASH, 'uncaught exception'),
        unhandledRejection: (reason) =>
          this.logger.error({ err: errorMessage(reason) }, 'unhandled promise rejection in user code (ignored; the batch outcome does not depend on it)'),
        stdoutError: (err) => {
          this.logger.warn({ err: errorMessage(err) }, 'stdout closed by the daemon');
          this.onInputEnd();
        },
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
    this.watchdog.start();
    this.logger.info({ pid: process.pid }, 'worker started; waiting for the daemon');
    return this.done;
  }

  private onLine(line: Buffer, firstChunkAt: number): void {
    if (this.phase === 'finished') return;
    let msg;
    const t0 = this.timings ? performance.now() : 0;
    try {
      msg = parseDaemonLineBytes(line);
    } catch (err) {
      this.fatal(err, ExitCode.PROTOCOL_ERROR, 'protocol error');
      return;
    }
    if (msg === null) return;
    if (this.timings && msg.action === 'processRecords') this.timings.lineParsed({ readMs: t0 - firstChunkAt, parseMs: performance.now() - t0, chars: line.length });
    if (msg.action === 'initialize' && this.phase === 'waiting') this.phase = 'attached';
    if (msg.action === 'checkpoint') {
      this.checkpointer.reply(msg);
      return;
    }
    this.queue.push(msg);
    this.pump();
  }

  /** Starts the next queued action unless one is in hand; in `stopping`, finishes instead. */
  private pump(): void {
    if (this.busy || this.phase === 'finished') return;
    if (this.phase === 'stopping') {
      this.finish(ExitCode.OK);
      return;
    }
    const next = this.queue.shift();
    if (!next) return;
    this.busy = true;
    this.watchdog.actionStarted(next.action, next.action === 'processRecords' ? next.records : undefined);
    this.handle(next).then(
      () => {
        this.busy = false;
        this.watchdog.actionDone();
        this.pump();
      },
      (err: unknown) => {
        this.busy = false;
        this.watchdog.actionDone();
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
        this.watchdog.shard(msg.shardId);
        this.logger = this.baseLogger.child({ shardId: msg.shardId });
        this.pipeline.setLogger(this.logger);
        if (msg.sequenceNumber !== null && /^\d+$/.test(msg.sequenceNumber)) {
          this.checkpointer.resumedAt({ sequenceNumber: msg.sequenceNumber, subSequenceNumber: msg.subSequenceNumber ?? 0 });
        }
        this.logger.info({ sequenceNumber: msg.sequenceNumber, subSequenceNumber: msg.subSequenceNumber }, 'initialize');
        this.lifecycle('initialize');
        return this.status('initialize');
      case 'processRecords':
        return this.processRecords(msg.records, msg.millisBehindLatest);
      case 'leaseLost':
        this.checkpointer.stop();
        this.logger.info(this.checkpointer.positions, 'lease lost: another worker owns the shard now; not checkpointing');
        this.lifecycle('leaseLost');
        return this.status('leaseLost');
      case 'shardEnded':
        this.logger.info({}, 'shard ended: checkpointing SHARD_END');
        await this.checkpointer.checkpointShardEnd();
        this.lifecycle('shardEnded');
        return this.status('shardEnded');
      case 'shutdownRequested':
        this.logger.info({ lastHandled: this.checkpointer.positions.lastHandled }, 'shutdown requested: checkpointing what is done');
        await this.checkpointer.checkpointHandled();
        this.lifecycle('shutdownRequested');
        return this.status('shutdownRequested');
      case 'shutdown':
        // KCL 1.x: TERMINATE is the end of the shard, ZOMBIE a lost lease.
        if (msg.reason === 'TERMINATE') await this.checkpointer.checkpointShardEnd();
        else this.checkpointer.stop();
        this.lifecycle('shutdown');
        return this.status('shutdown');
    }
  }

  private async processRecords(records: KinesisRecord[], millisBehindLatest: number | null): Promise<void> {
    const started = performance.now();
    const outcome = await this.pipeline.run({ shardId: this.shardId, records, millisBehindLatest, signal: this.abort.signal });
    if (outcome.complete) {
      const last = records[records.length - 1];
      if (last) this.checkpointer.handled(positionOf(last));
      const beforeCheckpoint = performance.now();
      await this.checkpointer.checkpointHandled();
      this.timings?.log(records.length, started, beforeCheckpoint);
      return this.status('processRecords');
    }
    if (outcome.error instanceof AbortedError || this.abort.signal.aborted) throw new AbortedError();
    // Retries ran out: checkpoint the handled prefix, then stop loudly so a supervisor restarts
    // the daemon and the shard resumes at the first unhandled record.
    const lastDone = records[outcome.firstUnhandled - 1];
    if (lastDone) this.checkpointer.handled(positionOf(lastDone));
    await this.checkpointer.checkpointHandled();
    const failed = records[outcome.firstUnhandled];
    this.fatal(outcome.error, ExitCode.RETRIES_EXHAUSTED, 'retries exhausted', failed ? positionOf(failed) : undefined);
    throw new AbortedError('stopping after exhausted retries');
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
    this.checkpointer.close();
    this.beginShutdown('end of input');
  }

  /**
   * SIGTERM/SIGINT. Under Ctrl-C or systemd's KillMode=control-group the whole process group gets
   * it, the daemon too, and the daemon's graceful shutdown still needs this worker to answer
   * `shutdownRequested`. So while attached the first signal starts a bounded drain; a second
   * signal, or one in any other phase, stops now.
   */
  private onSignal(signal: NodeJS.Signals): void {
    if (this.phase === 'finished') {
      // Still here after finishing: the exit was held up. A signal always ends the process.
      if (this.settings.exitProcess) exitProcessNow(this.exitCode ?? ExitCode.OK);
      return;
    }
    if (this.phase !== 'attached') {
      this.beginShutdown(this.phase === 'draining' ? `second signal (${signal})` : signal);
      return;
    }
    this.phase = 'draining';
    const drainTimeoutMs = this.settings.drainTimeoutMs;
    this.logger.info(
      { signal, busy: this.busy, drainTimeoutMs },
      'signal: draining (finishing the batch in hand and answering the daemon until it closes stdin); a second signal stops now',
    );
    const timer = setTimeout(() => {
      this.logger.warn({ drainTimeoutMs }, 'drain timed out: the daemon did not close stdin; stopping');
      this.beginShutdown('drain timeout');
    }, drainTimeoutMs);
    timer.unref();
  }

  private beginShutdown(reason: string): void {
    if (this.phase === 'stopping' || this.phase === 'finished') return;
    this.phase = 'stopping';
    this.logger.info({ reason, busy: this.busy }, 'shutting down');
    this.abort.abort();
    if (!this.busy) {
      this.finish(ExitCode.OK);
      return;
    }
    const timer = setTimeout(() => {
      this.logger.warn({ timeoutMs: this.settings.shutdownTimeoutMs }, 'gave up waiting for the batch in hand; nothing past it was checkpointed');
      this.finish(ExitCode.OK);
    }, this.settings.shutdownTimeoutMs);
    timer.unref();
  }

  private fatal(err: unknown, code: number, what: string, position?: Position): void {
    if (this.phase === 'finished') return;
    this.logger.error({ err: errorMessage(err), ...position, code }, `fatal: ${what}`);
    writeFatalLine(this.shardId, what, err);
    this.finish(code);
  }

  private finish(code: number): void {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    this.exitCode = code;
    // Nothing below may keep the process from exiting: each step is on its own.
    const step = (fn: () => void): void => {
      try {
        fn();
      } catch {
        // a failing log, metrics or health destination must not hold the exit
      }
    };
    step(() => this.abort.abort());
    step(() => this.stopReading());
    step(() => this.stopGcObserver());
    step(() => this.watchdog.stop(code));
    // The stats line's last line and the metrics' last flush (both listen for 'exit').
    step(() => this.lifecycle('exit'));
    step(() => this.logger.info({ code, ...this.checkpointer.positions }, 'worker exiting'));
    step(() => this.flushLogs());
    if (this.settings.exitProcess) {
      exitProcessNow(code);
    } else {
      this.restoreStdout();
    }
    this.resolveDone(code);
  }
}

/**
 * Runs this process as a KCL multilang worker that hands each decoded record to `processor` and
 * checkpoints after every batch whose records were all handled. Records of one partition key (or
 * of one `keyOf` key) are handled one after another in sequence order; records of different keys
 * concurrently, at most `concurrency` (default 64) at a time; `concurrency: 1` handles the batch
 * strictly in shard order. Resolves with the exit code (the process exits with it unless
 * `exitProcess` is false).
 *
 * @example
 * import { runWithSingleProcessor } from 'kinesis-streams';
 * import { appOpenDecoder } from 'kinesis-streams/app-opens';
 * await runWithSingleProcessor({ decoder: appOpenDecoder, logPath: '/var/log/worker.log' }, async (event, { logger }) => {
 *   logger.info({ platform: event.platform }, 'app open');
 * });
 */
export function runWithSingleProcessor<T>(config: WorkerConfig<T> & SingleProcessorOptions<T>, processor: SingleProcessor<T>): Promise<number> {
  if (typeof processor !== 'function') throw new TypeError('Expected `processor` to be a function.');
  const { concurrency, keyOf } = resolveSingleOptions(config);
  return startWorker(config, { kind: 'single', processor, concurrency, keyOf });
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
  return startWorker(config, spec);
}

/**
 * Builds and starts a worker. A worker that cannot start (a malformed setting or KCL_*
 * variable, a log file or health folder that cannot be opened) writes one stderr line and exits
 * ExitCode.CONFIG_ERROR (78); with `exitProcess: false` the error is thrown instead.
 */
function startWorker<T>(config: WorkerConfig<T>, spec: ProcessorSpec<T>): Promise<number> {
  let worker: KclWorker<T>;
  try {
    worker = new KclWorker(config, spec);
  } catch (err) {
    if (config.exitProcess === false) throw err;
    writeStartFailureLine(err);
    exitProcessNow(ExitCode.CONFIG_ERROR);
  }
  return worker.start();
}
