/**
 * The local stack: kinesis-local, dynalite and a private redis-server on free ports, really
 * started and stopped (no mocks), and the state file the `stop` command relies on.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { awsJson, isAlive, readStackState, startStack, stackOptionsFromEnv, type Stack } from '../../scripts/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'stack-test-'));
const stacks: Stack[] = [];
after(async () => {
  await Promise.all(stacks.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

void describe('local stack', () => {
  let stack: Stack;

  test('starts every service on free ports and records them in stack.json', async () => {
    stack = await startStack({ dir: join(dir, 'a') });
    stacks.push(stack);
    const kinesis = await awsJson(stack.kinesisEndpoint, 'Kinesis_20131202.ListStreams', {});
    assert.equal(kinesis.status, 200);
    const dynamo = await awsJson(stack.dynamoEndpoint, 'DynamoDB_20120810.ListTables', {}, '1.0');
    assert.deepEqual(await dynamo.json(), { TableNames: [] });
    assert.match(stack.redisUrl, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(stack.redisUrl).port, '6379');
    assert.deepEqual(readStackState(join(dir, 'a'))?.pids, stack.pids);
    assert.equal(JSON.parse(readFileSync(join(dir, 'a', 'stack.json'), 'utf8')).kinesisPort, stack.kinesisPort);
    assert.equal(Object.values(stack.pids).length, 3);
    assert.ok(Object.values(stack.pids).every(isAlive));
  });

  test('uses an existing Redis by URL instead of starting one, and leaves it running', async () => {
    const borrower = await startStack({ dir: join(dir, 'b'), redisUrl: stack.redisUrl });
    stacks.push(borrower);
    assert.equal(borrower.redisUrl, stack.redisUrl);
    assert.equal(borrower.pids.redis, undefined);
    await borrower.stop();
    assert.ok(isAlive(stack.pids.redis as number), 'the shared Redis is not stopped by the stack that borrowed it');
  });

  test('stop kills exactly what start started and removes stack.json', async () => {
    const pids = Object.values(stack.pids);
    await stack.stop();
    assert.deepEqual(pids.filter(isAlive), []);
    assert.equal(existsSync(join(dir, 'a', 'stack.json')), false);
  });

  test('reads ports from the environment and names a malformed one', () => {
    const options = stackOptionsFromEnv({ LOCAL_KINESIS_PORT: '4568', REDIS_URL: 'redis://127.0.0.1:6390' });
    assert.equal(options.kinesisPort, 4568);
    assert.equal(options.dynamoPort, undefined);
    assert.equal(options.redisUrl, 'redis://127.0.0.1:6390');
    assert.throws(() => stackOptionsFromEnv({ LOCAL_DYNAMODB_PORT: '70000' }), /`LOCAL_DYNAMODB_PORT`.*70000/);
  });
});
