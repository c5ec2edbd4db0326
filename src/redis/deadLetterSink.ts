/**
 * Dead letters in a Redis stream: `deadletter:<streamName>`, one entry per record, bounded per
 * letter (the data kept), in entries and in bytes.
 */
import { DEFAULT_DEAD_LETTER_MAX_DATA_BYTES, capDeadLetterData, checkMaxDataBytes } from '../core/deadLetterData.js';
import { RetriableError } from '../core/errors.js';
import type { DeadLetter, DeadLetterSink, DeadLetterWriteResult, Logger } from '../core/types.js';
import { DEAD_LETTER_SCRIPTS, estimateEntryBytes } from './deadLetterBudget.js';
import { runBounded } from './errors.js';
import type { RedisClient } from './settings.js';

/**
 * Options of {@link RedisDeadLetterSink}.
 *
 * @example
 * new RedisDeadLetterSink(redis, { streamName: 'app-opens', maxLen: 10_000, maxBytes: 64 * 1024 * 1024, logger });
 */
export interface RedisDeadLetterSinkOptions {
  /** The Kinesis stream's name; entries go to `deadletter:<streamName>`. Required. */
  streamName: string;
  /** Cap on the stream's length, in entries (the oldest go first). Default 100,000. */
  maxLen?: number;
  /**
   * The most bytes of a record's data an entry keeps. Default 64 KiB. A larger record's entry
   * keeps its first `maxDataBytes` bytes and three more fields: `truncated` `1`, `dataBytes` (the
   * full size) and `dataSha256` (hex SHA-256 of the full bytes).
   */
  maxDataBytes?: number;
  /**
   * Budget of the whole stream, bytes (estimated per entry, an upper bound of Redis's memory for
   * it): the oldest entries are deleted to stay inside it. Default 256 MiB. At least twice the
   * largest entry `maxDataBytes` allows (see {@link minDeadLetterMaxBytes}).
   */
  maxBytes?: number;
  /** Told, at most once per `logIntervalMs`, how many letters were dropped to stay inside the bounds. */
  logger?: Logger;
  /** Default 60,000. */
  logIntervalMs?: number;
}

/**
 * The defaults of {@link RedisDeadLetterSinkOptions}.
 */
export const DEFAULT_DEAD_LETTER_MAX_LEN = 100_000;

/**
 * The default byte budget of a dead-letter stream (256 MiB): about 2,900 letters cut at the
 * default 64 KiB, or the 100,000 of the count cap when they are small (an AppOpen letter counts
 * about 400 bytes).
 */
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 256 * 1024 * 1024;

/**
 * The fields of every dead-letter stream entry, in the order they are written. An entry whose
 * data was cut has {@link TRUNCATED_DEAD_LETTER_FIELDS} after them.
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
 * The fields an entry has after {@link DEAD_LETTER_FIELDS} when its record was larger than
 * `maxDataBytes`: `truncated` (`1`), `dataBytes` (the record's full size) and `dataSha256` (hex).
 */
export const TRUNCATED_DEAD_LETTER_FIELDS = Object.freeze(['truncated', 'dataBytes', 'dataSha256'] as const);

/**
 * Bytes of an entry besides its data, at most: the field names, a reason of 1,000 characters (the
 * pipeline's longest), a partition key of 256 (Kinesis's longest), 4 bytes each in UTF-8, and the
 * numbers, shard id and digest.
 */
const MAX_FIXED_ENTRY_BYTES = 1000 * 4 + 256 * 4 + 512;

/**
 * The smallest `maxBytes` allowed with `maxDataBytes`: twice the estimate of the largest entry.
 */
export function minDeadLetterMaxBytes(maxDataBytes: number): number {
  const base64 = Math.ceil(maxDataBytes / 3) * 4;
  return 2 * estimateEntryBytes(['x'.repeat(MAX_FIXED_ENTRY_BYTES), 'x'.repeat(base64)]);
}

