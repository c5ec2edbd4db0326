/**
 * Unit tests of the retriability registry: domains are separate, a registered rule wins, unknown
 * errors get the domain's default, and each domain answers as its table says.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GENERIC_ERRORS,
  NON_RETRIABLE,
  RETRIABLE,
  classifyError,
  errorDomains,
  isRetriable,
  registerErrorDomain,
  registerErrorRules,
  stringFieldOf,
  tableRule,
  verdicts,
} from '../../src/core/errors.js';
import { REDIS_REPLY_ERRORS, translateRedisError } from '../../src/redis/errors.js';
import { KINESIS_REQUEST_ERRORS, isRetriableRequestError } from '../../src/producer/requestErrors.js';
import { CHECKPOINT_ERRORS } from '../../src/kcl/checkpointErrors.js';
import { NonRetriableError, RetriableError } from '../../src/core/errors.js';

/** A unique domain name per test, so that tests never share a domain. */
let seq = 0;
const freshDomain = (fallback = RETRIABLE): string => {
  const name = `test-domain-${process.pid}-${++seq}`;
  registerErrorDomain(name, { fallback });
  return name;
};
const byName = (err: unknown): string | undefined => stringFieldOf(err, 'name');
const replyError = (message: string): Error => Object.assign(new Error(message), { name: 'ReplyError' });

describe('error registry', () => {
  test('the four domains are declared by the modules that own them', () => {
    const domains = errorDomains();
    for (const d of [GENERIC_ERRORS, REDIS_REPLY_ERRORS, KINESIS_REQUEST_ERRORS, CHECKPOINT_ERRORS]) assert.ok(domains.includes(d), d);
  });

  test('an unknown error gets the domain default, with no rule named', () => {
    const retrying = freshDomain(RETRIABLE);
    const giving = freshDomain(NON_RETRIABLE);
    assert.deepEqual(classifyError(new Error('what'), retrying), { retriable: true, rule: undefined });
    assert.deepEqual(classifyError(new Error('what'), giving), { retriable: false, rule: undefined });
    assert.deepEqual(classifyError('a string', giving), { retriable: false, rule: undefined });
    assert.deepEqual(classifyError(null, retrying), { retriable: true, rule: undefined });
  });

  test('a registered rule wins over the tables already there and the default, until it is removed', () => {
    const domain = freshDomain(RETRIABLE);
    const removeOwn = registerErrorRules(domain, [tableRule('name', byName, verdicts({ retriable: ['QuotaExceeded'] }))]);
    const removeOverride = registerErrorRules(domain, [tableRule('override', byName, { QuotaExceeded: { retriable: false, maxAttempts: 1 } })]);
    assert.deepEqual(classifyError({ name: 'QuotaExceeded' }, domain), { retriable: false, maxAttempts: 1, rule: 'override QuotaExceeded' });
    removeOverride();
    assert.deepEqual(classifyError({ name: 'QuotaExceeded' }, domain), { retriable: true, rule: 'name QuotaExceeded' });
    removeOwn();
    assert.deepEqual(classifyError({ name: 'QuotaExceeded' }, domain), { retriable: true, rule: undefined });
  });

  test('a rule registered in the generic domain changes isRetriable, and only while registered', () => {
    const err = { name: 'QuotaExceeded' };
    assert.equal(isRetriable(err), true);
    const remove = registerErrorRules(GENERIC_ERRORS, [tableRule('app', byName, verdicts({ nonRetriable: ['QuotaExceeded'] }))]);
    try {
      assert.equal(isRetriable(err), false);
      assert.equal(isRetriableRequestError(err), true, 'the producer domain does not see it');
    } finally {
      remove();
    }
    assert.equal(isRetriable(err), true);
  });

  test('domains do not leak into each other', () => {
    const a = freshDomain(RETRIABLE);
    const b = freshDomain(RETRIABLE);
    const remove = registerErrorRules(a, [tableRule('name', byName, verdicts({ nonRetriable: ['Boom'] }))]);
    try {
      assert.equal(classifyError({ name: 'Boom' }, a).retriable, false);
      assert.equal(classifyError({ name: 'Boom' }, b).retriable, true);
      assert.equal(isRetriable({ name: 'Boom' }), true);
    } finally {
      remove();
    }
  });

  test('the same error, different domains: a producer refusal drops, a processor failure stalls', () => {
    const notFound = Object.assign(new Error('Stream app-opens not found'), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } });
    assert.equal(classifyError(notFound, KINESIS_REQUEST_ERRORS).retriable, false);
    assert.equal(isRetriableRequestError(notFound), false);
    assert.equal(isRetriable(notFound), true, 'thrown by a processor: retried, the shard stalls');
    const throttled = { name: 'ThrottlingException' };
    assert.deepEqual(classifyError(throttled, KINESIS_REQUEST_ERRORS), { retriable: true, rule: 'throttling ThrottlingException' });
    assert.deepEqual(classifyError(throttled, CHECKPOINT_ERRORS), { retriable: true, rule: 'checkpoint error ThrottlingException' });
    const wrongType = replyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    assert.deepEqual(classifyError(wrongType, REDIS_REPLY_ERRORS), { retriable: false, rule: 'reply code WRONGTYPE' });
    assert.equal(isRetriable(wrongType), true, 'untranslated, a reply error is an unknown error to the generic rules');
  });

  test('a rule registered for Redis replies reaches translateRedisError', () => {
    assert.ok(translateRedisError(replyError('NOPERM no permissions'), 'HSET') instanceof RetriableError);
    const remove = registerErrorRules(REDIS_REPLY_ERRORS, [
      { name: 'no permission', classify: (err) => (String(stringFieldOf(err, 'message')).startsWith('NOPERM') ? NON_RETRIABLE : undefined) },
    ]);
    try {
      assert.ok(translateRedisError(replyError('NOPERM no permissions'), 'HSET') instanceof NonRetriableError);
    } finally {
      remove();
    }
    const again = translateRedisError(replyError('NOPERM no permissions'), 'HSET');
    assert.ok(again instanceof RetriableError);
    assert.match(again.message, /not a known transient reply/);
  });

  test('the generic rules keep their order: the flag, then the name, then the code', () => {
    assert.deepEqual(classifyError(Object.assign(new TypeError('x'), { retriable: true })), { retriable: true, rule: 'retriable flag' });
    assert.deepEqual(classifyError(Object.assign(new TypeError('x'), { code: 'ECONNRESET' })), { retriable: false, rule: 'name TypeError' });
    assert.deepEqual(classifyError(Object.assign(new Error('x'), { code: 'EPIPE' })), { retriable: true, rule: 'code EPIPE' });
    assert.deepEqual(classifyError({ name: 'toString' }), { retriable: true, rule: undefined }, 'only the table own keys match');
  });

  test('misuse is refused with a message that names the option', () => {
    assert.throws(() => classifyError(new Error('x'), 'no-such-domain'), /Unknown error domain `no-such-domain`/);
    assert.throws(() => registerErrorDomain(GENERIC_ERRORS, { fallback: RETRIABLE }), /`generic` is already registered/);
    assert.throws(() => registerErrorDomain('', { fallback: RETRIABLE }), /`domain`/);
    assert.throws(() => registerErrorDomain(`bad-${process.pid}`, { fallback: { retriable: 'yes' as unknown as boolean } }), /`fallback.retriable`/);
    assert.throws(() => tableRule('t', byName, { X: { retriable: true, maxAttempts: 0 } }), /`t X.maxAttempts`/);
    assert.throws(() => registerErrorRules(GENERIC_ERRORS, [{ name: 'x' } as never]), /`classify` function/);
  });
});
