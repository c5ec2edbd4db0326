/**
 * Runs a Lambda Kinesis handler locally on an event file and prints its response.
 *
 *   node --import tsx scripts/lambda-local.ts EVENT.json [--module PATH] [--timeout-ms N]
 *   make lambda-local EVENT=test/fixtures/lambda/app-opens-event.json
 *
 * The module (default: src/app-opens/lambda/lastopens.ts; e.g. dist/app-opens/lambda/lastopens.js for the build)
 * must export `handler`. It is configured by the environment as on Lambda (RESULTS_REDIS_URL,
 * STREAM_NAME, LOG_LEVEL, DEADLETTER_MAXLEN, or a .env file in the working directory). The
 * handler's logs go to stdout as on Lambda; the response is the last line of stdout, as JSON.
 * Exit code 0 when the handler resolved, 1 when it rejected (its error on stderr), 2 on bad usage.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createLocalContext } from '../src/lambda/localContext.js';

const usage = 'usage: node --import tsx scripts/lambda-local.ts EVENT.json [--module PATH] [--timeout-ms N]';

function fail(message: string, code: number): never {
  process.stderr.write(`lambda-local: ${message}\n`);
  process.exit(code);
}

let args;
try {
  args = parseArgs({ allowPositionals: true, options: { module: { type: 'string' }, 'timeout-ms': { type: 'string' } } });
} catch (err) {
  fail(`${err instanceof Error ? err.message : String(err)}\n${usage}`, 2);
}
const eventPath = args.positionals[0];
if (eventPath === undefined || args.positionals.length > 1) fail(usage, 2);
const timeoutMs = Number(args.values['timeout-ms'] ?? 60_000);
if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) fail('--timeout-ms must be a positive integer', 2);

let event: unknown;
try {
  event = JSON.parse(readFileSync(eventPath, 'utf8'));
} catch (err) {
  fail(`cannot read ${eventPath}: ${err instanceof Error ? err.message : String(err)}`, 2);
}

const modulePath = args.values.module === undefined ? new URL('../src/app-opens/lambda/lastopens.ts', import.meta.url).href : pathToFileURL(resolve(args.values.module)).href;
const mod = (await import(modulePath)) as { handler?: unknown; closeLastOpens?: () => Promise<void> };
if (typeof mod.handler !== 'function') fail(`${modulePath} does not export a handler function`, 2);
const handler = mod.handler as (event: unknown, context: unknown) => Promise<unknown>;

let code = 0;
try {
  const response = await handler(event, createLocalContext({ timeoutMs }));
  process.stdout.write(`${JSON.stringify(response)}\n`);
} catch (err) {
  process.stderr.write(`lambda-local: the handler failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  code = 1;
} finally {
  await mod.closeLastOpens?.();
}
process.exit(code);
