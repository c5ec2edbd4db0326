/**
 * The per-letter byte bound (capDeadLetterData, the log sink) and how drops a sink reports reach
 * the instrumentation hook, the stats line and the metrics. No network.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { capDeadLetterData, DEFAULT_DEAD_LETTER_MAX_DATA_BYTES } from '../../src/core/deadLetterData.js';
import { Instrumentation, type InstrumentationEvents } from '../../src/kcl/events.js';
import { LogDeadLetterSink } from '../../src/core/logDeadLetterSink.js';
import { EmfMetrics } from '../../src/core/emf.js';
import { RecordPipeline } from '../../src/core/pipeline.js';
import type { KinesisRecord, Logger } from '../../src/core/types.js';
import { WorkerStats } from '../../src/kcl/stats.js';
import { WorkerCollector } from '../../src/kcl/workerCollector.js';
import { makeRecords } from '../../src/testing/index.js';

const record = (data: string): KinesisRecord => ({ data, partitionKey: 'pk', sequenceNumber: '4960', subSequenceNumber: 2, approximateArrivalTimestamp: null });
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A logger that keeps every line. */
function capture(): { logger: Logger; lines: Array<{ level: string; obj: Record<string, unknown>; msg: string | undefined }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string | undefined }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return { logger, lines };
}

describe('capDeadLetterData', () => {
  test('data that is not base64 cannot slip past the cap: 2 MiB of "!" decodes to 0 bytes but is stored as at most the cap, with the size and SHA-256 of what was received', () => {
    const data = '!'.repeat(2 * 1024 * 1024);
    const kept = capDeadLetterData(record(data), 1024);
    assert.equal(kept.truncated, true);
    assert.ok(kept.truncated && kept.data.length <= Math.ceil(1024 / 3) * 4, `stored ${kept.data.length} characters`);
    assert.ok(kept.truncated && kept.dataBytes === data.length && kept.dataSha256 === sha256(Buffer.from(data, 'utf8')));
    assert.deepEqual(Buffer.from(kept.data, 'base64'), Buffer.from(data.slice(0, 1024), 'utf8'));
  });

  test('up to the cap the base64 comes back as it is (not re-encoded); past it, a prefix, the full size and SHA-256', () => {
    for (const n of [0, 1, 2, 3, 1023, 1024]) {
      const data = randomBytes(n).toString('base64');
      assert.deepEqual(capDeadLetterData(record(data), 1024), { truncated: false, data }, `${n} bytes`);
    }
    assert.deepEqual(capDeadLetterData(record('not-even-base64!!'), 11), { truncated: false, data: 'not-even-base64!!' }, 'decodes (leniently) to 11 bytes: kept as received');
    for (const n of [1025, 1026, 1027, 3 * 1024 * 1024]) {
      const bytes = randomBytes(n);
      assert.deepEqual(capDeadLetterData(record(bytes.toString('base64')), 1024), {
        truncated: true,
        data: bytes.subarray(0, 1024).toString('base64'),
        dataBytes: n,
        dataSha256: sha256(bytes),
      });
    }
    assert.deepEqual(capDeadLetterData(record('AA=='), 0), { truncated: true, data: '', dataBytes: 1, dataSha256: sha256(Buffer.from([0])) });
    assert.equal(DEFAULT_DEAD_LETTER_MAX_DATA_BYTES, 65_536);
  });
});

describe('LogDeadLetterSink', () => {
  test('a letter under the cap is the line it always was; a larger one carries its first bytes, truncated, size and SHA-256', async () => {
    const { logger, lines } = capture();
    const small = record(Buffer.from('garbage').toString('base64'));
    const bytes = randomBytes(5000);
    const big = record(bytes.toString('base64'));
    await new LogDeadLetterSink(logger, { maxDataBytes: 4096 }).write([
      { shardId: 's', record: small, reason: 'DecodeError: a' },
      { shardId: 's', record: big, reason: 'DecodeError: b' },
    ]);
    assert.deepEqual(lines, [
      { level: 'error', obj: { deadLetter: { ...small, shardId: 's', reason: 'DecodeError: a' } }, msg: 'dead letter' },
      {
        level: 'error',
        obj: { deadLetter: { ...big, data: bytes.subarray(0, 4096).toString('base64'), truncated: true, dataBytes: 5000, dataSha256: sha256(bytes), shardId: 's', reason: 'DecodeError: b' } },
        msg: 'dead letter',
      },
    ]);
    assert.throws(() => new LogDeadLetterSink(logger, { maxDataBytes: 1.5 }), /`maxDataBytes`/);
  });
});

describe('drops reported by a sink', () => {
  test('reach the deadLetter event, the stats line and the DeadLettersDropped metric; a sink that reports nothing adds no field', async () => {
    const hub = new Instrumentation();
    const events: Array<InstrumentationEvents['deadLetter']> = [];
    hub.on('deadLetter', (e) => events.push(e));
    // One collector, its two readers: the metrics and the stats line.
    const figures = new WorkerCollector(hub);
    const collector = new EmfMetrics(figures);
    const { logger, lines } = capture();
    const stats = new WorkerStats(figures, () => logger, 0);
    const run = async (write: () => Promise<void | { dropped: number }>) => {
      const pipeline = new RecordPipeline<string>({
        decoder: (b) => {
          if (b.toString() === 'poison') throw new Error('bad');
          return b.toString();
        },
        spec: { kind: 'single', processor: () => undefined },
        deadLetters: { write },
        logger,
        instrumentation: hub,
      });
      return pipeline.run({ shardId: 'sh', records: makeRecords(['ok', 'poison', 'poison']), millisBehindLatest: null, signal: new AbortController().signal });
    };
    assert.equal((await run(async () => ({ dropped: 7 }))).complete, true);
    assert.equal((await run(async () => undefined)).complete, true);
    assert.deepEqual(events, [
      { shardId: 'sh', count: 2, dropped: 7 },
      { shardId: 'sh', count: 2 },
    ]);
    assert.equal(collector.take().get('DeadLettersDropped')?.value, 7);
    assert.equal(collector.take().get('DeadLettersDropped')?.value, 0, 'per interval');
    stats.log();
    stats.log();
    const statLines = lines.filter((l) => l.msg === 'stats').map((l) => (l.obj.stats as { deadLettersDropped: number }).deadLettersDropped);
    assert.deepEqual(statLines, [7, 0]);
  });
});
