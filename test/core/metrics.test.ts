/**
 * Unit tests of the instrumentation hook and the metrics: the typed events, the collector's
 * figures per interval, the EMF document checked against the published EMF JSON schema, the
 * pipeline's events, the KCL metrics destination, and the Lambda handler's blob per invocation.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { KinesisStreamEvent } from 'aws-lambda';
import { RetriableError, ValidationError } from '../../src/core/errors.js';
import { Collector, percentile } from '../../src/core/collector.js';
import { EmfMetrics, emfDocument } from '../../src/core/emf.js';
import { RecordPipeline } from '../../src/core/pipeline.js';
import type { Logger } from '../../src/core/types.js';
import { Instrumentation, type InstrumentationEvents } from '../../src/kcl/events.js';
import { WorkerMetrics, openMetricsDestination } from '../../src/kcl/metrics.js';
import { WorkerCollector } from '../../src/kcl/workerCollector.js';
import { createKinesisHandler } from '../../src/lambda/handler.js';
import { makeRecords } from '../../src/testing/index.js';
import { EMF_SCHEMA, parseEmfLines, total, validateEmf } from '../helpers/emf.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

describe('Instrumentation', () => {
  test('delivers typed events to listeners in order; unsubscribing stops delivery; a throwing listener breaks nothing', () => {
    const errors: unknown[] = [];
    const hub = new Instrumentation((e) => errors.push(e));
    const seen: string[] = [];
    assert.equal(hub.has('deadLetter'), false);
    hub.on('deadLetter', () => {
      throw new Error('boom');
    });
    const off = hub.on('deadLetter', (e) => seen.push(`${e.shardId}:${e.count}`));
    assert.equal(hub.has('deadLetter'), true);
    hub.emit('deadLetter', { shardId: 's', count: 2 });
    off();
    hub.emit('deadLetter', { shardId: 's', count: 3 });
    assert.deepEqual(seen, ['s:2']);
    assert.equal(errors.length, 2, 'the throwing listener was reported each time');
  });
});

describe('MetricsCollector', () => {
  test('sums an interval, reports lag last and max, percentiles, rate and timings, then starts over', () => {
    let now = 0;
    const hub = new Instrumentation();
    const c = new EmfMetrics(new WorkerCollector(hub, { now: () => now }));
    assert.equal(c.hasData(), false);
    const done = (d: Partial<InstrumentationEvents['batchDone']>): void =>
      hub.emit('batchDone', { shardId: 's', records: 0, processed: 0, deadLettered: 0, failures: 0, durationMs: 0, millisBehindLatest: null, complete: true, ...d });
    hub.emit('batchStarted', { shardId: 's', records: 10, millisBehindLatest: 5_000 });
    done({ records: 10, processed: 8, deadLettered: 2, failures: 1, durationMs: 10, millisBehindLatest: 5_000 });
    hub.emit('batchStarted', { shardId: 's', records: 10, millisBehindLatest: 1_000 });
    done({ records: 10, processed: 10, durationMs: 30, millisBehindLatest: 1_000 });
    hub.emit('checkpoint', { shardId: 's', sequenceNumber: '1', error: 'ThrottlingException', attempt: 1 });
    hub.emit('checkpoint', { shardId: 's', sequenceNumber: '1', error: null, attempt: 2 });
    hub.emit('timing', { shardId: 's', name: 'RedisWrite', durationMs: 4 });
    hub.emit('timing', { shardId: 's', name: 'RedisWrite', durationMs: 6 });
    hub.emit('timing', { shardId: 's', name: 'bad name!', durationMs: 6 });
    now = 2_000;
    assert.equal(c.hasData(), true);
    const f = Object.fromEntries([...c.take()].map(([k, v]) => [k, v.value]));
    assert.deepEqual(f, {
      RecordsProcessed: 18,
      RecordsDeadLettered: 2,
      DeadLettersDropped: 0,
      ProcessingFailures: 1,
      Batches: 2,
      Checkpoints: 1,
      CheckpointFailures: 1,
      MillisBehindLatest: 1_000,
      MillisBehindLatestMax: 5_000,
      BatchDurationP50: 10,
      BatchDurationP99: 30,
      RecordsPerSecond: 10,
      RedisWriteMs: 10,
      RedisWriteP99: 6,
      RedisWriteCount: 2,
    });
    now = 3_000;
    const next = c.take();
    assert.equal(next.get('RecordsProcessed')?.value, 0, 'counts start over');
    assert.equal(next.has('MillisBehindLatest'), false, 'no lag seen in this interval: none reported');
    assert.equal(next.has('BatchDurationP50'), false);
    assert.equal(c.hasData(), false);
  });

  test('percentile is nearest-rank', () => {
    assert.equal(percentile([], 50), 0);
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([1, 2, 3, 4], 99), 4);
  });
});

describe('EMF document', () => {
  test('is valid against the published EMF schema, with the namespace, both dimension sets and a unit per metric', () => {
    const hub = new Instrumentation();
    const c = new EmfMetrics(new WorkerCollector(hub));
    hub.emit('batchDone', { shardId: 's', records: 3, processed: 3, deadLettered: 0, failures: 0, durationMs: 2, millisBehindLatest: 7, complete: true });
    const line = emfDocument(c.take(), {
      namespace: 'KinesisStreams',
      dimensions: { StreamName: 'app-opens', ShardId: 'shardId-000000000001' },
      dimensionSets: [['StreamName', 'ShardId'], ['StreamName']],
      timestamp: 1_700_000_000_123,
      properties: { reason: 'interval' },
    });
    assert.deepEqual(validateEmf(line), []);
    const doc = JSON.parse(line) as { _aws: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> } } & Record<string, unknown>;
    const d = doc._aws.CloudWatchMetrics[0]!;
    assert.equal(d.Namespace, 'KinesisStreams');
    assert.deepEqual(d.Dimensions, [['StreamName', 'ShardId'], ['StreamName']]);
    assert.equal(doc._aws.Timestamp, 1_700_000_000_123);
    assert.equal(doc.ShardId, 'shardId-000000000001');
    const units = Object.fromEntries(d.Metrics.map((m) => [m.Name, m.Unit]));
    assert.equal(units.RecordsProcessed, 'Count');
    assert.equal(units.MillisBehindLatest, 'Milliseconds');
    assert.equal(units.RecordsPerSecond, 'Count/Second');
    assert.equal(doc.RecordsProcessed, 3);
  });

  test('the validator rejects what the specification forbids (so passing it means something)', () => {
    const good = { _aws: { Timestamp: 1, CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [['A']], Metrics: [{ Name: 'M', Unit: 'Count' }] }] }, A: 'a', M: 1 };
    assert.deepEqual(validateEmf(JSON.stringify(good)), []);
    const bad = (mutate: (d: typeof good & Record<string, unknown>) => void): string[] => {
      const d = structuredClone(good) as typeof good & Record<string, unknown>;
      mutate(d);
      return validateEmf(JSON.stringify(d));
    };
    assert.notDeepEqual(bad((d) => (d._aws.CloudWatchMetrics[0]!.Metrics[0]!.Unit = 'Records')), [], 'unknown unit');
    assert.notDeepEqual(bad((d) => (d._aws.Timestamp = 1.5)), [], 'non-integer timestamp');
    assert.notDeepEqual(bad((d) => (d._aws.CloudWatchMetrics[0]!.Dimensions = [])), [], 'no dimension set');
    assert.notDeepEqual(bad((d) => Reflect.deleteProperty(d, 'A')), [], 'dimension target missing');
    assert.notDeepEqual(bad((d) => (d.M = 'x' as unknown as number)), [], 'metric target not a number');
    assert.notDeepEqual(bad((d) => (d._aws.CloudWatchMetrics[0]!.Dimensions = [['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J']])), [], 'ten dimension keys');
    assert.notDeepEqual(validateEmf('{"_aws":{}} trailing'), [], 'extra data after the object');
    assert.equal(EMF_SCHEMA.required[0], '_aws');
  });
});

describe('pipeline events', () => {
  test('batchDone counts what the batch did (poison, a retried failure); retry, deadLetter and reported timings are emitted', async () => {
    const hub = new Instrumentation();
    const events: Array<[string, unknown]> = [];
    for (const name of ['batchDone', 'retry', 'deadLetter', 'timing'] as const) hub.on(name, (e) => events.push([name, e]));
    let failOnce = true;
    const pipeline = new RecordPipeline<string>({
      decoder: (b) => {
        const s = b.toString('utf8');
        if (s === 'poison') throw new ValidationError('payload', 'poison');
        return s;
      },
      spec: {
        kind: 'single',
        processor: (v, ctx) => {
          if (v === 'flaky' && failOnce) {
            failOnce = false;
            throw new RetriableError('try again');
          }
          ctx.reportTiming('Store', 1.5);
        },
      },
      deadLetters: { write: async () => undefined },
      retry: { initialDelayMs: 1, maxDelayMs: 1 },
      logger: silent,
      instrumentation: hub,
    });
    const outcome = await pipeline.run({ shardId: 'sh', records: makeRecords(['a', 'poison', 'flaky']), millisBehindLatest: 42, signal: new AbortController().signal });
    assert.equal(outcome.complete, true);
    const done = events.filter(([n]) => n === 'batchDone').map(([, e]) => e as InstrumentationEvents['batchDone']);
    assert.equal(done.length, 1);
    assert.deepEqual({ ...done[0]!, durationMs: 0 }, { shardId: 'sh', records: 3, processed: 2, deadLettered: 1, failures: 1, durationMs: 0, millisBehindLatest: 42, complete: true });
    assert.equal(events.filter(([n]) => n === 'retry').length, 1);
    assert.deepEqual(events.find(([n]) => n === 'deadLetter')?.[1], { shardId: 'sh', count: 1 });
    assert.deepEqual(events.filter(([n]) => n === 'timing').map(([, e]) => e), [
      { shardId: 'sh', name: 'Store', durationMs: 1.5 },
      { shardId: 'sh', name: 'Store', durationMs: 1.5 },
    ]);
  });
});

describe('KCL metrics destination', () => {
  test('refuses stdout under any name; a path is appended to', () => {
    for (const d of ['stdout', '-', '/dev/stdout', '/proc/self/fd/1']) assert.throws(() => openMetricsDestination(d), /not .*stdout|stdout belongs/);
    assert.equal(openMetricsDestination('stderr').fd, 2);
  });

  test('writes a line per lifecycle flush (lease lost, shard end, exit) with what was counted, and nothing is lost at exit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
    try {
      const path = join(dir, 'metrics.log');
      const hub = new Instrumentation();
      const m = new WorkerMetrics({ destination: path, streamName: 'app-opens', namespace: 'Test', intervalMs: 3_600_000 }, new WorkerCollector(hub), () => silent);
      m.start();
      const done = (processed: number): void =>
        hub.emit('batchDone', { shardId: 'shardId-1', records: processed, processed, deadLettered: 0, failures: 0, durationMs: 1, millisBehindLatest: 0, complete: true });
      hub.emit('lifecycle', { shardId: 'shardId-1', phase: 'initialize' });
      done(5);
      hub.emit('lifecycle', { shardId: 'shardId-1', phase: 'leaseLost' });
      hub.emit('lifecycle', { shardId: 'shardId-1', phase: 'shutdown' }); // nothing new: no line
      done(7);
      hub.emit('checkpoint', { shardId: 'shardId-1', sequenceNumber: 'SHARD_END', error: null, attempt: 1 });
      hub.emit('lifecycle', { shardId: 'shardId-1', phase: 'shardEnded' });
      done(11);
      hub.emit('lifecycle', { shardId: 'shardId-1', phase: 'exit' });
      done(13); // after exit: closed, not written
      const docs = parseEmfLines(readFileSync(path, 'utf8'));
      assert.deepEqual(
        docs.map((d) => [d.reason, d.RecordsProcessed, d.ShardId, d.StreamName]),
        [
          ['leaseLost', 5, 'shardId-1', 'app-opens'],
          ['shardEnded', 7, 'shardId-1', 'app-opens'],
          ['exit', 11, 'shardId-1', 'app-opens'],
        ],
      );
      assert.equal(total(docs, 'Checkpoints'), 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('options are checked with a message naming the option', () => {
    const hub = new WorkerCollector(new Instrumentation());
    assert.throws(() => new WorkerMetrics({ destination: 'stderr', streamName: 's', namespace: ':bad' }, hub, () => silent), /`metrics.namespace`/);
    assert.throws(() => new WorkerMetrics({ destination: 'stderr', streamName: 's', intervalMs: 0 }, hub, () => silent), /`metrics.intervalMs`/);
    assert.throws(() => new WorkerMetrics({ destination: 'stderr', streamName: '' }, hub, () => silent), /`metrics.streamName`/);
  });
});

describe('Lambda metrics', () => {
  const event = (payloads: string[]): KinesisStreamEvent => ({
    Records: makeRecords(payloads).map((r) => ({
      eventSource: 'aws:kinesis',
      eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/app-opens',
      eventID: `shardId-000000000007:${r.sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      eventVersion: '1.0',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/x',
      awsRegion: 'eu-west-1',
      kinesis: { kinesisSchemaVersion: '1.0', partitionKey: r.partitionKey, sequenceNumber: r.sequenceNumber, data: r.data, approximateArrivalTimestamp: 1_700_000_000 },
    })),
  });

  test('one valid EMF blob per invocation, dimensions StreamName and FunctionName, the invocation\'s own figures', async () => {
    const lines: string[] = [];
    const handler = createKinesisHandler<string>({
      decoder: (b) => {
        const s = b.toString('utf8');
        if (s === 'poison') throw new ValidationError('payload', 'poison');
        return s;
      },
      batchProcessor: (records, ctx) => {
        ctx.reportTiming('RedisWrite', 2);
        return { failed: records.flatMap((r, index) => (r.value === 'reject' ? [{ index, error: new ValidationError('x', 'rejected') }] : [])) };
      },
      logger: silent,
      metrics: { namespace: 'KinesisStreams', write: (l) => lines.push(l) },
    });
    const context = { getRemainingTimeInMillis: () => 60_000, functionName: 'lastopens-fn', awsRequestId: 'req-1' };
    await handler(event(['a', 'poison', 'b', 'reject']), context);
    await handler(event(['c']), context);
    assert.equal(lines.length, 2);
    const docs = parseEmfLines(lines.join('\n'));
    const d = docs[0]! as Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } };
    assert.deepEqual(d._aws.CloudWatchMetrics[0]!.Dimensions, [['StreamName', 'FunctionName'], ['StreamName']]);
    assert.equal(d.StreamName, 'app-opens', 'from the event source ARN');
    assert.equal(d.FunctionName, 'lastopens-fn');
    assert.equal(d.ShardId, undefined, 'no ShardId dimension on Lambda');
    assert.deepEqual([d.RecordsProcessed, d.RecordsDeadLettered, d.RedisWriteCount], [2, 2, 1]);
    assert.equal(d._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === 'Checkpoints'), false);
    assert.equal(docs[1]!.RecordsProcessed, 1, 'the second blob counts the second invocation only');
  });
});

describe('CloudWatch templates (docs/cloudwatch)', () => {
  test('the dashboard and the alarm are JSON and name only metrics the workers publish, under the stream-level dimension set', () => {
    const read = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../docs/cloudwatch/${name}`, import.meta.url), 'utf8'));
    const published = new Set([
      ...[...new EmfMetrics(new WorkerCollector(new Instrumentation())).take().keys()],
      'MillisBehindLatest',
      'MillisBehindLatestMax',
      'BatchDurationP50',
      'BatchDurationP99',
      'RedisWriteMs',
      'RedisWriteP99',
      'RedisWriteCount',
    ]);
    const dashboard = read('dashboard.json') as { widgets: Array<{ properties: { metrics: unknown[][] } }> };
    const named: string[] = [];
    for (const w of dashboard.widgets) {
      for (const row of w.properties.metrics) {
        if (typeof row[0] === 'string') {
          assert.equal(row[0], '${NAMESPACE}');
          named.push(String(row[1]));
          assert.deepEqual(row.slice(2, 4), ['StreamName', '${STREAM_NAME}'], 'the stream-level dimension set');
        } else {
          for (const m of String((row[0] as { expression: string }).expression).matchAll(/MetricName="(\w+)"/g)) named.push(m[1]!);
        }
      }
    }
    const alarm = read('alarm-millis-behind-latest.json') as { MetricName: string; Dimensions: Array<{ Name: string }>; TreatMissingData: string };
    named.push(alarm.MetricName);
    assert.ok(named.length >= 10, `metrics named: ${named.join(', ')}`);
    assert.equal(named.filter((n) => n === 'MillisBehindLatestMax').length, 3, 'worst shard, per shard (SEARCH) and the alarm');
    assert.deepEqual(named.filter((n) => !published.has(n)), [], 'every metric named is published');
    assert.equal(alarm.MetricName, 'MillisBehindLatestMax');
    assert.deepEqual(alarm.Dimensions.map((d) => d.Name), ['StreamName']);
    assert.equal(alarm.TreatMissingData, 'breaching', 'a worker that stopped reporting alarms too');
  });

  test('the stuck-batch alarm names a metric a stuck batch publishes, at the stream level, and does not alarm on missing data', () => {
    const stuck = JSON.parse(readFileSync(new URL('../../docs/cloudwatch/alarm-stuck-batches.json', import.meta.url), 'utf8')) as {
      MetricName: string;
      Dimensions: Array<{ Name: string }>;
      TreatMissingData: string;
    };
    const hub = new Instrumentation();
    const c = new EmfMetrics(new Collector(hub));
    assert.equal(c.take().has(stuck.MetricName), false, 'absent while nothing is stuck');
    hub.emit('stuckBatch', { shardId: 's', action: 'processRecords', sequenceNumber: '1', inHandMs: 300_500, lastError: null });
    const f = c.take();
    assert.deepEqual(f.get(stuck.MetricName), { value: 1, unit: 'Count' });
    assert.deepEqual(f.get('StuckBatchInHandMaxMs'), { value: 300_500, unit: 'Milliseconds' });
    assert.deepEqual(stuck.Dimensions.map((d) => d.Name), ['StreamName']);
    assert.equal(stuck.TreatMissingData, 'notBreaching');
  });
});
