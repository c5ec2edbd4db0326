/**
 * How the producer classifies a PutRecords call that failed as a whole: its own tables and
 * {@link classifyRequestError}, used by the batch producer.
 */
import { fieldOf, stringFieldOf, type ErrorClassification } from '../core/errors.js';

/** Errors Kinesis (or the SDK) raises for throttling: always worth another try. */
const THROTTLING: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/** Refusals that no retry fixes: the stream is missing, the request is malformed, access is denied. */
const PERMANENT: ReadonlySet<string> = new Set([
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
 * Classifies a whole Kinesis request's failure (the producer's PutRecords calls), in order:
 * throttling names (`rule: 'throttling <name>'`) and errors the SDK marked `$retryable`
 * (`'sdk $retryable'`) are retriable; the permanent names (`'permanent <name>'`) are not, nor other
 * HTTP 4xx answers but 408 and 429 (`'http status'`); anything else (5xx, timeouts, lost
 * connections) is retriable (`rule: undefined`).
 */
export function classifyRequestError(err: unknown): ErrorClassification {
  const name = stringFieldOf(err, 'name');
  if (name !== undefined && THROTTLING.has(name)) return { retriable: true, rule: `throttling ${name}` };
  if (fieldOf(err, '$retryable') !== undefined) return { retriable: true, rule: 'sdk $retryable' };
  if (name !== undefined && PERMANENT.has(name)) return { retriable: false, rule: `permanent ${name}` };
  const status = fieldOf(fieldOf(err, '$metadata'), 'httpStatusCode');
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) return { retriable: false, rule: 'http status' };
  return { retriable: true, rule: undefined };
}

/**
 * The short code of a failed call: the SDK error's name (e.g. ThrottlingException), Node's system
 * error code (ECONNRESET), or the HTTP status.
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
 */
export function isRetriableRequestError(error: unknown): boolean {
  return classifyRequestError(error).retriable;
}
