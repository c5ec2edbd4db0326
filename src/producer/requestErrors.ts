/**
 * How the producer classifies a PutRecords call that failed as a whole: the error domain
 * `'kinesis-request'` of the registry in src/core/errorRegistry.ts, whose tables live here.
 */
import { NON_RETRIABLE, RETRIABLE, classifyError, fieldOf, registerErrorDomain, stringFieldOf, tableRule, verdicts } from '../core/errors.js';

/** Errors Kinesis (or the SDK) raises for throttling: always worth another try. */
const THROTTLING = [
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
];

/** Refusals that no retry fixes: the stream is missing, the request is malformed, access is denied. */
const PERMANENT = [
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
];

/**
 * The error domain of whole Kinesis requests (the producer's PutRecords calls), in order:
 * throttling names and errors the SDK marked `$retryable` are retriable; the permanent names
 * are not, nor other HTTP 4xx answers (but 408 and 429); anything else (5xx, timeouts, lost
 * connections) is retriable.
 */
export const KINESIS_REQUEST_ERRORS = 'kinesis-request';

const byName = (err: unknown): string | undefined => stringFieldOf(err, 'name');

registerErrorDomain(KINESIS_REQUEST_ERRORS, {
  fallback: RETRIABLE,
  rules: [
    tableRule('throttling', byName, verdicts({ retriable: THROTTLING })),
    { name: 'sdk $retryable', classify: (err) => (fieldOf(err, '$retryable') !== undefined ? RETRIABLE : undefined) },
    tableRule('permanent', byName, verdicts({ nonRetriable: PERMANENT })),
    {
      name: 'http status',
      classify: (err) => {
        const status = fieldOf(fieldOf(err, '$metadata'), 'httpStatusCode');
        return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429 ? NON_RETRIABLE : undefined;
      },
    },
  ],
});

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
  return classifyError(error, KINESIS_REQUEST_ERRORS).retriable;
}
