/**
 * The default dead-letter destination of every runtime: the log itself.
 */
import type { DeadLetter, DeadLetterSink, Logger } from './types.js';

/**
 * Writes each dead letter as one error line, `dead letter`, with the whole record (its data
 * included, base64) and the reason, so it can be replayed from the log. It declares
 * `logsLetters`: the pipeline then adds no `dead-lettering record` line of its own, and each dead
 * letter is one line. The KCL worker and the Lambda handler use it when no sink is given.
 *
 * @example
 * const sink = new LogDeadLetterSink(logger);
 * await sink.write([{ shardId, record, reason: 'DecodeError: truncated' }]);
 * // {"level":50,...,"deadLetter":{"data":"...","sequenceNumber":"...","shardId":"...","reason":"DecodeError: truncated"},"msg":"dead letter"}
 */
export class LogDeadLetterSink implements DeadLetterSink {
  readonly logsLetters = true;

  constructor(private readonly logger: Logger) {}

  write(letters: readonly DeadLetter[]): Promise<void> {
    for (const l of letters) this.logger.error({ deadLetter: { ...l.record, shardId: l.shardId, reason: l.reason } }, 'dead letter');
    return Promise.resolve();
  }
}
