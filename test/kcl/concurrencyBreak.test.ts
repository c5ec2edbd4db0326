/**
 * The concurrent single processor against processors that misbehave, driven by the test daemon
 * over real pipes: a record that never settles (ignoring the abort signal) among concurrent ones.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { makeRecords } from '../../src/testing/index.js';
import { cmd, spawnFixture, waitFor, type FixtureWorker } from '../helpers/fixtureWorker.js';

const SHARD = 'shardId-000000000001';
let workers: FixtureWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.map((w) => w.cleanup()));
  workers = [];
});

test('a record that never settles: other keys finish, nothing is checkpointed, and a second SIGTERM still ends the worker (exit 0)', async () => {
  const w = spawnFixture();
  workers.push(w);
  await w.daemon.initialize(SHARD);
  const plan: Array<[string, string, Record<string, unknown>]> = [
    ['b', 'b.0', {}],
    ['a', 'a.0', { op: 'forever' }],
    ['b', 'b.1', { op: 'sleep', ms: 3 }],
    ['a', 'a.1', {}],
    ['c', 'c.0', {}],
  ];
  const records = makeRecords(plan.map(([, id, extra]) => cmd(id, extra)), { partitionKey: (i) => plan[i]![0] });
  const pending = w.daemon.processRecords(records);
  pending.catch(() => undefined);
  await waitFor(() => w.applied().length === 3, 'the other keys to finish');
  assert.deepEqual([...w.applied()].sort(), ['b.0', 'b.1', 'c.0']);
  const t0 = Date.now();
  w.daemon.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  w.daemon.kill('SIGTERM');
  const exit = await w.daemon.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(Date.now() - t0 < 5_000, `exited after ${Date.now() - t0} ms`);
  assert.ok(
    w.daemon.checkpoints.every((c) => BigInt(c.sequenceNumber!) < BigInt(records[1]!.sequenceNumber)),
    `never at or past a.0: ${JSON.stringify(w.daemon.checkpoints)}`,
  );
});
