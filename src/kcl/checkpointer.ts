/**
 * The checkpointer of a worker's shard: which position has been handled, which one the daemon
 * has confirmed, the checkpoint exchange over the protocol, and its retries.
 *
 * ## States
 *
 * ```
 *             handled(p)                 checkpointHandled()
 *   CURRENT ------------> PENDING ------------------------------> IN_FLIGHT
 *      ^                     ^                                        |
 *      |   the daemon's      |  refused: retriable errors are         |
 *      +---- reply took -----+--- retried with backoff first, then ---+
 *                               the position stays PENDING            |
 *                                                                     |
 *   STOPPED <---- lease lost, ZOMBIE, or a ShutdownException reply ---+
 * ```
 *
 * - **CURRENT**: nothing to checkpoint. No record handled yet, or the last handled position is the
 *   one the daemon confirmed last (the position `initialize` carried counts as confirmed).
 * - **PENDING**: `lastHandled` is past `lastCheckpointed`. It is checkpointed after the next batch,
 *   at `shutdownRequested`, or when retries ran out (the handled prefix). A checkpoint that failed
 *   for good leaves it PENDING, so it is tried again after the next batch.
 * - **IN_FLIGHT**: a request is on stdout and its reply has not arrived. At most one at a time:
 *   the protocol loop handles one action at a time, and a checkpoint is part of handling it.
 * - **STOPPED**: the lease is gone (`leaseLost`, a `shutdown` with reason ZOMBIE, or a
 *   `ShutdownException` reply). No handled position is checkpointed again by this process.
 *   Terminal. (SHARD_END is sent when the daemon asks for it with `shardEnded`, whatever the state.)
 *
 * Besides the state, `closed`: the daemon closed stdin. Every request then fails at once with
 * {@link AbortedError}, and so does the one in flight.
 */
import { AbortedError, StreamError } from '../core/errors.js';
import type { Instrumentation } from './events.js';
import { withRetry, type RetryOptions } from '../core/retry.js';
import type { KinesisRecord, Logger } from '../core/types.js';
import { checkpointAttemptsFor } from './checkpointErrors.js';
import type { CheckpointReply, CheckpointRequest } from './messages.js';

/** A place in a shard: a record's sequence number and, inside a KPL aggregate, its sub-sequence number. */
export interface Position {
  sequenceNumber: string;
  subSequenceNumber: number;
}

/**
 * What a checkpoint names: a position, or SHARD_END (the request's null sequence number: every
 * record delivered, the shard is finished).
 */
export const SHARD_END = 'SHARD_END';
type Target = Position | typeof SHARD_END;

/**
 * The position of a record.
 */
export const positionOf = (r: KinesisRecord): Position => ({ sequenceNumber: r.sequenceNumber, subSequenceNumber: r.subSequenceNumber });

const samePosition = (a: Position | null, b: Position | null): boolean =>
  a !== null && b !== null && a.sequenceNumber === b.sequenceNumber && a.subSequenceNumber === b.subSequenceNumber;

/** The daemon refused a checkpoint: `daemonError` is the Java exception's simple name. */
class CheckpointRefusedError extends StreamError {
  override name = 'CheckpointRefusedError';
  constructor(
    readonly daemonError: string,
    readonly attempt: number,
  ) {
    super(`checkpoint refused: ${daemonError}`);
  }
}

/** What a {@link Checkpointer} needs from its worker. */
export interface CheckpointerOptions {
  /** Sends a request on the protocol (stdout). */
  send: (request: CheckpointRequest) => Promise<void>;
  /** Retries of refused checkpoints (already resolved). */
  retry: Required<RetryOptions>;
  /** Aborted when the worker stops: cuts the wait before a retry short. */
  signal: AbortSignal;
  instrumentation: Instrumentation;
  /** The shard's logger (it changes once `initialize` names the shard). */
  logger: () => Logger;
  shardId: () => string;
}

/**
 * Checkpoints a shard's handled records, see the states above.
 */
export class Checkpointer {
  /** The last record handled (processed or dead-lettered): the most that may be checkpointed. */
  private lastHandled: Position | null = null;
  /** The last position the daemon confirmed (or the one `initialize` resumed from). */
  private lastCheckpointed: Position | null = null;
  private stopped = false;
  private closed = false;
  private inFlight: { resolve: (r: CheckpointReply) => void; reject: (e: unknown) => void } | null = null;

  constructor(private readonly options: CheckpointerOptions) {}

  /** Where the shard stands, for log lines. */
  get positions(): { lastHandled: Position | null; lastCheckpointed: Position | null } {
    return { lastHandled: this.lastHandled, lastCheckpointed: this.lastCheckpointed };
  }

