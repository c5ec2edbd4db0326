/**
 * Worker logging: pino, to a file (or stderr when asked), never to stdout.
 */
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
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
 * Opens (creating it and its folders) a log file for appending, synchronously. Given a path,
 * pino's destination opens the file asynchronously, and a process that exits before that open
 * completes has pino's exit hook throw ("sonic boom is not ready yet"): `process.exit()` is then
 * abandoned and the process lingers. With the descriptor in hand the file is writable at once.
 */
function openLogFile(path: string): number {
  mkdirSync(dirname(path), { recursive: true });
  return openSync(path, 'a');
}

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
    : pino.destination({ dest: openLogFile(options.destination), sync: false, minLength: 0 });
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
