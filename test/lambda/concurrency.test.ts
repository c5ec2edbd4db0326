/**
 * The Lambda handler's `singleProcessor` inside one invocation: records of one partition key one
 * after another in sequence order, different keys at once, and the first unhandled record (in
 * sequence order) reported, whatever fails and however the invocation's time runs out.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { NonRetriableError, RetriableError } from '../../src/core/errors.js';
import type { DeadLetter, Decoder } from '../../src/core/types.js';
import { createKinesisHandler } from '../../src/lambda/handler.js';
import { createLambdaLogger } from '../../src/lambda/logger.js';
import { createLocalContext } from '../../src/lambda/localContext.js';
import { lambdaEvent, retryFrom } from '../helpers/lambdaEvent.js';
import { rng } from '../helpers/prng.js';

interface Cmd {
  id: string;
  ms?: number;
  op?: string;
}
const decoder: Decoder<Cmd> = (data) => JSON.parse(data.toString('utf8')) as Cmd;
const quiet = () =>
  createLambdaLogger({
    level: 'debug',
    destination: new Writable({
      write(_c, _e, cb) {
        cb();
      },
    }),
  });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An event from [partition key, command] pairs. */
function eventOf(plan: Array<[string, Cmd | string]>) {
  return lambdaEvent(
    plan.map(([, c]) => Buffer.from(typeof c === 'string' ? c : JSON.stringify(c))),
    { partitionKey: (i) => plan[i]![0] },
  );
}

/** A processor that records what it did: the ids it finished, in order, and the most in flight. */
function tracking(body: (c: Cmd, signal: AbortSignal) => Promise<void>) {
  const done: string[] = [];
  const started: string[] = [];
  let inFlight = 0;
  let peak = 0;
  const processor = async (c: Cmd, { signal }: { signal: AbortSignal }) => {
    started.push(c.id);
    inFlight++;
    peak = Math.max(peak, inFlight);
    try {
      await body(c, signal);
      done.push(c.id);
    } finally {
      inFlight--;
    }
  };
  return { processor, done, started, peak: () => peak };
}
const ofKey = (ids: string[], key: string) => ids.filter((id) => id.startsWith(`${key}.`));

