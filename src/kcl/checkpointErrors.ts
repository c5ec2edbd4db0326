/**
 * Which checkpoint failures the KCL daemon reports are worth another try, and how many: the
 * checkpointer's table, and {@link classifyCheckpointError} over it.
 *
 * The daemon answers a checkpoint with the simple name of the Java exception
 * (`{"action":"checkpoint","error":"ThrottlingException"}`). `ShutdownException` is not retried
 * (the checkpointer stops checkpointing the lease), and nor is any name not in the table.
 */
import { stringFieldOf, type ErrorClassification } from '../core/errors.js';

/** The daemon's retriable checkpoint errors, with their own limit where they have one. */
const CHECKPOINT_ERROR_TABLE: ReadonlyMap<string, { retriable: boolean; maxAttempts?: number }> = new Map([
  // Retried up to the checkpointer's own limit (checkpointRetry.maxAttempts).
  ['ThrottlingException', { retriable: true }],
  ['KinesisClientLibDependencyException', { retriable: true }],
  // The lease table is in a state a short wait may clear, or not: three tries, then give up.
  ['InvalidStateException', { retriable: true, maxAttempts: 3 }],
]);

/**
 * Classifies the `error` of a checkpoint reply (the Java exception's simple name, or an error
 * whose `name` is it): `rule: 'checkpoint error <name>'` for the names of the table, otherwise
 * not retriable with `rule: undefined`.
 */
export function classifyCheckpointError(error: unknown): ErrorClassification {
  const name = typeof error === 'string' ? error : stringFieldOf(error, 'name');
  const verdict = name === undefined ? undefined : CHECKPOINT_ERROR_TABLE.get(name);
  return verdict === undefined ? { retriable: false, rule: undefined } : { ...verdict, rule: `checkpoint error ${name}` };
}

/**
 * How many attempts in all (the first included) a checkpoint that failed with `error` gets:
 * `defaultMaxAttempts` (the checkpointer's `checkpointRetry.maxAttempts`) for throttling and
 * dependency failures, 3 for `InvalidStateException`, 1 (no retry) for anything else. The
 * checkpointer retries while `attempt < checkpointAttemptsFor(reply.error, maxAttempts)`.
 * `classify` decides (default {@link classifyCheckpointError}).
 */
export function checkpointAttemptsFor(
  error: string,
  defaultMaxAttempts: number,
  classify: (error: unknown) => ErrorClassification = classifyCheckpointError,
): number {
  const verdict = classify(error);
  if (!verdict.retriable) return 1;
  return verdict.maxAttempts ?? defaultMaxAttempts;
}
