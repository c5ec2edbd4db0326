/**
 * Unit tests of error classification: each module's classify function answers as its table
 * says, unknown errors get the table's default, and an app's own function decides only where it
 * is passed (withRetry, the pipeline, translateRedisError): there is no shared state to leak.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyError, isRetriable, stringFieldOf, type ErrorClassification } from '../../src/core/errors.js';
import { RecordPipeline } from '../../src/core/pipeline.js';
import { withRetry } from '../../src/core/retry.js';
import type { DeadLetter, Logger } from '../../src/core/types.js';
import { classifyRedisError, translateRedisError } from '../../src/redis/errors.js';
import { classifyRequestError, isRetriableRequestError } from '../../src/producer/requestErrors.js';
import { classifyCheckpointError } from '../../src/kcl/checkpointErrors.js';
import { NonRetriableError, RetriableError, RetriesExhaustedError } from '../../src/core/errors.js';
import { makeRecords } from '../../src/testing/index.js';

const replyError = (message: string): Error => Object.assign(new Error(message), { name: 'ReplyError' });
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** An app's generic rules: QuotaExceeded is not worth a retry; everything else as the framework says. */
const appClassify = (err: unknown): ErrorClassification =>
  stringFieldOf(err, 'name') === 'QuotaExceeded' ? { retriable: false, maxAttempts: 1, rule: 'override QuotaExceeded' } : classifyError(err);

