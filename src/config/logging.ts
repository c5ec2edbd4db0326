/**
 * Worker logging: pino, to a file (or stderr when asked), never to stdout.
 */
import pino, { type Logger as PinoLogger } from 'pino';

/** Where and how a worker logs. */
export interface LogOptions {
  /** A file path (created with its folders), or `stderr` / `-` for standard error. */
  destination: string;
  /** pino level name. Default `info`. */
  level?: string;
  /** Fields on every line (stream name, worker name...). */
  base?: Record<string, unknown>;
}

/** A logger and the means to get its last lines onto disk before exiting. */
export interface WorkerLogger {
  logger: PinoLogger;
  /** Writes out everything buffered, synchronously; safe to call more than once and at exit. */
  flushSync(): void;
}

/** Keys whose values never reach a log line. */
export const REDACTED_PATHS = ['password', '*.password', 'secret', '*.secret', 'authorization', '*.authorization'];

/**
 * Creates the logger a worker uses. Lines are JSON with `time`, `level`, `msg` and the `base`
 * fields; file output is buffered and flushed at exit through {@link WorkerLogger.flushSync}.
 *
 * @example
 * const { logger, flushSync } = createWorkerLogger({ destination: '/var/log/lastopens.log', base: { stream: 'app-opens' } });
 * logger.info({ shardId: 'shardId-000000000000' }, 'started');
 * process.on('exit', flushSync);
 */
export function createWorkerLogger(options: LogOptions): WorkerLogger {
  const toStderr = options.destination === 'stderr' || options.destination === '-';
  const dest = toStderr
    ? pino.destination({ fd: 2, sync: true })
    : pino.destination({ dest: options.destination, sync: false, mkdir: true, minLength: 0 });
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.base },
      redact: { paths: REDACTED_PATHS, censor: '***' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
  let flushed = false;
  return {
    logger,
    flushSync() {
      if (flushed && toStderr) return;
      flushed = true;
      try {
        dest.flushSync();
      } catch {
        // Nothing buffered yet, or the file is gone: nothing more can be done at exit.
      }
    },
  };
}
