/**
 * A worker and its process: the signals and crashes it listens for, the one stderr line of a
 * fatal stop, and the exit. Nothing here decides what a signal means; the worker does.
 */
import type { Writable } from 'node:stream';
import { errorMessage } from '../core/errors.js';

/** What a worker is told by its process. */
export interface ProcessHandlers {
  /** SIGTERM or SIGINT. */
  signal: (signal: NodeJS.Signals) => void;
  /** An exception nobody caught: the worker must stop. */
  crash: (err: unknown) => void;
  /** A promise rejected with nobody listening (in user code: the batch does not depend on it). */
  unhandledRejection: (reason: unknown) => void;
  /** stdout failed (the daemon closed its end of the pipe). */
  stdoutError: (err: unknown) => void;
}

/**
 * Subscribes `handlers` to the process's signals, crashes and the stdout stream's errors.
 */
export function listenToProcess(stdout: Writable, handlers: ProcessHandlers): void {
  process.on('SIGTERM', () => handlers.signal('SIGTERM'));
  process.on('SIGINT', () => handlers.signal('SIGINT'));
  process.on('uncaughtException', (err) => handlers.crash(err));
  process.on('unhandledRejection', (reason) => handlers.unhandledRejection(reason));
  stdout.on('error', (err) => handlers.stdoutError(err));
}

/**
 * The daemon reads a worker's stderr line by line (Java's readLine also ends a line at a lone \r)
 * and logs each one: escape control characters and Unicode line separators, which can come from
 * the daemon's own input (a shard id, a malformed line), so a fatal message stays one line.
 */
export const oneLine = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * Writes the one stderr line of a fatal stop: `kcl worker (shard <id>): fatal: <what>: <error>`.
 */
export function writeFatalLine(shardId: string, what: string, err: unknown): void {
  process.stderr.write(`${oneLine(`kcl worker (shard ${shardId}): fatal: ${what}: ${errorMessage(err)}`)}\n`);
}

/**
 * Writes the one stderr line of a worker that cannot start (a setting, the log file, the health
 * folder): `kcl worker: fatal: cannot start: <error>`.
 */
export function writeStartFailureLine(err: unknown): void {
  try {
    process.stderr.write(`${oneLine(`kcl worker: fatal: cannot start: ${errorMessage(err)}`)}\n`);
  } catch {
    // stderr is gone: the exit code still tells
  }
}

/**
 * Ends the process with `code`, whatever happens: an `exit` listener that throws (a logger's
 * final flush on a full disk did) makes `process.exit` throw, and a process whose uncaught
 * exceptions are handled then lingers, deaf to SIGTERM. The second call skips the listeners.
 */
export function exitProcessNow(code: number): never {
  try {
    process.exit(code);
  } catch {
    process.exit(code);
  }
}
