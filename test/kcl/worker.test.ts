/**
 * The KCL runtime, driven as a real child process over real pipes by the test daemon.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { makeRecords } from '../../src/testing/index.js';
import { cmd, spawnFixture, waitFor, type FixtureWorker } from '../helpers/fixtureWorker.js';

const SHARD = 'shardId-000000000001';
/**
 * Records of one partition key: the single processor handles them one after another in sequence
 * order (records of different keys run at once; test/kcl/concurrency.test.ts).
 */
const ONE_KEY = { partitionKey: 'user-1' };
let workers: FixtureWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.map((w) => w.cleanup()));
  workers = [];
});
function start(...args: Parameters<typeof spawnFixture>): FixtureWorker {
  const w = spawnFixture(...args);
  workers.push(w);
  return w;
}

for (const mode of ['single', 'batch'] as const) {
  describe(`every action (${mode} processor)`, () => {
    test('initialize, processRecords, shutdownRequested: one status each, checkpoint before status', async () => {
      // Prepare
      const w = start({ MODE: mode });
      const records = makeRecords([cmd('a'), cmd('b'), cmd('c')]);
      // Act
      const init = await w.daemon.initialize(SHARD);
      const batch = await w.daemon.processRecords(records);
      const shutdown = await w.daemon.shutdownRequested();
      const exit = await w.daemon.closeInput();
      // Assess
      assert.deepEqual(init.checkpoints, []);
      assert.deepEqual(batch.checkpoints, [{ sequenceNumber: records[2]!.sequenceNumber, subSequenceNumber: 0, during: 'processRecords', error: null }]);
      assert.deepEqual(shutdown.checkpoints, [], 'nothing new to checkpoint at shutdown');
      assert.deepEqual(w.applied(), ['a', 'b', 'c']);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.deepEqual(w.daemon.strayLines, []);
      assert.equal(w.daemon.stderr, '');
    });

    test('shardEnded checkpoints SHARD_END (null sequence number)', async () => {
      const w = start({ MODE: mode });
      await w.daemon.initialize(SHARD);
      await w.daemon.processRecords(makeRecords([cmd('a')]));
      const ended = await w.daemon.shardEnded();
      assert.deepEqual(ended.checkpoints, [{ sequenceNumber: null, subSequenceNumber: null, during: 'shardEnded', error: null }]);
      assert.equal((await w.daemon.closeInput()).code, 0);
    });

    test('leaseLost never checkpoints, even with unacknowledged work', async () => {
      // The first batch's checkpoint fails for good, so work is pending when the lease goes.
      const w = start({ MODE: mode }, { onCheckpoint: () => 'IllegalArgumentException' });
      await w.daemon.initialize(SHARD);
      await w.daemon.processRecords(makeRecords([cmd('a')]));
      const lost = await w.daemon.leaseLost();
      assert.deepEqual(lost.checkpoints, []);
      assert.equal((await w.daemon.closeInput()).code, 0);
    });
  });
}

