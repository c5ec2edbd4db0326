/**
 * Unit tests of how the producer classifies a PutRecords call that failed as a whole.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isRetriableRequestError, requestErrorCode } from '../../src/producer/requestErrors.js';

const sdkError = (name: string, httpStatusCode?: number, extra: object = {}): object =>
  Object.assign(new Error(name), { name, ...(httpStatusCode === undefined ? {} : { $metadata: { httpStatusCode } }), ...extra });

describe('request errors', () => {
  test('throttling, $retryable, server errors, timeouts and lost connections are retriable', () => {
    assert.equal(isRetriableRequestError(sdkError('ProvisionedThroughputExceededException', 400)), true);
    assert.equal(isRetriableRequestError(sdkError('ThrottlingException', 400)), true);
    assert.equal(isRetriableRequestError(sdkError('SomeClientError', 400, { $retryable: {} })), true, '$retryable wins over 4xx');
    assert.equal(isRetriableRequestError(sdkError('AccessDeniedException', 403, { $retryable: {} })), true, '$retryable is checked before the permanent names');
    assert.equal(isRetriableRequestError(sdkError('InternalFailure', 500)), true);
    assert.equal(isRetriableRequestError(sdkError('RequestTimeout', 408)), true);
    assert.equal(isRetriableRequestError(sdkError('TooMany', 429)), true);
    assert.equal(isRetriableRequestError(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), true);
    assert.equal(isRetriableRequestError(undefined), true);
  });

  test('refusals no retry fixes are not: permanent names, other 4xx, programmer errors', () => {
    assert.equal(isRetriableRequestError(sdkError('ResourceNotFoundException', 400)), false);
    assert.equal(isRetriableRequestError(sdkError('ResourceNotFoundException')), false, 'by name, without a status');
    assert.equal(isRetriableRequestError(sdkError('SomethingElse', 403)), false);
    assert.equal(isRetriableRequestError(new TypeError('bad')), false);
  });

  test('requestErrorCode: system code, then name, then HTTP status', () => {
    assert.equal(requestErrorCode(Object.assign(new Error('x'), { code: 'ECONNRESET', name: 'Foo' })), 'ECONNRESET');
    assert.equal(requestErrorCode(sdkError('ThrottlingException', 400)), 'ThrottlingException');
    assert.equal(requestErrorCode(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 502 } })), 'HTTP502');
    assert.equal(requestErrorCode(null), 'UnknownError');
  });
});
