/**
 * A worker's logger: the one it was given, or a pino logger on its log file; with the stream and
 * worker names bound to every line.
 */
import { createWorkerLogger, type LogDrops } from '../config/logging.js';
import type { Logger } from '../core/types.js';
import { DEFAULT_WORKER_OPTIONS, type WorkerConfig } from './workerConfig.js';

/**
 * Opens the worker's log. `flush` writes out buffered lines synchronously (called once, at exit);
 * `drops` counts the lines a failing log destination dropped (from `config.logDrops` when the
 * logger is the caller's). Throws when the log file cannot be opened.
 */
export function openWorkerLog(
  config: Pick<WorkerConfig<unknown>, 'logger' | 'flushLogs' | 'logDrops' | 'logPath' | 'logLevel' | 'streamName' | 'workerName' | 'statsIntervalMs'>,
): { logger: Logger; flush: () => void; drops: (() => LogDrops) | undefined } {
  const base: Record<string, unknown> = {};
  if (config.streamName) base.stream = config.streamName;
  if (config.workerName) base.worker = config.workerName;
  if (config.logger) return { logger: config.logger.child(base), flush: config.flushLogs ?? (() => undefined), drops: config.logDrops };
  const statsIntervalMs = config.statsIntervalMs ?? DEFAULT_WORKER_OPTIONS.statsIntervalMs;
  const created = createWorkerLogger({
    destination: config.logPath ?? DEFAULT_WORKER_OPTIONS.logPath,
    level: config.logLevel ?? DEFAULT_WORKER_OPTIONS.logLevel,
    base,
    // A log that cannot be written: one stderr line per stats interval at most.
    dropReportIntervalMs: statsIntervalMs > 0 ? statsIntervalMs : DEFAULT_WORKER_OPTIONS.statsIntervalMs,
  });
  return { logger: created.logger, flush: created.flushSync, drops: created.drops };
}
