/**
 * A worker's logger: the one it was given, or a pino logger on its log file; with the stream and
 * worker names bound to every line.
 */
import { createWorkerLogger } from '../config/logging.js';
import type { Logger } from '../core/types.js';
import { DEFAULT_WORKER_OPTIONS, type WorkerConfig } from './workerConfig.js';

/**
 * Opens the worker's log. `flush` writes out buffered lines synchronously (called once, at exit).
 *
 * @example
 * const { logger, flush } = openWorkerLog({ logPath: '/var/log/worker.log', streamName: 'app-opens' });
 */
export function openWorkerLog(
  config: Pick<WorkerConfig<unknown>, 'logger' | 'flushLogs' | 'logPath' | 'logLevel' | 'streamName' | 'workerName'>,
): { logger: Logger; flush: () => void } {
  const base: Record<string, unknown> = {};
  if (config.streamName) base.stream = config.streamName;
  if (config.workerName) base.worker = config.workerName;
  if (config.logger) return { logger: config.logger.child(base), flush: config.flushLogs ?? (() => undefined) };
  const created = createWorkerLogger({
    destination: config.logPath ?? DEFAULT_WORKER_OPTIONS.logPath,
    level: config.logLevel ?? DEFAULT_WORKER_OPTIONS.logLevel,
    base,
  });
  return { logger: created.logger, flush: created.flushSync };
}
