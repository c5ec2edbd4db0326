/**
 * Which checkpoint failures the KCL daemon reports are worth another try, and how many: the error
 * domain `'kcl-checkpoint'` of the registry in src/core/errorRegistry.ts, whose table lives here.
 *
 * The daemon answers a checkpoint with the simple name of the Java exception
 * (`{"action":"checkpoint","error":"ThrottlingException"}`). `ShutdownException` is not retried
 * (the checkpointer stops checkpointing the lease), and nor is any name not in the table.
 */
import { NON_RETRIABLE, classifyError, registerErrorDomain, stringFieldOf, tableRule, type ErrorClassification } from '../core/errors.js';

/**
 * The error domain of the daemon's checkpoint replies.
 */
export const CHECKPOINT_ERRORS = 'kcl-checkpoint';

registerErrorDomain(CHECKPOINT_ERRORS, {
  fallback: NON_RETRIABLE,
  rules: [
    tableRule('checkpoint error', (err) => (typeof err === 'string' ? err : stringFieldOf(err, 'name')), {
      // Retried up to the checkpointer's own limit (checkpointRetry.maxAttempts).
      ThrottlingException: { retriable: true },
      KinesisClientLibDependencyException: { retriable: true },
      // The lease table is in a state a short wait may clear, or not: three tries, then give up.
      InvalidStateException: { retriable: true, maxAttempts: 3 },
    }),
  ],
});

/**
 * Classifies the `error` of a checkpoint reply (the Java exception's simple name).
 */
export function classifyCheckpointError(error: string): ErrorClassification {
  return classifyError(error, CHECKPOINT_ERRORS);
}

/**
 * How many attempts in all (the first included) a checkpoint that failed with `error` gets:
 * `defaultMaxAttempts` (the checkpointer's `checkpointRetry.maxAttempts`) for throttling and
 * dependency failures, 3 for `InvalidStateException`, 1 (no retry) for anything else. The
 * checkpointer retries while `attempt < checkpointAttemptsFor(reply.error, maxAttempts)`.
 */
export function checkpointAttemptsFor(error: string, defaultMaxAttempts: number): number {
  const verdict = classifyCheckpointError(error);
  if (!verdict.retriable) return 1;
  return verdict.maxAttempts ?? defaultMaxAttempts;
}