describe('checkpoint replies', () => {
  test('ThrottlingException is retried with backoff until it succeeds, before the status', async () => {
    const w = start({}, { onCheckpoint: ({ index }) => (index < 2 ? 'ThrottlingException' : null) });
    await w.daemon.initialize(SHARD);
    const records = makeRecords([cmd('a'), cmd('b')]);
    const { checkpoints } = await w.daemon.processRecords(records);
    assert.deepEqual(
      checkpoints.map((c) => [c.sequenceNumber, c.error]),
      [
        [records[1]!.sequenceNumber, 'ThrottlingException'],
        [records[1]!.sequenceNumber, 'ThrottlingException'],
        [records[1]!.sequenceNumber, null],
      ],
    );
  });

  test('ShutdownException stops checkpointing for the lease; processing goes on', async () => {
    const w = start({}, { onCheckpoint: () => 'ShutdownException' });
    await w.daemon.initialize(SHARD);
    const first = await w.daemon.processRecords(makeRecords([cmd('a')]));
    const second = await w.daemon.processRecords(makeRecords([cmd('b')], { start: 1 }));
    const shutdown = await w.daemon.shutdownRequested();
    assert.equal(first.checkpoints.length, 1);
    assert.deepEqual(second.checkpoints, []);
    assert.deepEqual(shutdown.checkpoints, []);
    assert.deepEqual(w.applied(), ['a', 'b']);
  });

  test('InvalidStateException: a few retries, then the position stays pending and is checkpointed later', async () => {
    let fail = true;
    const w = start({}, { onCheckpoint: () => (fail ? 'InvalidStateException' : null) });
    await w.daemon.initialize(SHARD);
    const records = makeRecords([cmd('a'), cmd('b')]);
    const first = await w.daemon.processRecords(records.slice(0, 1));
    assert.deepEqual(first.checkpoints.map((c) => c.error), ['InvalidStateException', 'InvalidStateException', 'InvalidStateException']);
    fail = false;
    const shutdown = await w.daemon.shutdownRequested();
    assert.deepEqual(shutdown.checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records[0]!.sequenceNumber, null]]);
    const pendingLines = () => w.log().filter((l) => l.msg === 'checkpoint failed; the position stays pending and is checkpointed again after the next batch');
    await waitFor(() => pendingLines().length >= 1, 'the checkpoint failure in the log');
    const logged = pendingLines();
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.shardId, SHARD);
    assert.equal(logged[0]!.sequenceNumber, records[0]!.sequenceNumber);
  });

  test('the checkpoint carries the subSequenceNumber of an aggregated record', async () => {
    const w = start();
    await w.daemon.initialize(SHARD);
    const records = makeRecords([cmd('a'), cmd('b')]).map((r, i) => ({ ...r, sequenceNumber: records0(), subSequenceNumber: i }));
    function records0(): string {
      return makeRecords([''])[0]!.sequenceNumber;
    }
    const { checkpoints } = await w.daemon.processRecords(records);
    assert.deepEqual(checkpoints.map((c) => [c.sequenceNumber, c.subSequenceNumber]), [[records0(), 1]]);
  });
});

