/**
 * Capped exponential backoff with full jitter, shared by the worker runtimes and the producer.
 */
import { AbortedError, RetriesExhaustedError, isRetriable } from './errors.js';

/** How to retry. Every field has a default; see {@link DEFAULT_RETRY}. */
export interface RetryOptions {
  /** Delay before the first retry, in ms. Default 100. */
  initialDelayMs?: number;
  /** Upper bound of any one delay, in ms. Default 10,000. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Attempts in all, the first included. Default Infinity: wait for the dependency to return. */
  maxAttempts?: number;
}

/** The defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY: Readonly<Required<RetryOptions>> = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  factor: 2,
  maxAttempts: Number.POSITIVE_INFINITY,
});

/** Options objects {@link resolveRetryOptions} returned: {@link withRetry} takes them as they are. */
const resolved = new WeakSet<object>();

/** Fills in defaults and checks every option, naming the one that is wrong. */
export function resolveRetryOptions(options: RetryOptions = {}): Required<RetryOptions> {
  if (resolved.has(options)) return options as Required<RetryOptions>;
  const r = { ...DEFAULT_RETRY, ...stripUndefined(options) };
  if (!(Number.isFinite(r.initialDelayMs) && r.initialDelayMs >= 0)) {
    throw new TypeError('Expected `retry.initialDelayMs` to be a non-negative number.');
  }
  if (!(Number.isFinite(r.maxDelayMs) && r.maxDelayMs >= r.initialDelayMs)) {
    throw new TypeError('Expected `retry.maxDelayMs` to be a number >= `retry.initialDelayMs`.');
  }
  if (!(Number.isFinite(r.factor) && r.factor >= 1)) {
    throw new TypeError('Expected `retry.factor` to be a number >= 1.');
  }
  if (!(r.maxAttempts >= 1 && (Number.isInteger(r.maxAttempts) || r.maxAttempts === Number.POSITIVE_INFINITY))) {
    throw new TypeError('Expected `retry.maxAttempts` to be a positive integer or Infinity.');
  }
  resolved.add(Object.freeze(r));
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The delay before retry number `attempt` (1 = first retry): a random value in
 * [0, min(maxDelayMs, initialDelayMs * factor^(attempt-1))] ("full jitter"), at least 1 ms.
 */
export function backoffDelay(attempt: number, options: Required<RetryOptions>, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(ceiling * random()));
}

/**
 * Resolves after `ms`, or rejects with {@link AbortedError} as soon as `signal` aborts.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Told about each failed attempt that will be retried. */
export type OnRetry = (info: { attempt: number; delayMs: number; error: unknown }) => void;

/**
 * What {@link withRetry} is told besides the options.
 */
export interface RetryHooks {
  /** Aborting it stops the retrying: the wait in progress ends with {@link AbortedError}. */
  signal?: AbortSignal;
  /**
   * With true, an aborted `signal` only cuts the waits between attempts short: an attempt that is
   * due is still made (the checkpoint of work already done is still worth sending once). Default
   * false: no attempt starts once `signal` has aborted.
   */
  attemptAfterAbort?: boolean;
  /** Told about each failed attempt that will be retried. */
  onRetry?: OnRetry;
  /** Whether a failure is worth another attempt. Default {@link isRetriable}. */
  classify?: (err: unknown) => boolean;
}

/**
 * Runs `fn` until it succeeds, retrying retriable failures (see `isRetriable`) with backoff.
 * A non-retriable failure is rethrown at once; running out of attempts throws
 * {@link RetriesExhaustedError} wrapping the last failure; an aborted `signal` throws
 * {@link AbortedError} instead of waiting.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions | Required<RetryOptions> = {},
  hooks: RetryHooks = {},
): Promise<T> {
  const opts = resolveRetryOptions(options);
  const classify = hooks.classify ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    if (hooks.signal?.aborted && !hooks.attemptAfterAbort) throw new AbortedError();
    try {
      return await fn(attempt);
    } catch (error) {
      if (!classify(error)) throw error;
      if (attempt >= opts.maxAttempts) throw new RetriesExhaustedError(attempt, error);
      const delayMs = backoffDelay(attempt, opts);
      hooks.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, hooks.signal);
    }
  }
}
