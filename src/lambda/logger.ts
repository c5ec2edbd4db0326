/**
 * Logging on Lambda: JSON lines on stdout, which the runtime ships to CloudWatch Logs. Unlike a
 * KCL worker, a Lambda function's stdout belongs to nobody else.
 */
import pino, { type Logger as PinoLogger } from 'pino';
import { createPinoLogger } from '../config/logging.js';

/** Options of {@link createLambdaLogger}. */
export interface LambdaLoggerOptions {
  /** pino level name. Default `info`. */
  level?: string;
  /** Fields on every line (app, stream...). */
  base?: Record<string, unknown>;
  /** Where lines go. Default: stdout (fd 1), written synchronously. */
  destination?: NodeJS.WritableStream;
}

/**
 * Creates the logger of a Lambda function: pino, JSON lines with `time`, `level` (as a word) and
 * `msg`, passwords and secrets redacted, and no key twice in a line (the duplicate-key guard of the
 * worker's logger: a processor's `logger.info({ shardId })` would otherwise repeat the bound
 * `shardId`, which strict log pipelines reject). Writes are synchronous, so nothing is left in a buffer
 * when the runtime freezes the container after an invocation.
 *
 * @example
 * const logger = createLambdaLogger({ level: process.env.LOG_LEVEL, base: { app: 'lastopens' } });
 * logger.info({ records: 3 }, 'batch done');
 */
export function createLambdaLogger(options: LambdaLoggerOptions = {}): PinoLogger {
  return createPinoLogger({ level: options.level, base: { ...options.base }, dedupeKeys: true }, options.destination ?? pino.destination({ fd: 1, sync: true }));
}