describe('createKinesisHandler singleProcessor: concurrency by partition key', () => {
  test('per-key order under a processor that sleeps randomly; keys overlap, within the bound', async () => {
    const next = rng(25);
    const counts = new Map<string, number>();
    const plan: Array<[string, Cmd]> = Array.from({ length: 200 }, () => {
      const k = `k${Math.floor(next() * 10)}`;
      const n = counts.get(k) ?? 0;
      counts.set(k, n + 1);
      return [k, { id: `${k}.${n}`, ms: Math.floor(next() * 8) }];
    });
    for (const concurrency of [undefined, 4]) {
      const t = tracking((c) => sleep(c.ms ?? 0));
      const handler = createKinesisHandler({ decoder, logger: quiet(), singleProcessor: t.processor, ...(concurrency ? { concurrency } : {}) });
      assert.deepEqual(await handler(eventOf(plan), createLocalContext()), { batchItemFailures: [] });
      assert.equal(t.done.length, 200);
      for (const k of counts.keys()) assert.deepEqual(ofKey(t.done, k), plan.map(([, c]) => c.id).filter((id) => id.startsWith(`${k}.`)), `${k} in order`);
      assert.ok(t.peak() > 1, `keys overlapped (peak ${t.peak()})`);
      assert.ok(t.peak() <= (concurrency ?? 64), `within the bound (peak ${t.peak()})`);
    }
  });

  test('keyOf: another key (here a field of the value) orders the records instead of the partition key; bad options are refused', async () => {
    // Every record has its own partition key, but the records of one user must run in order.
    const next = rng(3);
    const plan: Array<[string, Cmd]> = Array.from({ length: 120 }, (_, i) => [`pk-${i}`, { id: `u${i % 4}.${Math.floor(i / 4)}`, ms: Math.floor(next() * 6) }]);
    const t = tracking((c) => sleep(c.ms ?? 0));
    const handler = createKinesisHandler({ decoder, logger: quiet(), singleProcessor: t.processor, keyOf: (c: Cmd) => c.id.split('.')[0] });
    assert.deepEqual(await handler(eventOf(plan), createLocalContext()), { batchItemFailures: [] });
    for (let u = 0; u < 4; u++) assert.deepEqual(ofKey(t.done, `u${u}`), Array.from({ length: 30 }, (_, n) => `u${u}.${n}`));
    assert.ok(t.peak() > 1 && t.peak() <= 4, `one record per user in flight (peak ${t.peak()})`);
    for (const concurrency of [0, 1.5, -1, Number.NaN]) {
      assert.throws(() => createKinesisHandler({ decoder, singleProcessor: t.processor, concurrency }), /Expected `concurrency` to be a positive integer/);
    }
    assert.throws(() => createKinesisHandler({ decoder, batchProcessor: () => undefined, concurrency: 2 }), /only with `singleProcessor`/);
  });

  test('a retriable failure on one key: the other keys finish, the failing record is reported (not a later one), its key-mates wait; the retry completes', async () => {
    let failing = true;
    const t = tracking(async (c) => {
      await sleep(2);
      if (c.op === 'fail' && failing) throw new RetriableError(`transient failure of ${c.id}`);
    });
    const plan: Array<[string, Cmd]> = [
      ['x', { id: 'x.0' }],
      ['a', { id: 'a.0', op: 'fail' }],
      ['b', { id: 'b.0' }],
      ['a', { id: 'a.1' }],
      ['c', { id: 'c.0' }],
      ['b', { id: 'b.1' }],
    ];
    const event = eventOf(plan);
    const handler = createKinesisHandler({ decoder, logger: quiet(), singleProcessor: t.processor, retry: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 } });
    const first = await handler(event, createLocalContext());
    assert.deepEqual(first, { batchItemFailures: [{ itemIdentifier: event.Records[1]!.kinesis.sequenceNumber }] }, 'a.0 reported: the first unhandled record');
    assert.deepEqual([...t.done].sort(), ['b.0', 'b.1', 'c.0', 'x.0'], 'the other keys finished');
    assert.ok(!t.started.includes('a.1'), 'a.1 waited behind a.0');
    failing = false;
    t.done.length = 0;
    assert.deepEqual(await handler(retryFrom(event, event.Records[1]!.kinesis.sequenceNumber), createLocalContext()), { batchItemFailures: [] });
    assert.deepEqual(ofKey(t.done, 'a'), ['a.0', 'a.1']);
  });

  test('a poison record among concurrent ones is dead-lettered alone and not reported', async () => {
    const letters: DeadLetter[] = [];
    const t = tracking(async (c) => {
      await sleep(c.ms ?? 0);
      if (c.op === 'poison') throw new NonRetriableError(`poison ${c.id}`);
    });
    const plan: Array<[string, Cmd | string]> = Array.from({ length: 30 }, (_, i) => {
      const k = `k${i % 4}`;
      if (i === 9) return [k, { id: `${k}.${i}`, op: 'poison' }];
      if (i === 22) return [k, 'not json'];
      return [k, { id: `${k}.${i}`, ms: i % 3 }];
    });
    const event = eventOf(plan);
    const handler = createKinesisHandler({
      decoder,
      logger: quiet(),
      singleProcessor: t.processor,
      deadLetters: {
        write: (l) => {
          letters.push(...l);
          return Promise.resolve();
        },
      },
    });
    assert.deepEqual(await handler(event, createLocalContext()), { batchItemFailures: [] });
    assert.deepEqual(letters.map((l) => l.record.sequenceNumber), [9, 22].map((i) => event.Records[i]!.kinesis.sequenceNumber));
    assert.equal(t.done.length, 28);
    assert.ok(t.peak() > 1);
  });

  test("the invocation's time runs out with records in flight on several keys: the first unhandled is reported, nothing starts after", async () => {
    // Keys g0..g3: a record that runs until the invocation's signal aborts, then one behind it;
    // key q: quick records, all done before the deadline.
    const t = tracking(async (c, signal) => {
      if (c.op !== 'hang') return;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      throw new RetriableError(`${c.id} interrupted`);
    });
    const plan: Array<[string, Cmd]> = [['q', { id: 'q.0' }]];
    for (let k = 0; k < 4; k++) plan.push([`g${k}`, { id: `g${k}.0`, op: 'hang' }]);
    for (let k = 0; k < 4; k++) plan.push([`g${k}`, { id: `g${k}.1` }]);
    plan.push(['q', { id: 'q.1' }]);
    const event = eventOf(plan);
    const handler = createKinesisHandler({ decoder, logger: quiet(), singleProcessor: t.processor, reserveMs: 1_000 });
    const t0 = Date.now();
    const response = await handler(event, createLocalContext({ timeoutMs: 1_300 }));
    assert.ok(Date.now() - t0 < 1_300, 'answered within the invocation');
    assert.deepEqual(response, { batchItemFailures: [{ itemIdentifier: event.Records[1]!.kinesis.sequenceNumber }] }, 'g0.0: the first unhandled record');
    assert.deepEqual([...t.done].sort(), ['q.0', 'q.1']);
    assert.ok(t.peak() >= 4, 'the four hanging records were in flight at once');
    assert.ok(!t.started.some((id) => id.endsWith('.1') && id.startsWith('g')), 'nothing behind them started');
  });
});
