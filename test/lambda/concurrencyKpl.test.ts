/**
 * KPL aggregates under the concurrent singleProcessor: each user record runs under its own
 * partition key (the aggregate's key table, as the KCL daemon hands them over), and a retriable
 * failure of a sub-record is reported by the Kinesis record that holds it, never a later one.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { RetriableError } from '../../src/core/errors.js';
import type { Decoder } from '../../src/core/types.js';
import { createKinesisHandler } from '../../src/lambda/handler.js';
import { createLambdaLogger } from '../../src/lambda/logger.js';
import { createLocalContext } from '../../src/lambda/localContext.js';
import { kplAggregate } from '../helpers/kplAggregate.js';
import { lambdaEvent, retryFrom } from '../helpers/lambdaEvent.js';

const decoder: Decoder<string> = (data) => data.toString('utf8');
const quiet = () => createLambdaLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('sub-records of one aggregate with different keys: keyed by their own partition keys; a failing sub-record holds back only its key and is reported by its holder', async () => {
  const agg = kplAggregate([
    { partitionKey: 'x', data: Buffer.from('u0') },
    { partitionKey: 'y', data: Buffer.from('u1') },
    { partitionKey: 'x', data: Buffer.from('u2') },
    { partitionKey: 'z', data: Buffer.from('u3'), explicitHashKey: '1' },
  ]);
  const payloads = [Buffer.from('r0'), agg, Buffer.from('r2'), Buffer.from('r3')];
  const outerKeys = ['a', 'agg', 'y', 'x'];
  const event = lambdaEvent(payloads, { partitionKey: (i) => outerKeys[i]! });
  let failing = true;
  const seen: Array<[string, string]> = [];
  const done: string[] = [];
  const handler = createKinesisHandler({
    decoder,
    logger: quiet(),
    retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 },
    singleProcessor: async (v, { record }) => {
      seen.push([v, record.partitionKey]);
      if (v === 'u0') await sleep(20);
      if (v === 'u1' && failing) throw new RetriableError('down');
      done.push(v);
    },
  });
  const result = await handler(event, createLocalContext());
  assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: event.Records[1]!.kinesis.sequenceNumber }] });
  const keyOf = new Map(seen);
  assert.deepEqual([keyOf.get('u0'), keyOf.get('u1'), keyOf.get('u2'), keyOf.get('u3')], ['x', 'y', 'x', 'z'], 'each user record under its own key');
  assert.ok(done.indexOf('u0') < done.indexOf('u2'), 'u2 after u0 (key x)');
  assert.ok(!done.includes('r2') && !seen.some(([v]) => v === 'r2'), 'r2 (key y) waits behind u1');
  assert.ok(done.includes('r3') && done.includes('u3') && done.includes('r0'));
  failing = false;
  done.length = 0;
  assert.deepEqual(await handler(retryFrom(event, result.batchItemFailures[0]!.itemIdentifier), createLocalContext()), { batchItemFailures: [] });
  assert.ok(done.includes('u1') && done.includes('r2') && done.indexOf('u1') < done.indexOf('r2'));
});