describe('processor failures', () => {
  test('a retriable failure is retried, and nothing is checkpointed until it succeeds', async () => {
    const w = start();
    const gate = join(w.dir, 'gate');
    await w.daemon.initialize(SHARD);
    const records = makeRecords([cmd('a'), cmd('w', { op: 'until', path: gate }), cmd('c')], ONE_KEY);
    const pending = w.daemon.processRecords(records);
    await waitFor(() => w.log().filter((l) => String(l.msg).startsWith('retriable processor failure')).length >= 3, 'three failed attempts');
    assert.deepEqual(w.daemon.checkpoints, [], 'no checkpoint while the record is failing');
    assert.deepEqual(w.applied(), ['a']);
    writeFileSync(gate, '');
    const { checkpoints } = await pending;
    assert.deepEqual(checkpoints.map((c) => c.sequenceNumber), [records[2]!.sequenceNumber]);
    assert.deepEqual(w.applied(), ['a', 'w', 'c']);
    assert.deepEqual(w.deadLetters(), []);
  });

  test('RetriableError and unknown errors are retried; the record is applied once it succeeds', async () => {
    const w = start();
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(makeRecords([cmd('f', { op: 'flaky', fail: 2 }), cmd('g', { op: 'generic', fail: 1 })], ONE_KEY));
    assert.deepEqual(w.applied(), ['f', 'g']);
    assert.deepEqual(w.deadLetters(), []);
  });

  for (const mode of ['single', 'batch'] as const) {
    test(`a poison record is dead-lettered and the batch is checkpointed (${mode})`, async () => {
      const w = start({ MODE: mode });
      await w.daemon.initialize(SHARD);
      const records = makeRecords([cmd('a'), cmd('p', { op: 'poison' }), 'not json at all', cmd('t', { op: 'typeerror' }), cmd('d')]);
      const { checkpoints } = await w.daemon.processRecords(records);
      assert.deepEqual(checkpoints.map((c) => c.sequenceNumber), [records[4]!.sequenceNumber]);
      assert.deepEqual(w.applied(), ['a', 'd']);
      const letters = w.deadLetters();
      assert.deepEqual(
        letters.map((l) => l.sequenceNumber).sort(),
        [records[1]!.sequenceNumber, records[2]!.sequenceNumber, records[3]!.sequenceNumber].sort(),
      );
      assert.match(letters.find((l) => l.sequenceNumber === records[1]!.sequenceNumber)!.reason, /NonRetriableError: poison record p/);
      assert.match(letters.find((l) => l.sequenceNumber === records[2]!.sequenceNumber)!.reason, /SyntaxError|JSON/);
      assert.match(letters.find((l) => l.sequenceNumber === records[3]!.sequenceNumber)!.reason, /TypeError/);
      assert.ok(letters.every((l) => l.shardId === SHARD));
    });
  }

  test('each dead letter is one log line: the default sink logs it with its data, and the pipeline adds no line of its own', async () => {
    // Prepare: the default sink (the log) and a custom sink, side by side.
    const logged = start({ DEADLETTERS: 'log' });
    const custom = start({});
    const records = makeRecords([cmd('a'), cmd('p', { op: 'poison' }), 'not json at all', cmd('d')]);
    const poison = [records[1]!, records[2]!];
    // Act
    for (const w of [logged, custom]) {
      await w.daemon.initialize(SHARD);
      await w.daemon.processRecords(records);
      await w.daemon.closeInput();
    }
    // Assess: a line names a dead letter when it carries its sequence number.
    const linesOf = (w: FixtureWorker, seq: string) =>
      w.log().filter((l) => l.sequenceNumber === seq || (l.deadLetter as { sequenceNumber?: string } | undefined)?.sequenceNumber === seq);
    for (const r of poison) {
      const own = linesOf(logged, r.sequenceNumber);
      assert.equal(own.length, 1, `one line for ${r.sequenceNumber} with the log sink, got ${JSON.stringify(own)}`);
      assert.equal(own[0]!.msg, 'dead letter');
      assert.equal(own[0]!.level, 'error');
      assert.deepEqual(own[0]!.deadLetter, { ...r, shardId: SHARD, reason: (own[0]!.deadLetter as { reason: string }).reason }, 'the whole record, data included');
      const other = linesOf(custom, r.sequenceNumber);
      assert.deepEqual(other.map((l) => [l.msg, l.level]), [['dead-lettering record', 'warn']], 'one warn line with a sink of its own');
    }
    assert.equal(custom.deadLetters().length, 2);
  });

  test('a failing dead-letter write blocks the checkpoint until it succeeds', async () => {
    const w = start({ DLQ_FAIL_TIMES: '2' });
    await w.daemon.initialize(SHARD);
    const records = makeRecords([cmd('p', { op: 'poison' }), cmd('b')]);
    const { checkpoints } = await w.daemon.processRecords(records);
    assert.equal(w.deadLetters().length, 1);
    assert.equal(checkpoints.length, 1);
    const retryLines = () => w.log().filter((l) => l.msg === 'dead-letter write failed; retrying');
    await waitFor(() => retryLines().length >= 2, 'the dead-letter retries in the log');
    const retries = retryLines();
    assert.equal(retries.length, 2);
  });

  test('retries exhausted: the handled prefix is checkpointed, then the worker exits 3 with one stderr line', async () => {
    const w = start({ MAX_ATTEMPTS: '3' });
    await w.daemon.initialize(SHARD);
    const records = makeRecords([cmd('a'), cmd('f', { op: 'flaky', fail: 100 }), cmd('c')], ONE_KEY);
    await assert.rejects(w.daemon.processRecords(records), /worker exited \(code 3/);
    assert.deepEqual(w.daemon.checkpoints.map((c) => c.sequenceNumber), [records[0]!.sequenceNumber]);
    assert.deepEqual(w.applied(), ['a']);
    assert.equal(w.daemon.stderr.trim().split('\n').length, 1);
    assert.match(w.daemon.stderr, /retries exhausted/);
  });
});

describe('stdout belongs to the protocol', () => {
  test('console.log and process.stdout.write in user code go to the log, not stdout', async () => {
    const w = start();
    await w.daemon.initialize(SHARD);
    const { checkpoints } = await w.daemon.processRecords(makeRecords([cmd('s', { op: 'stdout' }), cmd('b')]));
    assert.equal(checkpoints.length, 1);
    assert.deepEqual(w.daemon.strayLines, []);
    // The log is written asynchronously: wait for the lines rather than racing the writer.
    const redirectedLines = () => w.log().filter((l) => String(l.msg).startsWith('stdout write by user code'));
    await waitFor(() => redirectedLines().length >= 2, 'the redirected lines in the log');
    const redirected = redirectedLines();
    assert.deepEqual(redirected.map((l) => l.stdout), ['hello from user code s', 'raw write from user code s']);
    assert.ok(redirected.every((l) => l.shardId === SHARD));
  });
});

describe('shutdown', () => {
  test('end of input mid-retry: exit 0 promptly, nothing checkpointed past the unhandled record', async () => {
    const w = start();
    await w.daemon.initialize(SHARD);
    const pending = w.daemon.processRecords(makeRecords([cmd('a'), cmd('w', { op: 'until', path: '/nonexistent/never' })]));
    pending.catch(() => undefined);
    await waitFor(() => w.applied().length === 1 && w.log().some((l) => String(l.msg).startsWith('retriable processor failure')), 'the retry loop');
    const started = Date.now();
    const exit = await w.daemon.closeInput();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - started < 5_000, 'exits promptly');
    assert.deepEqual(w.daemon.checkpoints, []);
    await assert.rejects(pending, /worker exited/);
  });

  test('SIGTERM with a daemon attached drains: the batch in hand finishes, the daemon is answered (shutdownRequested with its checkpoint), exit 0 only when stdin closes', async () => {
    // Prepare: the second batch's checkpoint is refused once, so shutdownRequested has work to checkpoint.
    const gate = join(tmpdir(), `drain-gate-${process.pid}-${Date.now()}`);
    const w = start({ KCL_DRAIN_TIMEOUT_MS: '120000' }, { onCheckpoint: ({ index }) => (index === 1 ? 'IllegalArgumentException' : null) });
    await w.daemon.initialize(SHARD);
    const first = makeRecords([cmd('a'), cmd('u', { op: 'until', path: gate }), cmd('c')], ONE_KEY);
    const inHand = w.daemon.processRecords(first);
    await waitFor(() => w.applied().length === 1, 'the first record');
    // Act: the signal lands mid-batch (a record retrying), then the batch can finish.
    w.daemon.kill('SIGTERM');
    await waitFor(() => w.log().some((l) => l.msg?.toString().startsWith('signal: draining')), 'the drain to start');
    writeFileSync(gate, '');
    try {
      const firstResult = await inHand;
      const second = makeRecords([cmd('d')], { start: 100 });
      const secondResult = await w.daemon.processRecords(second);
      const shutdown = await w.daemon.shutdownRequested();
      const stillRunning = await Promise.race([w.daemon.exited.then(() => false), new Promise<boolean>((ok) => setTimeout(() => ok(true), 300))]);
      const exit = await w.daemon.closeInput();
      // Assess
      assert.deepEqual(firstResult.checkpoints.map((c) => [c.sequenceNumber, c.error]), [[first[2]!.sequenceNumber, null]], 'the batch in hand finished and was checkpointed');
      assert.deepEqual(secondResult.checkpoints.map((c) => [c.sequenceNumber, c.error]), [[second[0]!.sequenceNumber, 'IllegalArgumentException']]);
      assert.deepEqual(shutdown.checkpoints.map((c) => [c.sequenceNumber, c.during, c.error]), [[second[0]!.sequenceNumber, 'shutdownRequested', null]]);
      assert.ok(stillRunning, 'the worker waits for the daemon to close stdin');
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.deepEqual(w.applied(), ['a', 'u', 'c', 'd']);
      assert.equal(w.daemon.stderr, '');
      assert.ok(w.log().some((l) => l.msg === 'worker exiting'), 'the exit line made it to disk');
    } finally {
      rmSync(gate, { force: true });
    }
  });

  test('a second signal during the drain stops at once: exit 0, no checkpoint past unhandled records, logs flushed', async () => {
    const w = start({ KCL_DRAIN_TIMEOUT_MS: '120000' });
    await w.daemon.initialize(SHARD);
    const pending = w.daemon.processRecords(makeRecords([cmd('a'), cmd('h', { op: 'hang' }), cmd('c')], ONE_KEY));
    pending.catch(() => undefined);
    await waitFor(() => w.applied().length === 1, 'the first record');
    w.daemon.kill('SIGINT'); // Ctrl-C
    await waitFor(() => w.log().some((l) => l.msg?.toString().startsWith('signal: draining')), 'the drain to start');
    const t0 = Date.now();
    w.daemon.kill('SIGINT'); // and again
    const exit = await w.daemon.exited;
    assert.ok(Date.now() - t0 < 10_000, 'promptly');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.deepEqual(w.daemon.checkpoints, []);
    assert.deepEqual(w.applied(), ['a']);
    assert.ok(w.log().some((l) => l.msg === 'worker exiting'), 'the exit line made it to disk (flushSync may write it before an asynchronous write still in flight)');
  });

  test('SIGTERM with no daemon attached (no initialize yet) stops at once, exit 0', async () => {
    const w = start({ KCL_DRAIN_TIMEOUT_MS: '120000' });
    await waitFor(() => w.log().some((l) => l.msg === 'worker started; waiting for the daemon'), 'the worker to start');
    const t0 = Date.now();
    w.daemon.kill('SIGTERM');
    const exit = await w.daemon.exited;
    assert.ok(Date.now() - t0 < 10_000, 'promptly');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(!w.log().some((l) => l.msg?.toString().startsWith('signal: draining')));
  });

  test('the drain is bounded: a daemon that never closes stdin, exit 0 after KCL_DRAIN_TIMEOUT_MS, not before', async () => {
    const w = start({ KCL_DRAIN_TIMEOUT_MS: '1500' });
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(makeRecords([cmd('a')]));
    const t0 = Date.now();
    w.daemon.kill('SIGTERM');
    const exit = await w.daemon.exited;
    const waited = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(waited >= 1400, `waited ${waited} ms`);
    assert.ok(w.log().some((l) => l.msg === 'drain timed out: the daemon did not close stdin; stopping'));
  });
});

