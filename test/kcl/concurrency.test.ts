/**
 * The single processor's concurrency inside a batch, driven as a real child process over real
 * pipes by the test daemon: records of one partition key one after another in sequence order,
 * different keys at once (at most `concurrency`), and the checkpoint only once every record is
 * handled, whatever fails, and whatever stops the worker mid-batch.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { makeRecords } from '../../src/testing/index.js';
import { cmd, spawnFixture, waitFor, type FixtureWorker } from '../helpers/fixtureWorker.js';
import { rng } from '../helpers/prng.js';

const SHARD = 'shardId-000000000001';
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

/** The ids of `applied` whose key is `key` (ids are `<key>.<n>`), in the order they were applied. */
const ofKey = (applied: string[], key: string): string[] => applied.filter((id) => id.startsWith(`${key}.`));
const retryLines = (w: FixtureWorker) => w.log().filter((l) => String(l.msg).startsWith('retriable processor failure'));

describe('single processor: concurrency by partition key', () => {
  for (const concurrency of [undefined, 3] as const) {
    test(`per-key order under a processor that sleeps randomly; keys overlap, at most ${concurrency ?? 'the default (64)'} in flight`, async () => {
      // Prepare: 240 records over 12 keys in a random interleaving, each sleeping 0-9 ms at random,
      // so an implementation that let two records of a key run at once would reorder them.
      const next = rng(2511);
      const keys = Array.from({ length: 240 }, () => `k${Math.floor(next() * 12)}`);
      const counts = new Map<string, number>();
      const ids = keys.map((k) => {
        const n = counts.get(k) ?? 0;
        counts.set(k, n + 1);
        return `${k}.${n}`;
      });
      const payloads = ids.map((id) => cmd(id, { op: 'sleep', ms: Math.floor(next() * 10) }));
      const records = makeRecords(payloads, { partitionKey: (i) => keys[i]! });
      const w = start(concurrency === undefined ? {} : { CONCURRENCY: String(concurrency) });
      await w.daemon.initialize(SHARD);
      // Act
      const { checkpoints } = await w.daemon.processRecords(records);
      // Assess
      assert.deepEqual(checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records.at(-1)!.sequenceNumber, null]]);
      const applied = w.applied();
      assert.equal(applied.length, 240);
      for (const k of counts.keys()) {
        assert.deepEqual(ofKey(applied, k), ids.filter((id) => id.startsWith(`${k}.`)), `records of ${k} in sequence order`);
      }
      assert.notDeepEqual(applied, ids, 'records of different keys finished out of shard order: they ran at once');
      const peak = w.peak();
      assert.ok(peak > 1, `records of different keys in flight at once (peak ${peak})`);
      assert.ok(peak <= (concurrency ?? 64), `at most the bound in flight (peak ${peak})`);
    });
  }

  test('concurrency 1: strict shard order, one record at a time', async () => {
    const next = rng(7);
    const ids = Array.from({ length: 60 }, (_, i) => `k${i % 6}.${i}`);
    const records = makeRecords(ids.map((id) => cmd(id, { op: 'sleep', ms: Math.floor(next() * 5) })), { partitionKey: (i) => `k${i % 6}` });
    const w = start({ CONCURRENCY: '1' });
    await w.daemon.initialize(SHARD);
    await w.daemon.processRecords(records);
    assert.deepEqual(w.applied(), ids);
    assert.equal(w.peak(), 1);
  });

  test('a retriable failure holds back only its key: the other keys finish, and the checkpoint waits for it', async () => {
    // Prepare: a.0 fails retriably until the gate file exists; a.1 is behind it (same key).
    const w = start();
    const gate = join(w.dir, 'gate');
    await w.daemon.initialize(SHARD);
    const plan: Array<[string, string, Record<string, unknown>]> = [
      ['a', 'a.0', { op: 'until', path: gate }],
      ['b', 'b.0', {}],
      ['a', 'a.1', {}],
      ['c', 'c.0', { op: 'sleep', ms: 5 }],
      ['b', 'b.1', {}],
      ['c', 'c.1', {}],
    ];
    const records = makeRecords(plan.map(([, id, extra]) => cmd(id, extra)), { partitionKey: (i) => plan[i]![0] });
    // Act
    const pending = w.daemon.processRecords(records);
    await waitFor(() => w.applied().length === 4 && retryLines(w).length >= 3, 'the other keys to finish while a.0 is retried');
    // Assess: everything but key a is applied, a.1 waits behind a.0, nothing checkpointed.
    assert.deepEqual([...w.applied()].sort(), ['b.0', 'b.1', 'c.0', 'c.1']);
    assert.deepEqual(w.daemon.checkpoints, [], 'no checkpoint while a.0 is unhandled, though every later key finished');
    writeFileSync(gate, '');
    const { checkpoints } = await pending;
    assert.deepEqual(checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records.at(-1)!.sequenceNumber, null]]);
    assert.deepEqual(ofKey(w.applied(), 'a'), ['a.0', 'a.1']);
    assert.deepEqual(w.deadLetters(), []);
  });

  test('retries running out on one key: the other keys finish, the checkpoint stops before it, exit 3', async () => {
    const w = start({ MAX_ATTEMPTS: '3' });
    await w.daemon.initialize(SHARD);
    const plan: Array<[string, string, Record<string, unknown>]> = [
      ['x', 'x.0', {}],
      ['f', 'f.0', { op: 'flaky', fail: 1_000 }],
      ['y', 'y.0', { op: 'sleep', ms: 20 }],
      ['f', 'f.1', {}],
      ['y', 'y.1', {}],
    ];
    const records = makeRecords(plan.map(([, id, extra]) => cmd(id, extra)), { partitionKey: (i) => plan[i]![0] });
    const pending = w.daemon.processRecords(records);
    pending.catch(() => undefined);
    const exit = await w.daemon.exited;
    assert.equal(exit.code, 3);
    assert.deepEqual(w.daemon.checkpoints.map((c) => c.sequenceNumber), [records[0]!.sequenceNumber], 'the handled prefix only: never past f.0');
    assert.deepEqual([...w.applied()].sort(), ['x.0', 'y.0', 'y.1'], 'the other keys finished; f.1 never ran');
    assert.match(w.daemon.stderr, /retries exhausted/);
  });

  test('a poison record among concurrent ones is dead-lettered alone; its key goes on', async () => {
    const next = rng(99);
    const plan = Array.from({ length: 50 }, (_, i) => {
      const key = `k${i % 5}`;
      const id = `${key}.${i}`;
      if (i === 17) return { key, id, payload: cmd(id, { op: 'poison' }) };
      if (i === 31) return { key, id, payload: cmd(id, { op: 'typeerror' }) };
      if (i === 40) return { key, id, payload: 'not json' };
      return { key, id, payload: cmd(id, { op: 'sleep', ms: Math.floor(next() * 6) }) };
    });
    const records = makeRecords(plan.map((p) => p.payload), { partitionKey: (i) => plan[i]!.key });
    const w = start();
    await w.daemon.initialize(SHARD);
    const { checkpoints } = await w.daemon.processRecords(records);
    assert.deepEqual(checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records.at(-1)!.sequenceNumber, null]]);
    assert.deepEqual(
      w.deadLetters().map((l) => l.sequenceNumber),
      [17, 31, 40].map((i) => records[i]!.sequenceNumber),
      'exactly the three poison records, in shard order',
    );
    const good = plan.filter((_, i) => ![17, 31, 40].includes(i)).map((p) => p.id);
    assert.deepEqual([...w.applied()].sort(), [...good].sort());
    // The poison records' key-mates after them were applied, in order.
    assert.deepEqual(ofKey(w.applied(), 'k2'), plan.filter((p, i) => p.key === 'k2' && i !== 17).map((p) => p.id));
    assert.ok(w.peak() > 1);
  });
});