describe('error classification', () => {
  test('each module that talks to a dependency owns its classify function', () => {
    assert.deepEqual(classifyError(new TypeError('x')), { retriable: false, rule: 'name TypeError' });
    assert.deepEqual(classifyRedisError(replyError('OOM command not allowed')), { retriable: true, rule: 'reply code OOM' });
    assert.deepEqual(classifyRequestError({ name: 'ThrottlingException' }), { retriable: true, rule: 'throttling ThrottlingException' });
    assert.deepEqual(classifyCheckpointError('InvalidStateException'), { retriable: true, maxAttempts: 3, rule: 'checkpoint error InvalidStateException' });
  });

  test('an unknown error gets the table default, with no rule named', () => {
    assert.deepEqual(classifyError(new Error('what')), { retriable: true, rule: undefined });
    assert.deepEqual(classifyCheckpointError(new Error('what')), { retriable: false, rule: undefined });
    assert.deepEqual(classifyCheckpointError('a string'), { retriable: false, rule: undefined });
    assert.deepEqual(classifyError(null), { retriable: true, rule: undefined });
    assert.deepEqual(classifyRedisError(new Error('what')), { retriable: true, rule: undefined });
    assert.deepEqual(classifyRequestError(new Error('what')), { retriable: true, rule: undefined });
  });

  test('an app function falling back to the module one wins where it is passed, and nowhere else', async () => {
    const quota = Object.assign(new Error('quota'), { name: 'QuotaExceeded' });
    assert.deepEqual(appClassify(quota), { retriable: false, maxAttempts: 1, rule: 'override QuotaExceeded' });
    assert.deepEqual(appClassify({ name: 'TimeoutError' }), { retriable: true, rule: 'name TimeoutError' });
    assert.deepEqual(classifyError(quota), { retriable: true, rule: undefined });
    let attempts = 0;
    const fail = async (): Promise<never> => {
      attempts++;
      throw quota;
    };
    await assert.rejects(withRetry(fail, { initialDelayMs: 1, maxDelayMs: 1, maxAttempts: 3 }, { classify: (e) => appClassify(e).retriable }), (e) => e === quota);
    assert.equal(attempts, 1, 'not retried under the app function');
    attempts = 0;
    await assert.rejects(withRetry(fail, { initialDelayMs: 1, maxDelayMs: 1, maxAttempts: 3 }), RetriesExhaustedError);
    assert.equal(attempts, 3, 'retried under the default');
    assert.equal(isRetriable(quota), true);
    assert.equal(isRetriableRequestError(quota), true, 'the producer table does not see it');
  });

  test('the pipeline takes its classify: an app-non-retriable failure is dead-lettered, by default it stops the batch', async () => {
    const run = async (classify?: (err: unknown) => boolean): Promise<{ complete: boolean; letters: DeadLetter[] }> => {
      const letters: DeadLetter[] = [];
      const pipeline = new RecordPipeline<string>({
        decoder: (b) => b.toString(),
        spec: { kind: 'single', processor: (v) => (v === 'quota' ? Promise.reject(Object.assign(new Error('over quota'), { name: 'QuotaExceeded' })) : undefined) },
        deadLetters: { write: async (l) => void letters.push(...l) },
        logger: silent,
        retry: { initialDelayMs: 1, maxDelayMs: 1, maxAttempts: 2 },
        ...(classify ? { classify } : {}),
      });
      const outcome = await pipeline.run({ shardId: 's', records: makeRecords(['a', 'quota', 'b']), millisBehindLatest: null, signal: new AbortController().signal });
      return { complete: outcome.complete, letters };
    };
    const own = await run((e) => appClassify(e).retriable);
    assert.equal(own.complete, true);
    assert.deepEqual(own.letters.map((l) => l.reason), ['QuotaExceeded: over quota']);
    const byDefault = await run();
    assert.equal(byDefault.complete, false);
    assert.deepEqual(byDefault.letters, []);
    assert.throws(
      () => new RecordPipeline({ decoder: (b) => b, spec: { kind: 'single', processor: () => undefined }, deadLetters: { write: async () => {} }, logger: silent, classify: 'no' as never }),
      /`classify`/,
    );
  });

  test('the same error, different tables: a producer refusal drops, a processor failure stalls', () => {
    const notFound = Object.assign(new Error('Stream app-opens not found'), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } });
    assert.equal(classifyRequestError(notFound).retriable, false);
    assert.equal(isRetriableRequestError(notFound), false);
    assert.equal(isRetriable(notFound), true, 'thrown by a processor: retried, the shard stalls');
    const throttled = { name: 'ThrottlingException' };
    assert.deepEqual(classifyRequestError(throttled), { retriable: true, rule: 'throttling ThrottlingException' });
    assert.deepEqual(classifyCheckpointError(throttled), { retriable: true, rule: 'checkpoint error ThrottlingException' });
    const wrongType = replyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    assert.deepEqual(classifyRedisError(wrongType), { retriable: false, rule: 'reply code WRONGTYPE' });
    assert.equal(isRetriable(wrongType), true, 'untranslated, a reply error is an unknown error to the generic rules');
  });

  test('a classify function passed to translateRedisError decides there', () => {
    assert.ok(translateRedisError(replyError('NOPERM no permissions'), 'HSET') instanceof RetriableError);
    const noPermission = (err: unknown): ErrorClassification =>
      String(stringFieldOf(err, 'message')).startsWith('NOPERM') ? { retriable: false, rule: 'no permission' } : classifyRedisError(err);
    assert.ok(translateRedisError(replyError('NOPERM no permissions'), 'HSET', undefined, noPermission) instanceof NonRetriableError);
    assert.ok(translateRedisError(replyError('OOM command not allowed'), 'HSET', undefined, noPermission) instanceof RetriableError);
    const again = translateRedisError(replyError('NOPERM no permissions'), 'HSET');
    assert.ok(again instanceof RetriableError);
    assert.match(again.message, /not a known transient reply/);
  });

  test('the generic rules keep their order: the flag, then the name, then the code', () => {
    assert.deepEqual(classifyError(Object.assign(new TypeError('x'), { retriable: true })), { retriable: true, rule: 'retriable flag' });
    assert.deepEqual(classifyError(Object.assign(new TypeError('x'), { code: 'ECONNRESET' })), { retriable: false, rule: 'name TypeError' });
    assert.deepEqual(classifyError(Object.assign(new Error('x'), { code: 'EPIPE' })), { retriable: true, rule: 'code EPIPE' });
    assert.deepEqual(classifyError({ name: 'toString' }), { retriable: true, rule: undefined }, 'only the table own keys match');
    assert.deepEqual(classifyRedisError(replyError('CONSTRUCTOR x')), { retriable: true, rule: undefined });
    assert.deepEqual(classifyCheckpointError('constructor'), { retriable: false, rule: undefined });
  });
});