describe('protocol robustness', () => {
  test('a malformed line from the daemon: a clear error, exit 2, no hang', async () => {
    const w = start();
    await w.daemon.initialize(SHARD);
    w.daemon.sendRaw('{"action":"processRecords","records":[{"data":');
    const exit = await w.daemon.exited;
    assert.equal(exit.code, 2);
    assert.match(w.daemon.stderr, /malformed line from the daemon \(not JSON/);
    assert.equal(w.daemon.stderr.trim().split('\n').length, 1);
  });

  test('a record without a sequence number is a protocol error naming the field', async () => {
    const w = start();
    await w.daemon.initialize(SHARD);
    w.daemon.sendRaw(JSON.stringify({ action: 'processRecords', records: [{ data: 'eA==', partitionKey: 'k' }] }));
    const exit = await w.daemon.exited;
    assert.equal(exit.code, 2);
    assert.match(w.daemon.stderr, /records\[0\]\.sequenceNumber/);
  });

  test('blank lines are ignored', async () => {
    const w = start();
    w.daemon.sendRaw('');
    w.daemon.sendRaw('   ');
    await w.daemon.initialize(SHARD);
    assert.deepEqual(w.daemon.strayLines, []);
  });
});

describe('stats', () => {
  test('a periodic stats line reports records, dead letters, latency and lag', async () => {
    const w = start({ STATS_MS: '100' });
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(makeRecords([cmd('a'), cmd('p', { op: 'poison' })]), 1234);
    await waitFor(() => w.log().some((l) => l.msg === 'stats' && (l.stats as { records: number }).records === 2), 'a stats line');
    const line = w.log().find((l) => l.msg === 'stats' && (l.stats as { records: number }).records === 2)!;
    const stats = line.stats as Record<string, unknown>;
    assert.equal(stats.deadLettered, 1);
    assert.equal(stats.processed, 1);
    assert.equal(stats.millisBehindLatest, 1234);
    assert.equal(line.shardId, SHARD);
    assert.equal(typeof (stats.batchLatencyMs as { p99: number }).p99, 'number');
  });
});