describe('single processor: stopping with records in flight on several keys', () => {
  /** Keys g0..g4: each a gated record (in flight until the gate opens), then a quick one. */
  function gatedBatch(gate: string) {
    const plan: Array<[string, string, Record<string, unknown>]> = [];
    for (let k = 0; k < 5; k++) plan.push([`g${k}`, `g${k}.0`, { op: 'gate', path: gate }]);
    for (let k = 0; k < 5; k++) plan.push([`g${k}`, `g${k}.1`, {}]);
    return { plan, records: makeRecords(plan.map(([, id, extra]) => cmd(id, extra)), { partitionKey: (i) => plan[i]![0] }) };
  }

  test('SIGTERM (the daemon shutting down): the drain finishes every key, checkpoints the batch, answers shutdownRequested, exit 0 on end of input', async () => {
    const w = start({ KCL_DRAIN_TIMEOUT_MS: '120000' });
    const gate = join(w.dir, 'gate');
    await w.daemon.initialize(SHARD);
    const { records } = gatedBatch(gate);
    const inHand = w.daemon.processRecords(records);
    await waitFor(() => w.peak() === 5, 'five records in flight');
    w.daemon.kill('SIGTERM');
    await waitFor(() => w.log().some((l) => String(l.msg).startsWith('signal: draining')), 'the drain to start');
    assert.deepEqual(w.daemon.checkpoints, []);
    writeFileSync(gate, '');
    const result = await inHand;
    const shutdown = await w.daemon.shutdownRequested();
    const exit = await w.daemon.closeInput();
    assert.deepEqual(result.checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records.at(-1)!.sequenceNumber, null]]);
    assert.deepEqual(shutdown.checkpoints, [], 'nothing left to checkpoint');
    assert.equal(w.applied().length, 10);
    for (let k = 0; k < 5; k++) assert.deepEqual(ofKey(w.applied(), `g${k}`), [`g${k}.0`, `g${k}.1`]);
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  test('a second signal: exit 0 at once, nothing checkpointed, no record started after it', async () => {
    const w = start({ KCL_DRAIN_TIMEOUT_MS: '120000' });
    const gate = join(w.dir, 'never');
    await w.daemon.initialize(SHARD);
    const { records } = gatedBatch(gate);
    const pending = w.daemon.processRecords(records);
    pending.catch(() => undefined);
    await waitFor(() => w.peak() === 5, 'five records in flight');
    w.daemon.kill('SIGINT');
    await waitFor(() => w.log().some((l) => String(l.msg).startsWith('signal: draining')), 'the drain to start');
    w.daemon.kill('SIGINT');
    const exit = await w.daemon.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.deepEqual(w.daemon.checkpoints, []);
    assert.deepEqual(w.applied(), [], 'the in-flight records were interrupted and none behind them started');
  });

  test('end of input (the daemon gone) with records in flight: exit 0 promptly, nothing checkpointed', async () => {
    const w = start();
    const gate = join(w.dir, 'never');
    await w.daemon.initialize(SHARD);
    const { records } = gatedBatch(gate);
    const pending = w.daemon.processRecords(records);
    pending.catch(() => undefined);
    await waitFor(() => w.peak() === 5, 'five records in flight');
    const t0 = Date.now();
    const exit = await w.daemon.closeInput();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 5_000, 'promptly');
    assert.deepEqual(w.daemon.checkpoints, []);
    assert.deepEqual(w.applied(), []);
  });

  test('lease lost while records were in flight (ShutdownException at the batch checkpoint, then leaseLost): no checkpoint after it, every key finished', async () => {
    const w = start({}, { onCheckpoint: () => 'ShutdownException' });
    const gate = join(w.dir, 'gate');
    await w.daemon.initialize(SHARD);
    const { records } = gatedBatch(gate);
    const inHand = w.daemon.processRecords(records);
    await waitFor(() => w.peak() === 5, 'five records in flight');
    assert.deepEqual(w.daemon.checkpoints, [], 'no checkpoint while records are in flight');
    writeFileSync(gate, '');
    const result = await inHand;
    const second = makeRecords([cmd('z.0')], { start: 100, partitionKey: 'z' });
    const after = await w.daemon.processRecords(second);
    const lost = await w.daemon.leaseLost();
    assert.deepEqual(result.checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records.at(-1)!.sequenceNumber, 'ShutdownException']]);
    assert.deepEqual(after.checkpoints, [], 'no checkpoint once the lease is gone');
    assert.deepEqual(lost.checkpoints, []);
    assert.equal(w.applied().length, 11);
    assert.equal((await w.daemon.closeInput()).code, 0);
  });
});
