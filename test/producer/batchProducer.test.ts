/**
 * The batch producer against a real kinesalite started in this process. Failures kinesalite
 * cannot produce (500s, per-record throttling) come from the fault proxy in
 * test/helpers/faultProxy.ts, which says why it is a fake.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PutRecordsCommand, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import {
  AbandonedAtStopError,
  BatchProducer,
  BufferFullError,
  ProducerClosedError,
  PutRecordFailedError,
  RecordLimitError,
  type BatchProducerOptions,
  type ProducerRecord,
  type ProducerStats,
  type PutRecordsSender,
} from '../../src/producer/index.js';
import { localClient, startKinesalite, type Kinesalite } from '../helpers/kinesalite.js';
import { startFaultProxy } from '../helpers/faultProxy.js';
import { rng } from '../helpers/prng.js';

/** Waits until `cond` holds, polling, or fails after `ms`. */
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}


/** Observes the calls a real client makes (the client still does the work). */
function observed(inner: PutRecordsSender): PutRecordsSender & { batchSizes: number[]; maxConcurrent: number } {
  let running = 0;
  const o = {
    batchSizes: [] as number[],
    maxConcurrent: 0,
    async send(command: PutRecordsCommand, options?: { abortSignal?: AbortSignal }): Promise<PutRecordsCommandOutput> {
      o.batchSizes.push(command.input.Records?.length ?? 0);
      running++;
      o.maxConcurrent = Math.max(o.maxConcurrent, running);
      try {
        return await inner.send(command, options);
      } finally {
        running--;
      }
    },
  };
  return o;
}

const fast = { initialDelayMs: 1, maxDelayMs: 20, factor: 2 };

