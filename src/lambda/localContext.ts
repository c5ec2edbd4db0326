/**
 * A stand-in for Lambda's context object, for running a handler locally (scripts, tests).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** Options of {@link createLocalContext}. */
export interface LocalContextOptions {
  /** The pretend function timeout, in ms: `getRemainingTimeInMillis()` counts down from it. Default 60,000. */
  timeoutMs?: number;
  /** Default `local`. */
  functionName?: string;
}

/**
 * A Lambda `Context` for local runs: a fresh request id, and `getRemainingTimeInMillis()`
 * counting down from `timeoutMs` like the real one. `done`/`succeed`/`fail` are not supported
 * (async handlers do not use them).
 *
 * @example
 * import { readFileSync } from 'node:fs';
 * const handler = createKinesisHandler({ decoder: appOpenDecoder, batchProcessor });
 * const kinesisEvent = JSON.parse(readFileSync('events/app-opens.json', 'utf8'));
 * const response = await handler(kinesisEvent, createLocalContext({ timeoutMs: 30_000 }));
 */
export function createLocalContext(options: LocalContextOptions = {}): Context {
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new TypeError('Expected `timeoutMs` to be a positive number.');
  const functionName = options.functionName ?? 'local';
  const deadline = Date.now() + timeoutMs;
  const unsupported = (): never => {
    throw new Error('createLocalContext: callback-style completion is not supported; return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
