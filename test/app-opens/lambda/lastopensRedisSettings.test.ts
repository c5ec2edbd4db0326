/**
 * The lastopens Lambda function connects to Redis with the same settings as bin/lastopens: the
 * sentinels' own credentials (REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD) and a command
 * bound long enough for REDIS_WAIT_TIMEOUT_MS. Before the two runtimes shared one start-up, the
 * Lambda built its own client without either (issue 26).
 */
import assert from 'node:assert/strict';
import { after, afterEach, test } from 'node:test';
import { Redis } from 'ioredis';
import { closeLastOpens, handler } from '../../../src/app-opens/lambda/lastopens.js';
import { createLocalContext } from '../../../src/lambda/localContext.js';
import { toAvro, type AppOpen } from '../../../src/app-opens/model/index.js';
import { lambdaEvent } from '../../helpers/lambdaEvent.js';
import { startRedis, startRedisSentinel, stopAllRedis } from '../../helpers/redis.js';

const KEYS = ['RESULTS_REDIS_URL', 'STREAM_NAME', 'LOG_LEVEL', 'METRICS', 'REDIS_WAIT_REPLICAS', 'REDIS_WAIT_TIMEOUT_MS', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'];
const saved = Object.fromEntries(KEYS.map((k) => [k, process.env[k]]));
const setEnv = (env: Record<string, string>): void => {
  for (const k of KEYS) delete process.env[k];
  Object.assign(process.env, { STREAM_NAME: 'app-opens-test', LOG_LEVEL: 'silent', METRICS: '0', ...env });
};
const now = Math.floor(Date.now() / 1000);
const open = (userId: number): AppOpen => ({ userId: BigInt(userId), platform: 'ios', timestamp: now, appVersion: null, deviceId: null });

afterEach(closeLastOpens); // a fresh container per test: the configuration is read on the first invocation
after(async () => {
  await stopAllRedis();
  for (const k of KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

test('REDIS_SENTINEL_PASSWORD: the function reaches the primary through sentinels that require a password', async () => {
  // Prepare: a primary and one sentinel that requires a password (the data node has none).
  const setup = await startRedisSentinel({ replicas: 0, sentinels: 1, sentinelPassword: 'sentinel-s3cret' });
  const primary = new Redis(setup.servers[0]!.url);
  try {
    setEnv({ RESULTS_REDIS_URL: setup.url, REDIS_SENTINEL_PASSWORD: 'sentinel-s3cret' });
    // Act
    const response = await handler(lambdaEvent([toAvro(open(7))]), createLocalContext({ timeoutMs: 4_000 }));
    // Assess
    assert.deepEqual(response, { batchItemFailures: [] });
    assert.equal(await primary.hget('user:7:checkpoint', 'ios_app_open'), String(now));
  } finally {
    primary.disconnect();
  }
});

test('REDIS_WAIT_TIMEOUT_MS above the 5 s default command bound: a WAIT that needs 5.5 s is waited for, not cut off and retried', async () => {
  // Prepare: a primary and its replica, the replica frozen (SIGSTOP) so it cannot acknowledge.
  const primaryServer = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primaryServer.port)] });
  const primary = new Redis(primaryServer.url);
  const waitCalls = async (): Promise<number> => Number(/cmdstat_wait:calls=(\d+)/.exec(String(await primary.info('commandstats')))?.[1] ?? 0);
  try {
    const deadline = Date.now() + 10_000;
    while (!String(await primary.info('replication')).includes('state=online')) {
      assert.ok(Date.now() < deadline, 'replica in sync');
      await new Promise((r) => setTimeout(r, 20));
    }
    setEnv({ RESULTS_REDIS_URL: primaryServer.url, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '8000' });
    replica.pause();
    // The replica thaws 5.5 s in: after a 5 s command bound would have cut the first WAIT off
    // (the batch is then retried with a second WAIT), well before the 8 s WAIT times out.
    const thaw = setTimeout(() => replica.resume(), 5_500);
    // Act
    const response = await handler(lambdaEvent([toAvro(open(8))]), createLocalContext({ timeoutMs: 30_000 }));
    clearTimeout(thaw);
    replica.resume();
    // Assess: done, with the one WAIT it needed (Redis counts a WAIT when it returns).
    assert.deepEqual(response, { batchItemFailures: [] });
    assert.equal(await primary.hget('user:8:checkpoint', 'ios_app_open'), String(now));
    assert.equal(await waitCalls(), 1, 'one WAIT: not cut off by the command bound and retried');
  } finally {
    replica.resume();
    primary.disconnect();
  }
});
