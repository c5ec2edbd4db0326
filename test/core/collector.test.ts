/**
 * Unit tests of the one collector (src/core/collector.ts): readers with intervals of their own,
 * totals from the pipeline's events, retries counted as they happen, the runtime's own counts,
 * and the stats line and the EMF metrics reading the same figures. No network.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Collector } from '../../src/core/collector.js';
import { EmfMetrics } from '../../src/core/emf.js';
import { NonRetriableError, RetriableError } from '../../src/core/errors.js';
import { TypedEmitter } from '../../src/core/events.js';
import { RecordPipeline } from '../../src/core/pipeline.js';
import type { RuntimeEvents } from '../../src/core/pipelineEvents.js';
import type { Logger } from '../../src/core/types.js';
import { Instrumentation } from '../../src/kcl/events.js';
import { WorkerStats } from '../../src/kcl/stats.js';
import { WorkerCollector } from '../../src/kcl/workerCollector.js';
import { makeRecords } from '../../src/testing/index.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

const done = (d: Partial<RuntimeEvents['batchDone']>): RuntimeEvents['batchDone'] => ({
  shardId: 's',
  records: 0,
  processed: 0,
  deadLettered: 0,
  failures: 0,
  durationMs: 0,
  millisBehindLatest: null,
  complete: true,
  ...d,
});

describe('Collector', () => {
  test('each reader takes its own interval; a retry counts at once, the batch\'s other failures when it ends; totals add up', () => {
    // Prepare
    let now = 0;
    const events = new TypedEmitter<RuntimeEvents>();
    const collector = new Collector(events, { now: () => now });
    const a = collector.interval();
    const b = collector.interval();
    // Act: a batch in hand retries twice (a sees them before the batch ends), then ends with one more failure
    events.emit('batchStarted', { shardId: 's', records: 6, millisBehindLatest: 900 });
    events.emit('retry', { shardId: 's', what: 'processor', attempt: 1, delayMs: 1, error: 'e' });
    events.emit('retry', { shardId: 's', what: 'deadLetterSink', attempt: 1, delayMs: 1, error: 'e' });
    now = 1_500;
    assert.equal(collector.batchInHandMs(), 1_500);
    const early = a.take();
    events.emit('batchDone', done({ records: 6, processed: 5, deadLettered: 1, failures: 3, durationMs: 1_600, millisBehindLatest: 900 }));
    // Assess
    assert.equal(early.failures, 2, 'retries show while the batch is in hand');
    assert.equal(early.processed, 0);
    const late = a.take();
    assert.deepEqual([late.records, late.processed, late.deadLettered, late.failures, late.batches], [6, 5, 1, 1, 1]);
    const whole = b.take();
    assert.deepEqual([whole.records, whole.processed, whole.deadLettered, whole.failures, whole.batches], [6, 5, 1, 3, 1]);
    assert.deepEqual(collector.totals, { records: 6, processed: 5, deadLettered: 1, failures: 3 });
    assert.equal(collector.batchInHandMs(), 0);
    assert.equal(collector.millisBehindLatest, 900);
    assert.equal(b.take().millisBehindLatest, null, 'the interval\'s lag starts over; the collector keeps the last');
    assert.equal(collector.millisBehindLatest, 900);
  });

  test('the runtime\'s own counts: declared ones in every interval (zeros included), others refused', () => {
    const collector = new Collector(new TypedEmitter<RuntimeEvents>(), { counts: ['Checkpoints'] });
    const i = collector.interval();
    assert.deepEqual([...i.take().counts], [['Checkpoints', 0]]);
    collector.count('Checkpoints', 2);
    assert.equal(i.hasData(), true);
    assert.deepEqual([...i.take().counts], [['Checkpoints', 2]]);
    assert.throws(() => collector.count('Nope'), { name: 'RangeError', message: /`Nope`.*Checkpoints/ });
  });

  test('totals from a real pipeline equal its batchDone events (a retried failure, a non-retriable one, a poison record)', async () => {
    const events = new TypedEmitter<RuntimeEvents>();
    const collector = new Collector(events);
    const seen: Array<RuntimeEvents['batchDone']> = [];
    events.on('batchDone', (e) => seen.push(e));
    let flaky = true;
    const pipeline = new RecordPipeline<string>({
      decoder: (b) => {
        if (b.toString() === 'poison') throw new Error('bad');
        return b.toString();
      },
      spec: {
        kind: 'single',
        processor: (v) => {
          if (v === 'flaky' && flaky) {
            flaky = false;
            throw new RetriableError('again');
          }
          if (v === 'reject') throw new NonRetriableError('no');
        },
      },
      deadLetters: { write: async () => undefined },
      retry: { initialDelayMs: 1, maxDelayMs: 1 },
      logger: silent,
      instrumentation: events,
    });
    for (let run = 0; run < 2; run++) {
      flaky = true;
      const outcome = await pipeline.run({ shardId: 's', records: makeRecords(['a', 'flaky', 'poison', 'reject']), millisBehindLatest: null, signal: new AbortController().signal });
      assert.equal(outcome.complete, true);
    }
    assert.deepEqual(
      seen.map((e) => [e.records, e.processed, e.deadLettered, e.failures]),
      [
        [4, 2, 2, 2],
        [4, 2, 2, 2],
      ],
    );
    assert.deepEqual(collector.totals, { records: 8, processed: 4, deadLettered: 4, failures: 4 });
  });
});

describe('one collector, two outputs', () => {
  test('the stats line and the EMF metrics of one worker collector report the same figures', () => {
    // Prepare
    const hub = new Instrumentation();
    const collector = new WorkerCollector(hub);
    const metrics = new EmfMetrics(collector);
    const lines: Array<Record<string, unknown>> = [];
    const logger: Logger = { ...silent, info: (obj: object) => void lines.push(obj as Record<string, unknown>) };
    const stats = new WorkerStats(collector, () => logger, 0);
    // Act
    hub.emit('batchStarted', { shardId: 's', records: 10, millisBehindLatest: 42 });
    hub.emit('retry', { shardId: 's', what: 'processor', attempt: 1, delayMs: 1, error: 'e' });
    hub.emit('batchDone', done({ records: 10, processed: 8, deadLettered: 2, failures: 1, durationMs: 12, millisBehindLatest: 42 }));
    hub.emit('deadLetter', { shardId: 's', count: 2, dropped: 3 });
    hub.emit('checkpoint', { shardId: 's', sequenceNumber: '7', error: 'ThrottlingException', attempt: 1 });
    hub.emit('checkpoint', { shardId: 's', sequenceNumber: '7', error: null, attempt: 2 });
    stats.log();
    const f = Object.fromEntries([...metrics.take()].map(([k, v]) => [k, v.value]));
    // Assess
    const s = lines[0]!.stats as Record<string, unknown>;
    assert.deepEqual(
      [s.records, s.processed, s.deadLettered, s.failures, s.deadLettersDropped, s.batches, s.checkpoints, s.checkpointFailures, s.lastCheckpoint, s.millisBehindLatest],
      [10, 8, 2, 1, 3, 1, 1, 1, '7', 42],
    );
    assert.deepEqual(s.batchLatencyMs, { p50: 12, p99: 12, max: 12 });
    assert.deepEqual(s.totals, { records: 10, processed: 8, deadLettered: 2, failures: 1 });
    assert.deepEqual(
      [f.RecordsProcessed, f.RecordsDeadLettered, f.ProcessingFailures, f.DeadLettersDropped, f.Batches, f.Checkpoints, f.CheckpointFailures, f.MillisBehindLatest, f.BatchDurationP50],
      [8, 2, 1, 3, 1, 1, 1, 42, 12],
    );
  });
});
