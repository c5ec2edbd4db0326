/**
 * Dead letters in a Redis stream: `deadletter:<streamName>`, one entry per record, capped.
 */
import { RetriableError } from '../core/errors.js';
import type { DeadLetter, DeadLetterSink } from '../core/types.js';
import { refreshTopology, runBounded, translateRedisError } from './errors.js';
import type { RedisClient } from './settings.js';

/**
 * Options of {@link RedisDeadLetterSink}.
 *
 * @example
 * new RedisDeadLetterSink(redis, { streamName: 'app-opens', maxLen: 10_000 });
 */
export interface RedisDeadLetterSinkOptions {
  /** The Kinesis stream's name; entries go to `deadletter:<streamName>`. Required. */
  streamName: string;
  /** Approximate cap on the stream's length (`XADD ... MAXLEN ~ maxLen`). Default 100,000. */
  maxLen?: number;
}

/**
 * The defaults of {@link RedisDeadLetterSinkOptions}.
 *
 * @example
 * new RedisDeadLetterSink(redis, { streamName: 's' }).maxLen === DEFAULT_DEAD_LETTER_MAX_LEN; // true
 */
export const DEFAULT_DEAD_LETTER_MAX_LEN = 100_000;

/**
 * The fields of every dead-letter stream entry, in the order they are written.
 *
 * @example
 * const [, fields] = (await redis.xrange('deadletter:app-opens', '-', '+', 'COUNT', 1))[0]!;
 * // fields: ['sequenceNumber', '4960...', 'subSequenceNumber', '0', ..., 'data', 'w4EB...']
 */
export const DEAD_LETTER_FIELDS = Object.freeze([
  'sequenceNumber',
  'subSequenceNumber',
  'shardId',
  'partitionKey',
  'reason',
  'data',
] as const);

/**
 * The Redis key of a stream's dead letters.
 *
 * @example
 * deadLetterKey('app-opens'); // 'deadletter:app-opens'
 */
export function deadLetterKey(streamName: string): string {
  return `deadletter:${streamName}`;
}

/**
 * A {@link DeadLetterSink} writing to the Redis stream `deadletter:<streamName>` with
 * `XADD key MAXLEN ~ <maxLen> * sequenceNumber .. subSequenceNumber .. shardId .. partitionKey ..
 * reason .. data <base64 as received>`, all letters of a call in one pipeline. Any failure
 * rejects with a {@link RetriableError} (a dead letter that cannot be stored must not let its batch
 * be checkpointed); letters already added before the failure are added again on retry, so a
 * reader may see duplicates (same sequenceNumber and subSequenceNumber). Works with Redis
 * Cluster: every entry goes to the same key, hence one slot.
 *
 * @example
 * const deadLetters = new RedisDeadLetterSink(redis, { streamName: 'app-opens', maxLen: 50_000 });
 * await deadLetters.write([{ shardId: 'shardId-000000000000', record, reason: 'DecodeError: truncated' }]);
 */
export class RedisDeadLetterSink implements DeadLetterSink {
  /** The stream written to. */
  readonly key: string;
  readonly maxLen: number;
  private readonly redis: RedisClient;

  constructor(redis: RedisClient, options: RedisDeadLetterSinkOptions) {
    if (typeof options?.streamName !== 'string' || options.streamName === '') {
      throw new TypeError('Expected `streamName` to be a non-empty string.');
    }
    const maxLen = options.maxLen ?? DEFAULT_DEAD_LETTER_MAX_LEN;
    if (!(Number.isSafeInteger(maxLen) && maxLen >= 1)) {
      throw new TypeError('Expected `maxLen` to be a positive integer.');
    }
    this.redis = redis;
    this.key = deadLetterKey(options.streamName);
    this.maxLen = maxLen;
  }

  async write(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const what = `XADD ${this.key} (${letters.length} dead letters)`;
    const cap = String(this.maxLen);
    const replies = await runBounded(this.redis, what, () => {
      const pipeline = this.redis.pipeline();
      for (const l of letters) {
        const r = l.record;
        pipeline.xadd(
          this.key,
          'MAXLEN',
          '~',
          cap,
          '*',
          'sequenceNumber',
          r.sequenceNumber,
          'subSequenceNumber',
          String(r.subSequenceNumber),
          'shardId',
          l.shardId,
          'partitionKey',
          r.partitionKey,
          'reason',
          l.reason,
          'data',
          r.data,
        );
      }
      return pipeline.exec();
    }).catch((err: unknown) => {
      throw asRetriable(err);
    });
    for (const [err] of replies ?? []) {
      if (err) {
        refreshTopology(this.redis);
        throw asRetriable(translateRedisError(err, what, this.redis));
      }
    }
  }
}

/** Any failure to store a dead letter is worth retrying: it is never the record's fault. */
function asRetriable(err: unknown): RetriableError {
  if (err instanceof RetriableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RetriableError(message, { cause: err });
}