/** Letters, and bytes of arguments, per script call at most: each call is atomic in Redis, so keep it short. */
const LETTERS_PER_CALL = 200;
const ARG_BYTES_PER_CALL = 8 * 1024 * 1024;
/** Estimated bytes a call may delete to make room (the rest waits for the next calls). */
const EVICT_LIMIT_PER_CALL = 32 * 1024 * 1024;

/**
 * The Redis key of a stream's dead letters.
 */
export function deadLetterKey(streamName: string): string {
  return `deadletter:${streamName}`;
}

/**
 * The Redis key holding the estimated bytes of a stream's dead letters:
 * `deadletter:{deadletter:<name>}:bytes`. Its hash tag is the dead-letter stream's key, so both are
 * in one cluster slot; its prefix keeps it under the same ACL key patterns (`~deadletter:*`).
 */
export function deadLetterBytesKey(streamName: string): string {
  return `deadletter:{${deadLetterKey(streamName)}}:bytes`;
}

/**
 * The fields and values of one letter's entry: {@link DEAD_LETTER_FIELDS}, the data as received
 * when it fits in `maxDataBytes`, else its prefix and {@link TRUNCATED_DEAD_LETTER_FIELDS}.
 */
function entryOf(l: DeadLetter, maxDataBytes: number): string[] {
  const r = l.record;
  const kept = capDeadLetterData(r, maxDataBytes);
  const fields = [
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
    kept.data,
  ];
  if (kept.truncated) fields.push('truncated', '1', 'dataBytes', String(kept.dataBytes), 'dataSha256', kept.dataSha256);
  return fields;
}

/**
 * A {@link DeadLetterSink} writing to the Redis stream `deadletter:<streamName>`, one entry per
 * letter with the fields `sequenceNumber subSequenceNumber shardId partitionKey reason data` (the
 * base64 as received), and, for a record over `maxDataBytes`, its first `maxDataBytes` bytes as
 * `data` followed by `truncated 1 dataBytes <full size> dataSha256 <hex>`.
 *
 * The stream is bounded twice: at most `maxLen` entries, and at most `maxBytes` estimated bytes
 * (kept in `deadletter:{deadletter:<streamName>}:bytes`, same cluster slot). Both are kept by one Lua script
 * that deletes the oldest entries before adding, atomically, so any number of workers can write
 * at once. A write always stores its letters; it resolves with `{ dropped }`, the older letters
 * deleted to make room, which the stats line and metrics count and the `logger` reports once per
 * interval.
 *
 * Any failure rejects with a {@link RetriableError} (a dead letter that cannot be stored must not
 * let its batch be checkpointed); letters already added before the failure are added again on
 * retry, so a reader may see duplicates (same sequenceNumber and subSequenceNumber).
 *
 * @example
 * const deadLetters = new RedisDeadLetterSink(redis, { streamName: 'app-opens', maxLen: 50_000, logger });
 * await deadLetters.write([{ shardId: 'shardId-000000000000', record, reason: 'DecodeError: truncated' }]);
 */
export class RedisDeadLetterSink implements DeadLetterSink {
  /** The stream written to. */
  readonly key: string;
  /** The side key holding the stream's estimated bytes. */
  readonly bytesKey: string;
  readonly maxLen: number;
  readonly maxDataBytes: number;
  readonly maxBytes: number;
  private readonly redis: RedisClient;
  private readonly dropLog: DropLog | undefined;

