/**
 * The error hierarchy shared by every layer.
 *
 * One root, {@link StreamError}, with a `retriable` flag and a `cause`. A processor signals the
 * framework by throwing one of these; they are matched by `name` as well as `instanceof`, so an
 * error from another copy of this package (or a plain object with the same name) is understood.
 * Whether an error is retriable is a plain function of the module that knows the error:
 * {@link classifyError} here for the generic rules, `classifyRedisError` (src/redis/errors.ts),
 * `classifyRequestError` (src/producer/requestErrors.ts), `classifyCheckpointError`
 * (src/kcl/checkpointErrors.ts). Each is passed where it is used (`withRetry`'s and the pipeline's
 * `classify`); there is no registry, so importing a module changes nobody's answer.
 */

/**
 * What a classify function says about an error, and which entry of its table decided.
 */
export interface ErrorClassification {
  /** True when trying the same work again later may succeed. */
  readonly retriable: boolean;
  /** At most this many attempts in all (the first included); absent: the caller's own limit. */
  readonly maxAttempts?: number;
  /** The entry that decided, as `<table> <key>` (e.g. `'reply code OOM'`); undefined: the default. */
  readonly rule: string | undefined;
}

/** Where a record came from, attached to errors and logs. */
export interface RecordLocation {
  shardId?: string;
  sequenceNumber?: string;
  subSequenceNumber?: number;
  partitionKey?: string;
}

/**
 * The root of every error this package throws on purpose.
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
 */
export class NonRetriableError extends StreamError {
  override name = 'NonRetriableError';
  constructor(message: string, options: { cause?: unknown; location?: RecordLocation } = {}) {
    super(message, { ...options, retriable: false });
  }
}

/**
 * A record's bytes could not be decoded into a value (garbage, truncated, unknown schema).
 */
export class DecodeError extends NonRetriableError {
  override name = 'DecodeError';
}

/**
 * A decoded value breaks a rule of its model. `field` names the offending field.
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

/** Error names a retry may cure. */
const RETRIABLE_NAMES: ReadonlySet<string> = new Set(['RetriableError', 'TimeoutError', 'MaxRetriesPerRequestError', 'ClusterAllFailedError']);
/** Error names no retry can cure. */
const NON_RETRIABLE_NAMES: ReadonlySet<string> = new Set([
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
]);
/** Node's system error codes of a lost or refused connection. */
const RETRIABLE_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTCONN']);

/**
 * The generic rules, for errors thrown by processors, sinks and retried operations. In order: an
 * explicit boolean `retriable` property wins (`rule: 'retriable flag'`); then the error's `name`
 * (our classes, `TimeoutError`; programmer errors such as `TypeError` are never retried); then
 * Node's system error codes for lost connections. Anything else is retriable (`rule: undefined`):
 * an unknown failure stalls the shard loudly rather than sending good records to the dead-letter
 * sink. An app with other needs passes its own function as the pipeline's `classify`, falling
 * back to this one.
 */
export function classifyError(err: unknown): ErrorClassification {
  const flag = fieldOf(err, 'retriable');
  if (typeof flag === 'boolean') return { retriable: flag, rule: 'retriable flag' };
  const name = stringFieldOf(err, 'name');
  if (name !== undefined) {
    if (RETRIABLE_NAMES.has(name)) return { retriable: true, rule: `name ${name}` };
    if (NON_RETRIABLE_NAMES.has(name)) return { retriable: false, rule: `name ${name}` };
  }
  const code = stringFieldOf(err, 'code');
  if (code !== undefined && RETRIABLE_CODES.has(code)) return { retriable: true, rule: `code ${code}` };
  return { retriable: true, rule: undefined };
}

/**
 * Decides whether an error is worth retrying by the generic rules ({@link classifyError}): the
 * default `classify` of `withRetry` and of the record pipeline.
 */
export function isRetriable(err: unknown): boolean {
  return classifyError(err).retriable;
}

/**
 * A property of a thrown value when it is an object, else `undefined`; for classify functions.
 */
export function fieldOf(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * A string property of a thrown value, else `undefined`.
 */
export function stringFieldOf(err: unknown, key: string): string | undefined {
  const v = fieldOf(err, key);
  return typeof v === 'string' ? v : undefined;
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