  /** The position `initialize` resumed from (the daemon's last checkpoint), when it is one. */
  resumedAt(position: Position): void {
    this.lastCheckpointed = position;
  }

  /** Every record up to `position` is handled. */
  handled(position: Position): void {
    this.lastHandled = position;
  }

  /** The lease is gone: never checkpoint a handled position again (STOPPED). */
  stop(): void {
    this.stopped = true;
  }

  /** The daemon's reply to the request in flight (a reply with none in flight is logged and ignored). */
  reply(message: CheckpointReply): void {
    const inFlight = this.inFlight;
    if (!inFlight) {
      this.options.logger().warn({ reply: message }, 'checkpoint reply without a pending checkpoint; ignored');
      return;
    }
    this.inFlight = null;
    inFlight.resolve(message);
  }

  /** The daemon closed stdin: the request in flight, and every later one, fail with AbortedError. */
  close(): void {
    this.closed = true;
    const inFlight = this.inFlight;
    this.inFlight = null;
    inFlight?.reject(new AbortedError('the daemon closed stdin'));
  }

  /** Checkpoints the last handled position when it is PENDING; otherwise does nothing. */
  async checkpointHandled(): Promise<void> {
    if (this.stopped || this.lastHandled === null) return;
    if (samePosition(this.lastHandled, this.lastCheckpointed)) return;
    await this.checkpoint(this.lastHandled);
  }

  /** Checkpoints SHARD_END (the daemon's `shardEnded`). Resolves whether it took. */
  checkpointShardEnd(): Promise<boolean> {
    return this.checkpoint(SHARD_END);
  }

  /**
   * Checkpoints `target`, retrying refusals the daemon may lift (throttling, a dependency, an
   * invalid state) with backoff. Resolves whether it took; rejects only with AbortedError (stdin
   * closed, or the worker stopped during a wait).
   */
  private async checkpoint(target: Target): Promise<boolean> {
    const where = {
      sequenceNumber: target === SHARD_END ? SHARD_END : target.sequenceNumber,
      subSequenceNumber: target === SHARD_END ? null : target.subSequenceNumber,
    };
    const { retry } = this.options;
    try {
      await withRetry(
        async (attempt) => {
          const reply = await this.request(target);
          this.options.instrumentation.emit('checkpoint', { shardId: this.options.shardId(), sequenceNumber: where.sequenceNumber, error: reply.error, attempt });
          if (reply.error !== null) throw new CheckpointRefusedError(reply.error, attempt);
        },
        // Each error has its own limit (the 'kcl-checkpoint' error domain), decided by `classify`.
        { ...retry, maxAttempts: Number.POSITIVE_INFINITY },
        {
          signal: this.options.signal,
          attemptAfterAbort: true,
          classify: (err) => err instanceof CheckpointRefusedError && err.attempt < checkpointAttemptsFor(err.daemonError, retry.maxAttempts),
          onRetry: ({ attempt, delayMs, error }) => {
            this.options.logger().warn({ ...where, error: (error as CheckpointRefusedError).daemonError, attempt, retryInMs: delayMs }, 'checkpoint failed; retrying');
          },
        },
      );
    } catch (err) {
      if (!(err instanceof CheckpointRefusedError)) throw err;
      return this.refused(target, where, err);
    }
    this.lastCheckpointed = target === SHARD_END ? this.lastHandled : target;
    this.options.logger().debug(where, 'checkpointed');
    return true;
  }

  private refused(target: Target, where: object, err: CheckpointRefusedError): false {
    const error = err.daemonError;
    if (error === 'ShutdownException') {
      this.stopped = true;
      this.options.logger().warn({ ...where, error }, 'checkpoint refused: the lease is shutting down; no more checkpoints for this lease');
      return false;
    }
    this.options.logger().error(
      { ...where, error, attempts: err.attempt },
      target === SHARD_END
        ? 'SHARD_END checkpoint failed: KCL will not finish this shard until it succeeds'
        : 'checkpoint failed; the position stays pending and is checkpointed again after the next batch',
    );
    return false;
  }

  private request(target: Target): Promise<CheckpointReply> {
    if (this.closed) return Promise.reject(new AbortedError('the daemon closed stdin'));
    const reply = new Promise<CheckpointReply>((resolve, reject) => {
      this.inFlight = { resolve, reject };
    });
    return this.options
      .send({
        action: 'checkpoint',
        sequenceNumber: target === SHARD_END ? null : target.sequenceNumber,
        subSequenceNumber: target === SHARD_END ? null : target.subSequenceNumber,
      })
      .then(() => reply);
  }
}
