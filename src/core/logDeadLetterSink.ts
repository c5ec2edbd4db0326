/**
 * The default dead-letter destination of every runtime: the log itself.
 */
import { DEFAULT_DEAD_LETTER_MAX_DATA_BYTES, capDeadLetterData, checkMaxDataBytes } from './deadLetterData.js';
import type { DeadLetter, DeadLetterSink, Logger } from './types.js';

/**
 * Options of {@link LogDeadLetterSink}.
 *
 * @example
 * new LogDeadLetterSink(logger, { maxDataBytes: 4096 });
 */
export interface LogDeadLetterSinkOptions {
  /**
   * The most bytes of a record's data a line carries (default 64 KiB, see
   * `DEFAULT_DEAD_LETTER_MAX_DATA_BYTES`). A larger record's line has the first `maxDataBytes`
   * bytes, `truncated: true`, `dataBytes` (its full size) and `dataSha256` (of its full bytes).
   */
  maxDataBytes?: number;
}

/**
 * Writes each dead letter as one error line, `dead letter`, with the record (its data, base64, up
 * to `maxDataBytes` bytes of it) and the reason, so it can be replayed from the log. A record over
 * the cap is cut: the line then says `truncated: true` with the full size and SHA-256, and the full
 * record is found again by its shard and sequence number in the Kinesis stream, while the stream
 * retains it. It declares `logsLetters`: the pipeline then adds no `dead-lettering record` line of
 * its own, and each dead letter is one line. The KCL worker and the Lambda handler use it when no
 * sink is given.
 *
 * @example
 * const sink = new LogDeadLetterSink(logger);
 * await sink.write([{ shardId: 'shardId-000000000000', record, reason: 'DecodeError: truncated' }]);
 * // {"level":50,...,"deadLetter":{"data":"...","sequenceNumber":"...","shardId":"...","reason":"DecodeError: truncated"},"msg":"dead letter"}
 */
export class LogDeadLetterSink implements DeadLetterSink {
  readonly logsLetters = true;
  /** The cap on the data a line carries, bytes. */
  readonly maxDataBytes: number;

  constructor(
    private readonly logger: Logger,
    options: LogDeadLetterSinkOptions = {},
  ) {
    this.maxDataBytes = checkMaxDataBytes(options.maxDataBytes ?? DEFAULT_DEAD_LETTER_MAX_DATA_BYTES, 'maxDataBytes');
  }

  write(letters: readonly DeadLetter[]): Promise<void> {
    for (const l of letters) {
      const kept = capDeadLetterData(l.record, this.maxDataBytes);
      const record = kept.truncated ? { ...l.record, data: kept.data, truncated: true, dataBytes: kept.dataBytes, dataSha256: kept.dataSha256 } : l.record;
      this.logger.error({ deadLetter: { ...record, shardId: l.shardId, reason: l.reason } }, 'dead letter');
    }
    return Promise.resolve();
  }
}
