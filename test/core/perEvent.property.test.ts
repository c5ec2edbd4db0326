/**
 * The single processor's concurrency by key, checked against random batches: random partition
 * keys, random processor delays, random retriable / non-retriable failures (thrown synchronously
 * or asynchronously), random aborts. Whatever happens, per-key order holds, at most `concurrency`
 * records run at once, and the outcome's `firstUnhandled` never passes a record that was not
 * handled (processed or dead-lettered), and every record before it is one or the other, exactly as
 * its plan says.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NonRetriableError, RetriableError } from '../../src/core/errors.js';
import { RecordPipeline } from '../../src/core/pipeline.js';
import type { DeadLetter, Logger } from '../../src/core/types.js';
import { makeRecords } from '../../src/testing/index.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent } as unknown as Logger;

type Plan =
  | { kind: 'ok'; delay: number; sync: boolean }
  | { kind: 'poison'; delay: number; sync: boolean }
  | { kind: 'flaky'; delay: number; failures: number }
  | { kind: 'down'; delay: number };

const planArb: fc.Arbitrary<Plan> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('ok' as const), delay: fc.integer({ min: 0, max: 4 }), sync: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('poison' as const), delay: fc.integer({ min: 0, max: 4 }), sync: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flaky' as const), delay: fc.integer({ min: 0, max: 3 }), failures: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('down' as const), delay: fc.integer({ min: 0, max: 3 }) }) },
);

const caseArb = fc.record({
  keys: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 40 }),
  plans: fc.array(planArb, { minLength: 40, maxLength: 40 }),
  concurrency: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 8 }), fc.constant(64)),
  abortAfterMs: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
  /** Only `down` records exhaust their retries; with maxAttempts 3, `flaky` ones recover. */
  deadLetterSinkFailsOnce: fc.boolean(),
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('single processor, random batches (property)', () => {
  test('per-key order, the bound, and a checkpoint that never passes an unhandled record', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ keys, plans, concurrency, abortAfterMs, deadLetterSinkFailsOnce }) => {
        const n = keys.length;
        const records = makeRecords(
          keys.map((_, i) => String(i)),
          { partitionKey: (i) => `k${keys[i]!}` },
        );
        const attempts = new Array<number>(n).fill(0);
        const succeeded = new Array<boolean>(n).fill(false);
        const running = new Set<number>();
        const runningKeys = new Map<string, number>();
        const startedOrder: number[] = [];
        let peak = 0;
        const violations: string[] = [];
        const written: DeadLetter[] = [];
        let sinkCalls = 0;
        const pipeline = new RecordPipeline<number>({
          decoder: (data) => Number(data.toString('utf8')),
          spec: {
            kind: 'single',
            concurrency,
            processor: (i, ctx) => {
              const key = ctx.record.partitionKey;
              const plan = plans[i]!;
              const attempt = ++attempts[i]!;
              if (attempt === 1) startedOrder.push(i);
              if (running.has(i)) violations.push(`record ${i} called while already running`);
              const other = runningKeys.get(key);
              if (other !== undefined && other !== i) violations.push(`records ${other} and ${i} of ${key} at once`);
              running.add(i);
              runningKeys.set(key, i);
              peak = Math.max(peak, running.size);
              const done = (): void => {
                running.delete(i);
                runningKeys.delete(key);
              };
              const fail = (): never => {
                done();
                if (plan.kind === 'poison') throw new NonRetriableError(`poison ${i}`);
                throw new RetriableError(`down ${i}`);
              };
              if (plan.kind === 'poison' && 'sync' in plan && plan.sync) fail();
              if (plan.kind === 'ok' && plan.sync) {
                done();
                succeeded[i] = true;
                return undefined; // a processor returning a non-promise
              }
              return sleep(plan.delay).then(() => {
                if (plan.kind === 'poison' || plan.kind === 'down') fail();
                if (plan.kind === 'flaky' && attempt <= plan.failures) fail();
                done();
                succeeded[i] = true;
              });
            },
          },
          deadLetters: {
            async write(letters) {
              sinkCalls++;
              if (deadLetterSinkFailsOnce && sinkCalls === 1) throw new Error('sink down once');
              written.push(...letters);
            },
          },
          retry: { initialDelayMs: 0, maxDelayMs: 1, maxAttempts: 3 },
          logger: silent,
        });
        const abort = new AbortController();
        const timer = abortAfterMs === undefined ? undefined : setTimeout(() => abort.abort(), abortAfterMs);
        const outcome = await pipeline.run({ shardId: 's', records, millisBehindLatest: null, signal: abort.signal });
        clearTimeout(timer);

        assert.deepEqual(violations, []);
        assert.ok(peak <= concurrency, `peak ${peak} <= ${concurrency}`);
        // Per key: first attempts in sequence order.
        const byKey = new Map<string, number[]>();
        for (const i of startedOrder) {
          const k = records[i]!.partitionKey;
          byKey.set(k, [...(byKey.get(k) ?? []), i]);
        }
        for (const [k, order] of byKey) assert.deepEqual(order, [...order].sort((a, b) => a - b), `order of ${k}`);
        const lettered = new Set(written.map((l) => Number(Buffer.from(l.record.data, 'base64').toString('utf8'))));
        assert.equal(lettered.size, written.length, 'each letter once');
        const limit = outcome.complete ? n : outcome.firstUnhandled;
        for (let i = 0; i < limit; i++) {
          const plan = plans[i]!;
          if (plan.kind === 'poison') assert.ok(lettered.has(i) && !succeeded[i], `poison ${i} before the checkpoint is dead-lettered`);
          else assert.ok(succeeded[i] && !lettered.has(i), `record ${i} (${plan.kind}) before the checkpoint processed, not dead-lettered`);
        }
        for (const i of lettered) assert.ok(i < limit, `letter ${i} only before firstUnhandled ${limit}`);
        if (!outcome.complete) {
          const f = outcome.firstUnhandled;
          assert.ok(f < n);
          assert.ok(!succeeded[f], `the first unhandled record ${f} is really unhandled`);
          assert.ok(!lettered.has(f));
          // Without an abort or a sink failure, the batch stops only at a record whose retries ran out.
          if (!abort.signal.aborted && !deadLetterSinkFailsOnce) assert.equal(plans[f]!.kind, 'down', `stopped at ${f}`);
        } else {
          assert.ok(plans.slice(0, n).every((p) => p.kind !== 'down'), 'complete only if no record exhausted its retries');
        }
        if (concurrency === 1) {
          assert.deepEqual(startedOrder, [...startedOrder].sort((a, b) => a - b), 'concurrency 1: shard order');
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });
});
