/**
 * Unit tests of the core layer: error classification, backoff, and the record pipeline.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NonRetriableError, RetriableError, RetriesExhaustedError, ValidationError, isRetriable } from '../../src/core/errors.js';
import { Collector } from '../../src/core/collector.js';
import { TypedEmitter } from '../../src/core/events.js';
import { RecordPipeline } from '../../src/core/pipeline.js';
import type { RuntimeEvents } from '../../src/core/pipelineEvents.js';
import { backoffDelay, resolveRetryOptions, withRetry } from '../../src/core/retry.js';
import type { DeadLetter, Logger } from '../../src/core/types.js';
import { makeRecords } from '../../src/testing/index.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

describe('isRetriable', () => {
  test('classifies by flag, name, and system error code', () => {
    assert.equal(isRetriable(new RetriableError('x')), true);
    assert.equal(isRetriable(new NonRetriableError('x')), false);
    assert.equal(isRetriable(new ValidationError('platform', 'bad')), false);
    assert.equal(isRetriable(new TypeError('x')), false, 'programmer errors are never retried');
    assert.equal(isRetriable(Object.assign(new Error('x'), { code: 'ECONNRESET' })), true);
    assert.equal(isRetriable({ name: 'NonRetriableError', message: 'from another copy of the package' }), false);
    assert.equal(isRetriable(Object.assign(new TypeError('x'), { retriable: true })), true, 'an explicit flag wins');
    assert.equal(isRetriable(new Error('unknown')), true, 'unknown failures stall loudly rather than dead-letter');
  });
});

describe('backoff', () => {
  test('full jitter under a cap that grows exponentially', () => {
    const o = resolveRetryOptions({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2 });
    assert.equal(backoffDelay(1, o, () => 1), 100);
    assert.equal(backoffDelay(3, o, () => 1), 400);
    assert.equal(backoffDelay(10, o, () => 1), 1000);
    assert.equal(backoffDelay(3, o, () => 0), 1, 'never zero');
  });

  test('options are validated with a message naming the option', () => {
    assert.throws(() => resolveRetryOptions({ initialDelayMs: -1 }), /`retry.initialDelayMs`/);
    assert.throws(() => resolveRetryOptions({ maxAttempts: 0 }), /`retry.maxAttempts`/);
    assert.throws(() => resolveRetryOptions({ factor: 0.5 }), /`retry.factor`/);
  });

  test('withRetry retries retriable errors, rethrows others, and wraps the last failure', async () => {
    let n = 0;
    assert.equal(await withRetry(async () => (++n < 3 ? Promise.reject(new RetriableError('t')) : n), { initialDelayMs: 1, maxDelayMs: 2 }), 3);
    await assert.rejects(withRetry(() => Promise.reject(new NonRetriableError('bad')), { initialDelayMs: 1 }), { name: 'NonRetriableError' });
    const cause = new RetriableError('down');
    await assert.rejects(withRetry(() => Promise.reject(cause), { initialDelayMs: 1, maxDelayMs: 1, maxAttempts: 2 }), (err: unknown) => {
      assert.ok(err instanceof RetriesExhaustedError);
      assert.equal(err.cause, cause);
      assert.equal(err.attempts, 2);
      return true;
    });
  });

  test('an abort interrupts the wait', async () => {
    const ac = new AbortController();
    const p = withRetry(() => Promise.reject(new RetriableError('down')), { initialDelayMs: 60_000, maxDelayMs: 60_000 }, { signal: ac.signal });
    setImmediate(() => ac.abort());
    await assert.rejects(p, { name: 'AbortedError' });
  });

  test('attemptAfterAbort: an attempt due after the abort is still made, but no retry follows it', async () => {
    const ac = new AbortController();
    ac.abort();
    const calls: number[] = [];
    // Without it, nothing starts once aborted.
    await assert.rejects(withRetry(async (n) => void calls.push(n), {}, { signal: ac.signal }), { name: 'AbortedError' });
    assert.equal(calls.length, 0);
    // With it, the first attempt runs and succeeds...
    assert.equal(await withRetry(async (n) => (calls.push(n), 'sent' as const), {}, { signal: ac.signal, attemptAfterAbort: true }), 'sent');
    // ...and a failing one is not retried: the wait is cut short.
    await assert.rejects(
      withRetry<never>(async (n) => (calls.push(n), Promise.reject(new RetriableError('throttled'))), { initialDelayMs: 60_000, maxDelayMs: 60_000 }, { signal: ac.signal, attemptAfterAbort: true }),
      { name: 'AbortedError' },
    );
    assert.deepEqual(calls, [1, 1]);
  });
});

describe('RecordPipeline', () => {
  const signal = new AbortController().signal;

  test('chunked batches: every chunk is processed, poison decodes are dead-lettered, outcome complete', async () => {
    const letters: DeadLetter[] = [];
    const seen: string[][] = [];
    // The pipeline tells what it did only as events; a collector of them keeps the totals.
    const events = new TypedEmitter<RuntimeEvents>();
    const collector = new Collector(events);
    const pipeline = new RecordPipeline<string>({
      decoder: (b) => {
        const s = b.toString();
        if (s.startsWith('bad')) throw new Error(`cannot decode ${s}`);
        return s;
      },
      spec: { kind: 'batch', chunkSize: 2, processor: (rs) => void seen.push(rs.map((r) => r.value)) },
      deadLetters: { write: async (l) => void letters.push(...l) },
      logger: silent,
      retry: { initialDelayMs: 1, maxDelayMs: 1 },
      instrumentation: events,
    });
    const records = makeRecords(['a', 'b', 'bad1', 'c', 'd']);
    const outcome = await pipeline.run({ shardId: 's', records, millisBehindLatest: null, signal });
    assert.deepEqual(outcome, { complete: true, processed: 4, deadLettered: 1 });
    assert.deepEqual(seen, [['a', 'b'], ['c'], ['d']]);
    assert.equal(letters[0]!.record.sequenceNumber, records[2]!.sequenceNumber);
    assert.match(letters[0]!.reason, /cannot decode bad1/);
    assert.deepEqual(collector.totals, { records: 5, processed: 4, deadLettered: 1, failures: 0 });
  });

  test('exhausted retries report the first unhandled record and only earlier dead letters', async () => {
    const letters: DeadLetter[] = [];
    const pipeline = new RecordPipeline<string>({
      decoder: (b) => {
        const s = b.toString();
        if (s.startsWith('bad')) throw new Error('bad');
        return s;
      },
      spec: { kind: 'single', processor: (v) => (v === 'down' ? Promise.reject(new RetriableError('redis down')) : undefined) },
      deadLetters: { write: async (l) => void letters.push(...l) },
      logger: silent,
      retry: { initialDelayMs: 1, maxDelayMs: 1, maxAttempts: 2 },
    });
    const records = makeRecords(['bad0', 'a', 'down', 'bad3']);
    const outcome = await pipeline.run({ shardId: 's', records, millisBehindLatest: null, signal });
    assert.equal(outcome.complete, false);
    assert.equal(outcome.complete === false && outcome.firstUnhandled, 2);
    assert.deepEqual(letters.map((l) => l.record.sequenceNumber), [records[0]!.sequenceNumber]);
  });

  test('a batch processor can name its poison records', async () => {
    const letters: DeadLetter[] = [];
    const pipeline = new RecordPipeline<string>({
      decoder: (b) => b.toString(),
      spec: { kind: 'batch', processor: (rs) => ({ failed: rs.flatMap((r, index) => (r.value === 'x' ? [{ index, error: new Error('no x') }] : [])) }) },
      deadLetters: { write: async (l) => void letters.push(...l) },
      logger: silent,
    });
    const outcome = await pipeline.run({ shardId: 's', records: makeRecords(['a', 'x', 'b']), millisBehindLatest: null, signal });
    assert.deepEqual(outcome, { complete: true, processed: 2, deadLettered: 1 });
    assert.equal(letters[0]!.reason, 'no x');
  });

  test('a chunk size that is not a positive integer is refused, naming the option', () => {
    assert.throws(
      () => new RecordPipeline({ decoder: (b) => b, spec: { kind: 'batch', processor: () => undefined, chunkSize: 0 }, deadLetters: { write: async () => {} }, logger: silent }),
      /`chunkSize`/,
    );
  });
});
