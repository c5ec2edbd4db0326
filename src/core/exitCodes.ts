/**
 * The exit codes of every process the framework runs (KCL workers, the binaries built on it), in
 * one place: a supervisor, a test and the docs read the same numbers.
 */

/**
 * Exit codes of a worker process (and of the binaries: 78 for a configuration error).
 *
 * @example
 * if (!process.env.STREAM_NAME) process.exit(ExitCode.CONFIG_ERROR); // 78
 */
export const ExitCode = Object.freeze({
  /** The daemon closed stdin, or SIGTERM: a normal end. */
  OK: 0,
  /** An unexpected crash (uncaught exception). */
  CRASH: 1,
  /** The daemon sent a line the worker cannot understand. */
  PROTOCOL_ERROR: 2,
  /** A retriable failure outlasted `retry.maxAttempts`. Nothing past it was checkpointed. */
  RETRIES_EXHAUSTED: 3,
  /** A mandatory setting is missing or malformed (sysexits' EX_CONFIG; used by the binaries). */
  CONFIG_ERROR: 78,
});
