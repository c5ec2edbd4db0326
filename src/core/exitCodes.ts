/**
 * The exit codes of every process the framework runs (KCL workers, the binaries built on it), in
 * one place: a supervisor, a test and the docs read the same numbers.
 */

/**
 * Exit codes of a worker process (and of the binaries: 78 for a configuration error).
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
  /**
   * A batch stayed in hand longer than `stuckBatchExitMs` (`KCL_STUCK_BATCH_EXIT_MS`): the worker
   * gave up on it. Nothing past the last checkpoint was checkpointed; the daemon's supervisor
   * restarts and the shard resumes from there.
   */
  STUCK_BATCH: 4,
  /** A mandatory setting is missing or malformed, or the log file cannot be opened (sysexits' EX_CONFIG; used by the binaries). */
  CONFIG_ERROR: 78,
});
