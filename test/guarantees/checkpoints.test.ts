/**
 * Checkpoint replies of the kinds test/kcl/worker.test.ts does not cover one by one
 * (ThrottlingException, ShutdownException and InvalidStateException are there):
 * KinesisClientLibDependencyException, IllegalArgumentException on its own, and an error name the
 * worker has never heard of. The fixture worker, a real child process, under the test daemon.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { makeRecords } from '../../src/testing/index.js';
import { cmd, spawnFixture, type FixtureWorker } from '../helpers/fixtureWorker.js';

const SHARD = 'shardId-000000000009';
let workers: FixtureWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.map((w) => w.cleanup()));
  workers = [];
});

function start(failures: Record<number, string>): FixtureWorker {
  const w = spawnFixture({}, { onCheckpoint: ({ index }) => failures[index] ?? null });
  workers.push(w);
  return w;
}

test('KinesisClientLibDependencyException (DynamoDB trouble) is retried with backoff until the checkpoint takes, before the status', async () => {
  const w = start({ 0: 'KinesisClientLibDependencyException', 1: 'KinesisClientLibDependencyException' });
  await w.daemon.initialize(SHARD);
  const records = makeRecords([cmd('a'), cmd('b')]);
  const { checkpoints } = await w.daemon.processRecords(records);
  assert.deepEqual(
    checkpoints.map((c) => [c.sequenceNumber, c.error]),
    [
      [records[1]!.sequenceNumber, 'KinesisClientLibDependencyException'],
      [records[1]!.sequenceNumber, 'KinesisClientLibDependencyException'],
      [records[1]!.sequenceNumber, null],
    ],
  );
});

for (const error of ['IllegalArgumentException', 'SomeFutureKclException']) {
  test(`${error}: not retried; the position stays pending and the next batch's checkpoint covers it; processing goes on`, async () => {
    const w = start({ 0: error });
    await w.daemon.initialize(SHARD);
    const records = makeRecords([cmd('a'), cmd('b')]);
    const first = await w.daemon.processRecords(records.slice(0, 1));
    const second = await w.daemon.processRecords(records.slice(1));
    assert.deepEqual(first.checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records[0]!.sequenceNumber, error]], 'one attempt only');
    assert.deepEqual(second.checkpoints.map((c) => [c.sequenceNumber, c.error]), [[records[1]!.sequenceNumber, null]]);
    assert.deepEqual(w.applied(), ['a', 'b']);
    const logged = w.log().filter((l) => l.msg === 'checkpoint failed; the position stays pending and is checkpointed again after the next batch');
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.error, error);
  });
}
