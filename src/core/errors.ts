/**
 * The error hierarchy shared by every layer.
 *
 * One root, {@link StreamError}, with a `retriable` flag and a `cause`. A processor signals the
 * framework by throwing one of these; they are matched by `name` as well as `instanceof`, so an
 * error from another copy of this package (or a plain object with the same name) is understood.
 * Whether an error is retriable is decided by the registry (src/core/errorRegistry.ts,
 * re-exported here), where each domain registers its own table.
 */
import {
  GENERIC_ERRORS,
  NON_RETRIABLE,
  RETRIABLE,
  classifyError,
  fieldOf,
  registerErrorDomain,
  stringFieldOf,
  tableRule,
  verdicts,
} from './errorRegistry.js';

export {
  GENERIC_ERRORS,
  NON_RETRIABLE,
  RETRIABLE,
  classifyError,
  errorDomains,
  fieldOf,
  registerErrorDomain,
  registerErrorRules,
  stringFieldOf,
  tableRule,
  verdicts,
} from './errorRegistry.js';
export type { ErrorClassification, ErrorDomain, ErrorRule, ErrorVerdict, RuleVerdict } from './errorRegistry.js';

/** Where a record came from, attached to errors and logs. */
export interface RecordLocation {
  shardId?: string;
  sequenceNumber?: string;
  subSequenceNumber?: number;
  partitionKey?: string;
}

/**
 * The root of every error this package throws on purpose.
 *
 * @example
 * throw new StreamError('lease table unavailable', { retriable: true, cause: err });
 */
export class StreamError extends Error {
  override name = 'StreamError';
  /** True when trying the same work again later may succeed. */
  readonly retriable: boolean;
  /** Where the failing record came from, when known. */
  readonly location: RecordLocation | undefined;

  constructor(message: string, options: { retriable?: boolean; cause?: unknown; location?: RecordLocation } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options.retriable ?? false;
    this.location = options.location;
  }
}

/**
 * A failure that may go away on its own (connection lost, timeout, throttling): the framework
 * retries it with capped exponential backoff and never checkpoints past the record.
 *
 * @example
 * if (redis.status !== 'ready') throw new RetriableError('redis not connected');
 */
export class RetriableError extends StreamError {
  override name = 'RetriableError';
  constructor(message: string, options: { cause?: unknown; location?: RecordLocation } = {}) {
    super(message, { ...options, retriable: true });
  }
}

/**
 * A failure that no retry can fix (bad data): the record goes to the dead-letter sink with this
 * error's message as the reason, and processing goes on.
 *
 * @example
 * if (event.userId <= 0n) throw new NonRetriableError('userId must be positive');
 */
export class NonRetriableError extends StreamError {
  override name = 'NonRetriableError';
  constructor(message: string, options: { cause?: unknown; location?: RecordLocation } = {}) {
    super(message, { ...options, retriable: false });
  }
}

/**
 * A record's bytes could not be decoded into a value (garbage, truncated, unknown schema).
 *
 * @example
 * throw new DecodeError('unknown schema fingerprint 0x1234abcd5678ef90');
 */
export class DecodeError extends NonRetriableError {
  override name = 'DecodeError';
}

/**
 * A decoded value breaks a rule of its model. `field` names the offending field.
 *
 * @example
 * throw new ValidationError('platform', 'platform must match ^[a-z][a-z0-9_]{0,31}$');
 */
export class ValidationError extends NonRetriableError {
  override name = 'ValidationError';
  readonly field: string;
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.field = field;
  }
}

/**
 * The daemon sent something this worker cannot understand, or the protocol was broken.
 * Fatal: the worker exits non-zero with a clear message instead of hanging.
 */
export class ProtocolError extends StreamError {
  override name = 'ProtocolError';
}

/** Retries were used up; wraps the last failure as `cause`. */
export class RetriesExhaustedError extends StreamError {
  override name = 'RetriesExhaustedError';
  readonly attempts: number;
  constructor(attempts: number, cause: unknown, location?: RecordLocation) {
    super(`gave up after ${attempts} attempts: ${errorMessage(cause)}`, { retriable: false, cause, location });
    this.attempts = attempts;
  }
}

/** Work was abandoned because the worker is shutting down. */
export class AbortedError extends StreamError {
  override name = 'AbortedError';
  constructor(message = 'aborted: the worker is shutting down') {
    super(message, { retriable: false });
  }
}

/**
 * The generic rules (domain {@link GENERIC_ERRORS}), in order: an explicit boolean `retriable`
 * property wins; then the error's `name`; then Node's system error codes for lost connections;
 * anything else is retriable.
 */
const RETRIABLE_NAMES = ['RetriableError', 'TimeoutError', 'MaxRetriesPerRequestError', 'ClusterAllFailedError'];
const NON_RETRIABLE_NAMES = [
  'NonRetriableError',
  'DecodeError',
  'ValidationError',
  'ProtocolError',
  'RetriesExhaustedError',
  // Programmer errors: retrying the same code on the same input cannot help.
  'TypeError',
  'RangeError',
  'SyntaxError',
  'ReferenceError',
];
const RETRIABLE_CODES = ['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTCONN'];

registerErrorDomain(GENERIC_ERRORS, {
  // Unknown failures stall the shard loudly rather than send good records to the dead-letter sink.
  fallback: RETRIABLE,
  rules: [
    {
      name: 'retriable flag',
      classify: (err) => {
        const flag = fieldOf(err, 'retriable');
        return typeof flag === 'boolean' ? (flag ? RETRIABLE : NON_RETRIABLE) : undefined;
      },
    },
    tableRule('name', (err) => stringFieldOf(err, 'name'), verdicts({ retriable: RETRIABLE_NAMES, nonRetriable: NON_RETRIABLE_NAMES })),
    tableRule('code', (err) => stringFieldOf(err, 'code'), verdicts({ retriable: RETRIABLE_CODES })),
  ],
});

/**
 * Decides whether an error is worth retrying: {@link classifyError} in the generic domain.
 *
 * In order: an explicit boolean `retriable` property wins; then the error's `name` (our classes,
 * `TimeoutError`; programmer errors such as `TypeError` are never retried); then Node's system
 * error codes for lost connections. Anything else is treated as retriable: an unknown failure
 * stalls the shard loudly rather than sending good records to the dead-letter sink. Rules
 * registered with `registerErrorRules('generic', ...)` come before these.
 *
 * @example
 * isRetriable(new NonRetriableError('bad')); // false
 * isRetriable(Object.assign(new Error('x'), { code: 'ECONNRESET' })); // true
 */
export function isRetriable(err: unknown): boolean {
  return classifyError(err, GENERIC_ERRORS).retriable;
}

/** The message of anything thrown, for logs and dead-letter reasons. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