describe('BatchProducer against kinesalite', () => {
  let k: Kinesalite;
  before(async () => {
    k = await startKinesalite({ shards: 2 });
  });
  after(async () => {
    await k.close();
  });

  const make = (extra: Partial<BatchProducerOptions> = {}): BatchProducer =>
    new BatchProducer({ client: k.client, streamName: k.streamName, retry: fast, ...extra });

  test('everything reported sent is in the stream, once, in batches of at most 500', async () => {
    // Prepare
    const client = observed(k.client);
    const producer = make({ client, flushIntervalMs: 10_000, maxInFlight: 3 });
    const n = 1_234;
    // Act
    producer.start();
    for (let i = 0; i < n; i++) await producer.add(Buffer.from(`plain-${i}`), `user-${i % 37}`);
    const result = await producer.flush(10_000);
    await producer.stop(1_000);
    // Assess
    assert.deepEqual(result, { sent: n, dropped: 0, remaining: 0 });
    assert.ok(client.batchSizes.every((s) => s >= 1 && s <= 500), `batch sizes ${client.batchSizes.join(',')}`);
    assert.equal(client.batchSizes.reduce((a, b) => a + b, 0), n);
    assert.ok(client.maxConcurrent <= 3);
    const stored = (await k.readAll()).filter((r) => r.data.toString().startsWith('plain-'));
    assert.equal(stored.length, n);
    const byData = new Map(stored.map((r) => [r.data.toString(), r.partitionKey]));
    for (let i = 0; i < n; i++) assert.equal(byData.get(`plain-${i}`), `user-${i % 37}`);
    const stats = producer.stats();
    assert.equal(stats.sent, n);
    assert.equal(stats.buffered, 0);
    assert.equal(stats.requests, client.batchSizes.length);
  });

  test('a batch closes at maxRequestBytes and a partial batch goes out after flushIntervalMs', async () => {
    // Prepare: records of 300 bytes (296 data + 4 key) and a 1,000-byte request limit.
    const client = observed(k.client);
    const producer = make({ client, maxRequestBytes: 1_000, maxRecordBytes: 1_000, flushIntervalMs: 60_000 });
    producer.start();
    // Act
    for (let i = 0; i < 10; i++) await producer.add(Buffer.alloc(296, i), `k-${i % 10}`.padEnd(4, 'x'));
    await producer.flush(5_000);
    // Assess
    assert.deepEqual(client.batchSizes, [3, 3, 3, 1]);
    await producer.stop(1_000);

    // Prepare: a lone record and a 50 ms interval, no flush.
    const lone = observed(k.client);
    const timed = make({ client: lone, flushIntervalMs: 50 });
    timed.start();
    const t0 = performance.now();
    // Act
    await timed.add(Buffer.from('lone'), 'lone');
    await waitFor(() => timed.stats().sent === 1, 5_000, 'the lone record to be sent');
    // Assess
    assert.ok(performance.now() - t0 >= 45, 'sent before the flush interval');
    assert.deepEqual(lone.batchSizes, [1]);
    await timed.stop(1_000);
  });

  test('records breaking a Kinesis limit are rejected at add, naming the limit', async () => {
    const producer = make({ maxRecordBytes: 100 });
    const rejects = async (p: Promise<void>, limit: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(p, (e: unknown) => e instanceof RecordLimitError && e.limit === limit && pattern.test(e.message));
    };
    await rejects(producer.add(Buffer.alloc(97), 'abcd'), 'maxRecordBytes', /101 bytes.*100 \(maxRecordBytes\)/);
    await rejects(producer.add(Buffer.alloc(1), ''), 'partitionKeyLength', /1 to 256 characters, got 0/);
    await rejects(producer.add(Buffer.alloc(1), 'k'.repeat(257)), 'partitionKeyLength', /got 257/);
    await rejects(producer.add(Buffer.alloc(1), 'k', '-1'), 'explicitHashKey', /2\^128/);
    await rejects(producer.add(Buffer.alloc(1), 'k', (1n << 128n).toString()), 'explicitHashKey', /2\^128/);
    // Exactly at the limits is fine.
    await producer.add(Buffer.alloc(96), 'abcd');
    await producer.add(Buffer.alloc(1), 'k'.repeat(90), ((1n << 128n) - 1n).toString());
    const wide = make();
    await wide.add(Buffer.alloc(1), 'k'.repeat(256));
    await wide.stop(0);
    assert.equal(producer.buffered, 2);
    producer.start();
    assert.deepEqual(await producer.flush(5_000), { sent: 2, dropped: 0, remaining: 0 });
    await producer.stop(1_000);
  });

  test("whenFull 'reject': a full buffer rejects with BufferFullError, by records and by bytes", async () => {
    const producer = make({ maxBufferedRecords: 3 });
    for (let i = 0; i < 3; i++) await producer.add(Buffer.from('x'), 'k');
    await assert.rejects(producer.add(Buffer.from('x'), 'k'), (e: unknown) => e instanceof BufferFullError && /maxBufferedRecords 3/.test(e.message));
    producer.start();
    assert.deepEqual(await producer.flush(5_000), { sent: 3, dropped: 0, remaining: 0 });
    await producer.add(Buffer.from('x'), 'k'); // room again
    await producer.stop(5_000);

    const bytes = make({ maxBufferedBytes: 100, maxRecordBytes: 60 });
    await bytes.add(Buffer.alloc(50), 'k');
    await assert.rejects(bytes.add(Buffer.alloc(50), 'k'), (e: unknown) => e instanceof BufferFullError && /maxBufferedBytes 100/.test(e.message));
    await bytes.add(Buffer.alloc(40), 'k');
    assert.equal(bytes.stats().bufferedBytes, 92);
    await bytes.stop(0);
  });

  test("whenFull 'wait': add waits for room; stop rejects the waiters and reports what it abandons", async () => {
    // Prepare: not started, so nothing drains until start().
    const producer = make({ maxBufferedRecords: 5, whenFull: 'wait' });
    for (let i = 0; i < 5; i++) await producer.add(Buffer.from(`w-${i}`), 'k');
    let admitted = false;
    const sixth = producer.add(Buffer.from('w-5'), 'k').then(() => {
      admitted = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(admitted, false, 'add resolved while the buffer was full');
    // Act
    producer.start();
    await sixth;
    const result = await producer.flush(5_000);
    // Assess: the five, then the sixth.
    assert.equal(producer.stats().sent, 6);
    assert.equal(result.remaining, 0);
    await producer.stop(1_000);

    // Prepare: a never-started producer that stops with records held and an add waiting.
    const dropped: Array<{ record: ProducerRecord; error: Error }> = [];
    const idle = make({ maxBufferedRecords: 2, whenFull: 'wait', onDropped: (record, error) => dropped.push({ record, error }) });
    await idle.add(Buffer.from('a'), 'k');
    await idle.add(Buffer.from('b'), 'k');
    const waiting = idle.add(Buffer.from('c'), 'k');
    // Act
    const stopped = await idle.stop(0);
    // Assess
    await assert.rejects(waiting, ProducerClosedError);
    await assert.rejects(idle.add(Buffer.from('d'), 'k'), ProducerClosedError);
    assert.deepEqual(stopped, { sent: 0, dropped: 0, remaining: 2 });
    assert.deepEqual(dropped.map((d) => d.record.data.toString()), ['a', 'b']);
    assert.ok(dropped.every((d) => d.error instanceof AbandonedAtStopError));
    assert.equal(idle.stats().dropped, 2);
  });

  test('a missing stream drops the records at once with the service error', async () => {
    const dropped: Error[] = [];
    const producer = new BatchProducer({ client: k.client, streamName: 'no-such-stream', retry: fast, onDropped: (_r, e) => dropped.push(e) });
    producer.start();
    await producer.add(Buffer.from('x'), 'k');
    await producer.add(Buffer.from('y'), 'k');
    const result = await producer.flush(5_000);
    assert.deepEqual(result, { sent: 0, dropped: 2, remaining: 0 });
    assert.equal(dropped[0]?.name, 'ResourceNotFoundException');
    assert.equal(producer.stats().requestFailures.ResourceNotFoundException, 1);
    await producer.stop(0);
  });

  test('options are checked at construction, naming the option', () => {
    const base = { client: k.client, streamName: 's' };
    assert.throws(() => new BatchProducer({ ...base, maxBatchRecords: 501 }), /`maxBatchRecords`/);
    assert.throws(() => new BatchProducer({ ...base, maxInFlight: 0 }), /`maxInFlight`/);
    assert.throws(() => new BatchProducer({ ...base, whenFull: 'drop' as 'wait' }), /`whenFull`/);
    assert.throws(() => new BatchProducer({ ...base, maxRecordBytes: 2_000, maxRequestBytes: 1_000 }), /`maxRecordBytes`/);
    assert.throws(() => new BatchProducer({ client: k.client }), /`streamName`/);
    assert.throws(() => new BatchProducer({ ...base, retry: { initialDelayMs: -1 } }), /`retry.initialDelayMs`/);
  });

  test('onStats reports counters at its interval', async () => {
    const reports: ProducerStats[] = [];
    const producer = make({ onStats: (s) => reports.push(s), statsIntervalMs: 20 });
    producer.start();
    await producer.add(Buffer.from('s'), 'k');
    await producer.flush(5_000);
    await waitFor(() => reports.some((r) => r.sent === 1), 5_000, 'a stats report');
    const r = reports.find((x) => x.sent === 1)!;
    assert.equal(r.requests, 1);
    assert.ok(reports.some((x) => x.latencyMs.count === 1 && x.latencyMs.max > 0));
    await producer.stop(0);
  });

  describe('behind the fault proxy', () => {
    test('500s and per-record throttling lose nothing: every record is delivered or reported dropped', async () => {
      // Prepare: every 3rd call answers 500; ~30% of records get ProvisionedThroughputExceeded on
      // each try; "doomed" records always fail with InternalFailure and must end up dropped.
      const random = rng(42);
      const proxy = await startFaultProxy(k.endpoint, {
        failRequest: (n) => n % 3 === 0,
        failRecord: (r) => {
          if (Buffer.from(r.Data, 'base64').toString().startsWith('doomed-')) return 'InternalFailure';
          return random() < 0.3 ? 'ProvisionedThroughputExceededException' : undefined;
        },
      });
      const client = localClient(proxy.endpoint);
      const dropped: Array<{ record: ProducerRecord; error: Error }> = [];
      const producer = new BatchProducer({
        client,
        streamName: k.streamName,
        maxAttemptsPerRecord: 15,
        retry: fast,
        maxInFlight: 4,
        onDropped: (record, error) => dropped.push({ record, error }),
      });
      const n = 3_000;
      const payload = (i: number): string => (i % 60 === 0 ? `doomed-${i}` : `fault-${i}`);
      try {
        // Act
        producer.start();
        for (let i = 0; i < n; i++) await producer.add(Buffer.from(payload(i)), `user-${i % 101}`);
        const result = await producer.flush(60_000);
        // Assess: flush's counts are exact.
        const doomed = Array.from({ length: n }, (_, i) => payload(i)).filter((p) => p.startsWith('doomed-'));
        assert.deepEqual(result, { sent: n - doomed.length, dropped: doomed.length, remaining: 0 });
        // The dropped ones are exactly the doomed ones, each with its last error.
        assert.deepEqual(dropped.map((d) => d.record.data.toString()).sort(), [...doomed].sort());
        for (const d of dropped) {
          assert.ok(d.error instanceof PutRecordFailedError && d.error.code === 'InternalFailure', String(d.error));
        }
        // The stream holds exactly the records reported sent, each once.
        const stored = (await k.readAll()).map((r) => r.data.toString()).filter((d) => d.startsWith('fault-') || d.startsWith('doomed-'));
        const expected = Array.from({ length: n }, (_, i) => payload(i)).filter((p) => !p.startsWith('doomed-'));
        assert.equal(stored.length, expected.length);
        assert.deepEqual([...stored].sort(), [...expected].sort());
        // The stats agree with what the proxy did.
        const stats = producer.stats();
        assert.ok(proxy.counts.failedRequests > 0 && proxy.counts.failedRecords > 0, JSON.stringify(proxy.counts));
        assert.equal(stats.requestFailures.InternalFailure, proxy.counts.failedRequests);
        const recordFailures = Object.values(stats.recordFailures).reduce((a, b) => a + b, 0);
        assert.equal(recordFailures, proxy.counts.failedRecords);
        assert.equal(stats.recordFailures.InternalFailure, doomed.length * 15);
        assert.equal(stats.sent, expected.length);
        assert.equal(stats.dropped, doomed.length);
        assert.ok(stats.retried > 0);
        assert.equal(stats.buffered, 0);
      } finally {
        await producer.stop(1_000);
        client.destroy();
        await proxy.close();
      }
    });

    test('throttled and timed-out calls are retried as a whole, without using up attempts', async () => {
      // Prepare: call 1 is throttled (400 LimitExceededException), call 2 never answers, call 3
      // is throttled again (ThrottlingException); one attempt per record.
      const faults: Record<number, { status: number; type: string } | 'hang'> = {
        1: { status: 400, type: 'LimitExceededException' },
        2: 'hang',
        3: { status: 400, type: 'ThrottlingException' },
      };
      const proxy = await startFaultProxy(k.endpoint, { requestFault: (n) => faults[n] });
      const client = localClient(proxy.endpoint);
      const dropped: Error[] = [];
      const producer = new BatchProducer({
        client,
        streamName: k.streamName,
        maxAttemptsPerRecord: 1,
        requestTimeoutMs: 300,
        retry: fast,
        onDropped: (_r, e) => dropped.push(e),
      });
      try {
        producer.start();
        for (let i = 0; i < 10; i++) await producer.add(Buffer.from(`patient-${i}`), `k-${i}`);
        // Act
        const result = await producer.flush(10_000);
        // Assess
        assert.deepEqual(result, { sent: 10, dropped: 0, remaining: 0 }, dropped.map(String).join('; '));
        assert.deepEqual(producer.stats().requestFailures, { LimitExceededException: 1, RequestTimeout: 1, ThrottlingException: 1 });
        const stored = (await k.readAll()).map((r) => r.data.toString()).filter((d) => d.startsWith('patient-'));
        assert.equal(stored.length, 10);
      } finally {
        await producer.stop(1_000);
        client.destroy();
        await proxy.close();
      }
    });

    test('whole-request failures do not use up records’ attempts; stop reports what it could not send', async () => {
      // Prepare: the first 5 calls fail as a whole, then each record fails once on its own, with a
      // per-record limit of 2 attempts. Later, every call fails.
      let failAll = false;
      const failedOnce = new Set<string>();
      const proxy = await startFaultProxy(k.endpoint, {
        failRequest: (n) => n <= 5 || failAll,
        failRecord: (r) => {
          if (failedOnce.has(r.Data)) return undefined;
          failedOnce.add(r.Data);
          return 'ProvisionedThroughputExceededException';
        },
      });
      const client = localClient(proxy.endpoint);
      const dropped: Error[] = [];
      const producer = new BatchProducer({
        client,
        streamName: k.streamName,
        maxAttemptsPerRecord: 2,
        retry: fast,
        onDropped: (_r, e) => dropped.push(e),
      });
      try {
        producer.start();
        for (let i = 0; i < 10; i++) await producer.add(Buffer.from(`survivor-${i}`), 'k');
        // Act 1: they survive five 500s and one throttling each, with two attempts per record.
        const first = await producer.flush(10_000);
        // Assess 1
        assert.deepEqual(first, { sent: 10, dropped: 0, remaining: 0 });
        assert.equal(proxy.counts.failedRequests, 5);
        assert.equal(proxy.counts.failedRecords, 10);

        // Act 2: the service keeps failing; stop gives up after its timeout.
        failAll = true;
        for (let i = 0; i < 7; i++) await producer.add(Buffer.from(`stuck-${i}`), 'k');
        const stopped = await producer.stop(300);
        // Assess 2
        assert.deepEqual(stopped, { sent: 0, dropped: 0, remaining: 7 });
        assert.equal(dropped.length, 7);
        assert.ok(dropped.every((e) => e instanceof AbandonedAtStopError));
        assert.equal(producer.stats().dropped, 7);
        assert.equal(producer.stats().buffered, 0);
      } finally {
        client.destroy();
        await proxy.close();
      }
    });
  });
});
