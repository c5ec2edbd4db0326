/**
 * The environment both lastopens runtimes (bin/lastopens and the Lambda module) read.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { readLastOpensEnv } from '../../src/app-opens/lastopens.js';

const KEYS = ['RESULTS_REDIS_URL', 'STREAM_NAME', 'LOG_LEVEL', 'DEADLETTER_MAXLEN'];
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

describe('readLastOpensEnv', () => {
  test('a multi-seed cluster URL is accepted (WHATWG URL would refuse it)', () => {
    setEnv({ RESULTS_REDIS_URL: 'redis+cluster://:pw@10.0.0.1:6379,10.0.0.2:6379', STREAM_NAME: 'app-opens' });
    assert.deepEqual(readLastOpensEnv(), {
      redisUrl: 'redis+cluster://:pw@10.0.0.1:6379,10.0.0.2:6379',
      streamName: 'app-opens',
      logLevel: 'info',
      deadLetterMaxLen: 100_000,
      waitReplicas: undefined,
    });
  });

  test('each bad value is a ConfigError naming its variable, without the password', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ STREAM_NAME: 's' }, /^RESULTS_REDIS_URL is not set/],
      [{ RESULTS_REDIS_URL: 'http://u:topsecret@h', STREAM_NAME: 's' }, /^RESULTS_REDIS_URL is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 'no spaces allowed' }, /^STREAM_NAME is malformed/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', LOG_LEVEL: 'loud' }, /^LOG_LEVEL is malformed: expected one of/],
      [{ RESULTS_REDIS_URL: 'redis://h', STREAM_NAME: 's', DEADLETTER_MAXLEN: '0' }, /^DEADLETTER_MAXLEN is malformed/],
    ];
    for (const [env, message] of cases) {
      setEnv(env);
      assert.throws(readLastOpensEnv, (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, message);
        assert.ok(!err.message.includes('topsecret'), err.message);
        return true;
      });
    }
  });
});