  constructor(redis: RedisClient, options: RedisDeadLetterSinkOptions) {
    if (typeof options?.streamName !== 'string' || options.streamName === '') {
      throw new TypeError('Expected `streamName` to be a non-empty string.');
    }
    const maxLen = options.maxLen ?? DEFAULT_DEAD_LETTER_MAX_LEN;
    if (!(Number.isSafeInteger(maxLen) && maxLen >= 1)) {
      throw new TypeError('Expected `maxLen` to be a positive integer.');
    }
    const maxDataBytes = checkMaxDataBytes(options.maxDataBytes ?? DEFAULT_DEAD_LETTER_MAX_DATA_BYTES, 'maxDataBytes');
    const maxBytes = options.maxBytes ?? DEFAULT_DEAD_LETTER_MAX_BYTES;
    const least = minDeadLetterMaxBytes(maxDataBytes);
    if (!(Number.isSafeInteger(maxBytes) && maxBytes >= least)) {
      throw new TypeError(`Expected \`maxBytes\` to be an integer of at least ${least} (twice the largest entry with maxDataBytes ${maxDataBytes}), got ${String(maxBytes)}.`);
    }
    const logIntervalMs = options.logIntervalMs ?? 60_000;
    if (!(Number.isFinite(logIntervalMs) && logIntervalMs > 0)) throw new TypeError('Expected `logIntervalMs` to be a positive number.');
    this.redis = redis;
    this.key = deadLetterKey(options.streamName);
    this.bytesKey = deadLetterBytesKey(options.streamName);
    this.maxLen = maxLen;
    this.maxDataBytes = maxDataBytes;
    this.maxBytes = maxBytes;
    this.dropLog = options.logger ? new DropLog(options.logger, logIntervalMs, { deadLetterStream: this.key, maxBytes, maxLen }) : undefined;
  }

  async write(letters: readonly DeadLetter[]): Promise<DeadLetterWriteResult> {
    if (letters.length === 0) return { dropped: 0 };
    const head = [this.key, this.bytesKey, String(this.maxBytes), String(this.maxLen), String(EVICT_LIMIT_PER_CALL)];
    let dropped = 0;
    try {
      for (let start = 0; start < letters.length; ) {
        const args = [...head];
        let count = 0;
        let bytes = 0;
        while (start < letters.length && count < LETTERS_PER_CALL && (count === 0 || bytes < ARG_BYTES_PER_CALL)) {
          const fields = entryOf(letters[start++]!, this.maxDataBytes);
          args.push(String(fields.length), ...fields);
          for (const f of fields) bytes += f.length;
          count++;
        }
        const what = `XADD ${this.key} (${count} dead letters)`;
        const reply = await runBounded(this.redis, what, () => DEAD_LETTER_SCRIPTS.add.call<[number, number, number, number]>(this.redis, args));
        dropped += Number(reply[1]);
      }
    } catch (err) {
      throw asRetriable(err);
    } finally {
      if (dropped > 0) this.dropLog?.add(dropped);
    }
    return { dropped };
  }
}

/**
 * Deletes dead-letter entries by id and takes their bytes off the stream's budget (use it, not a
 * bare XDEL, so the budget's estimate stays true). Resolves with the number deleted.
 *
 * @example
 * await deleteDeadLetters(redis, 'app-opens', ['1764000000000-0']); // 1
 */
export async function deleteDeadLetters(redis: RedisClient, streamName: string, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  let deleted = 0;
  for (let start = 0; start < ids.length; start += 500) {
    const chunk = ids.slice(start, start + 500);
    const what = `XDEL ${deadLetterKey(streamName)} (${chunk.length} dead letters)`;
    deleted += Number(await runBounded(redis, what, () => DEAD_LETTER_SCRIPTS.delete.call<number>(redis, [deadLetterKey(streamName), deadLetterBytesKey(streamName), ...chunk])));
  }
  return deleted;
}

/**
 * One warn line per interval at most about letters dropped: the first drop after a quiet interval
 * is told at once, later ones are summed and told when the interval is over.
 */
class DropLog {
  private pending = 0;
  private lastAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly fields: Record<string, unknown>,
  ) {}

  add(n: number): void {
    this.pending += n;
    if (this.timer) return;
    const wait = this.lastAt + this.intervalMs - performance.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
    this.timer.unref();
  }

  private flush(): void {
    if (this.pending === 0) return;
    this.lastAt = performance.now();
    try {
      this.logger.warn(
        { ...this.fields, dropped: this.pending, intervalMs: this.intervalMs },
        'dead letters dropped: the oldest entries of the dead-letter stream were deleted to keep it within its bounds',
      );
    } catch {
      // A logger that throws must not fail the write that already succeeded.
    }
    this.pending = 0;
  }
}

/** Any failure to store a dead letter is worth retrying: it is never the record's fault. */
function asRetriable(err: unknown): RetriableError {
  if (err instanceof RetriableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RetriableError(message, { cause: err });
}
