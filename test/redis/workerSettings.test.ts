/**
 * The environment every Redis worker reads, under either runtime (bin/lastopens, bin/dailyactives
 * and the lastopens Lambda function), and the client options it implies.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { readRedisWorkerSettings, redisWorkerClientOptions } from '../../src/redis/workerSettings.js';

const KEYS = ['RESULTS_REDIS_URL', 'STREAM_NAME', 'LOG_LEVEL', 'DEADLETTER_MAXLEN', 'DEADLETTER_MAX_DATA_BYTES', 'DEADLETTER_MAX_BYTES', 'REDIS_WAIT_REPLICAS', 'REDIS_WAIT_TIMEOUT_MS', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'];
const saved = Object.fromEntries(KEYS.map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const k of KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
function setEnv(env: Record<string, string>): void {
  for (const k of KEYS) delete process.env[k];
  Object.assign(process.env, env);
}

describe('readRedisWorkerSettings', () => {
  test('a multi-seed cluster URL is accepted (WHATWG URL would refuse it)', () => {
    setEnv({ RESULTS_REDIS_URL: 'redis+cluster://:pw@10.0.0.1:6379,10.0.0.2:6379', STREAM_NAME: 'app-opens' });
    assert.deepEqual(readRedisWorkerSettings(), {
      redisUrl: 'redis+cluster://:pw@10.0.0.1:6379,10.0.0.2:6379',
      streamName: 'app-opens',
      logLevel: 'info',
      deadLetterMaxLen: 100_000,
      deadLetterMaxDataBytes: 65_536,
      deadLetterMaxBytes: 256 * 1024 * 1024,
    });
  });

  test('DEADLETTER_MAX_DATA_BYTES and DEADLETTER_MAX_BYTES: read as bytes; the budget must hold two of the largest letters', () => {
    setEnv({ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAX_DATA_BYTES: '1024', DEADLETTER_MAX_BYTES: '1048576' });
    const env = readRedisWorkerSettings();
    assert.deepEqual([env.deadLetterMaxDataBytes, env.deadLetterMaxBytes], [1024, 1_048_576]);
    setEnv({ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAX_DATA_BYTES: '0' });
    assert.equal(readRedisWorkerSettings().deadLetterMaxDataBytes, 0);
  });

  test('REDIS_WAIT_REPLICAS: off by default and at 0; N with the timeout (default 1000 ms); a sentinel URL is accepted', () => {
    setEnv({ RESULTS_REDIS_URL: 'redis+sentinel://s1:26379,s2/mymaster/1', STREAM_NAME: 's', REDIS_WAIT_REPLICAS: '0' });
    assert.equal(readRedisWorkerSettings().waitReplicas, undefined);
    setEnv({ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', REDIS_WAIT_REPLICAS: '2' });
    assert.deepEqual(readRedisWorkerSettings().waitReplicas, { replicas: 2, timeoutMs: 1000 });
    setEnv({ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '250' });
    assert.deepEqual(readRedisWorkerSettings().waitReplicas, { replicas: 1, timeoutMs: 250 });
  });

  test('each bad value is a ConfigError naming its variable, without the password', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ STREAM_NAME: 's' }, /^RESULTS_REDIS_URL is not set/],
      [{ RESULTS_REDIS_URL: 'http://u:topsecret@h', STREAM_NAME: 's' }, /^RESULTS_REDIS_URL is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 'no spaces allowed' }, /^STREAM_NAME is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', LOG_LEVEL: 'loud' }, /^LOG_LEVEL is malformed: expected one of/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAXLEN: '0' }, /^DEADLETTER_MAXLEN is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAX_DATA_BYTES: '-1' }, /^DEADLETTER_MAX_DATA_BYTES is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAX_DATA_BYTES: '20000000' }, /^DEADLETTER_MAX_DATA_BYTES is malformed: must be <= 10485760/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAX_BYTES: '100000' }, /^DEADLETTER_MAX_BYTES is malformed: must be >= 241760: twice the largest dead letter/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAX_BYTES: '1mb' }, /^DEADLETTER_MAX_BYTES is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', REDIS_WAIT_REPLICAS: '-1' }, /^REDIS_WAIT_REPLICAS is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '0' }, /^REDIS_WAIT_TIMEOUT_MS is malformed/],
      [{ RESULTS_REDIS_URL: 'redis+sentinel://:topsecret@s1', STREAM_NAME: 's' }, /^RESULTS_REDIS_URL is malformed.*master name/],
    ];
    for (const [env, message] of cases) {
      setEnv(env);
      assert.throws(readRedisWorkerSettings, (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, message);
        assert.ok(!err.message.includes('topsecret'), err.message);
        return true;
      });
    }
  });

  test('REDIS_SENTINEL_USERNAME / _PASSWORD and REDIS_WAIT_TIMEOUT_MS reach the client options, for every runtime', () => {
    setEnv({ RESULTS_REDIS_URL: 'redis+sentinel://s1/mymaster', STREAM_NAME: 's' });
    assert.deepEqual(redisWorkerClientOptions(readRedisWorkerSettings()), {}, 'nothing set: the client defaults');
    setEnv({ RESULTS_REDIS_URL: 'redis+sentinel://s1/mymaster', STREAM_NAME: 's', REDIS_SENTINEL_USERNAME: ' watcher ', REDIS_SENTINEL_PASSWORD: 'pw', REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '8000' });
    const settings = readRedisWorkerSettings();
    assert.deepEqual([settings.sentinelUsername, settings.sentinelPassword], ['watcher', 'pw']);
    assert.deepEqual(redisWorkerClientOptions(settings), { sentinelUsername: 'watcher', sentinelPassword: 'pw', commandTimeoutMs: 10_000 });
    setEnv({ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '250' });
    assert.deepEqual(redisWorkerClientOptions(readRedisWorkerSettings()), { commandTimeoutMs: 5_000 }, 'never below the default bound');
  });
});
