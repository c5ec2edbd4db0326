/**
 * How the producer classifies a PutRecords call that failed as a whole.
 */

/** Errors Kinesis (or the SDK) raises for throttling: always worth another try. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/** Refusals that no retry fixes: the stream is missing, the request is malformed, access is denied. */
const PERMANENT = new Set([
  'ResourceNotFoundException',
  'ValidationException',
  'InvalidArgumentException',
  'AccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'KMSAccessDeniedException',
  'TypeError',
  'RangeError',
]);

/**
 * The short code of a failed call: the SDK error's name (e.g. ThrottlingException), Node's system
 * error code (ECONNRESET), or the HTTP status.
 *
 * @example
 * requestErrorCode(Object.assign(new Error('reset'), { code: 'ECONNRESET' })); // 'ECONNRESET'
 */
export function requestErrorCode(error: unknown): string {
  const e = (error ?? {}) as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code;
  if (typeof e.name === 'string' && e.name !== 'Error' && e.name.length > 0) return e.name;
  if (typeof e.$metadata?.httpStatusCode === 'number') return `HTTP${e.$metadata.httpStatusCode}`;
  return 'UnknownError';
}

/**
 * True when a whole-request failure may succeed later: server errors (5xx), throttling,
 * timeouts and lost connections. False for client errors such as a missing stream or denied access
 * (their records are dropped at once, with the error).
 *
 * @example
 * isRetriableRequestError({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } }); // false
 */
export function isRetriableRequestError(error: unknown): boolean {
  const e = (error ?? {}) as { name?: unknown; $metadata?: { httpStatusCode?: unknown }; $retryable?: unknown };
  const name = typeof e.name === 'string' ? e.name : '';
  if (THROTTLING.has(name) || e.$retryable !== undefined) return true;
  if (PERMANENT.has(name)) return false;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) return false;
  return true;
}
