import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUrl } from '../../src/config/redact.js';
import { parseRedisUrl, redactUrl as redisRedactUrl } from '../../src/redis/connection.js';

const SECRET = 'pa/ss@w?rd#1';

test('every Redis URL the client accepts is logged without its password, by both redactUrl functions', () => {
  const urls = [
    `redis://app:${SECRET}@cache:6379/1`,
    `rediss://:${SECRET}@cache`,
    `redis+cluster://app:${SECRET}@a:7000,b:7001`,
    `rediss+cluster://:${encodeURIComponent(SECRET)}@a:7000,[::1]:7001`,
    `redis://${encodeURIComponent(SECRET)}@cache`,
  ];
  for (const url of urls) {
    const parsed = parseRedisUrl(url);
    assert.equal(parsed.password, SECRET, url);
    for (const redact of [redactUrl, redisRedactUrl]) {
      const out = redact(url);
      assert.ok(!out.includes('pa/ss') && !out.includes(encodeURIComponent(SECRET)), `${url} -> ${out}`);
      assert.match(out, /\*\*\*@/);
    }
  }
});

test('other URLs keep their shape', () => {
  assert.equal(redactUrl('https://user:s3cret@example.com/x'), 'https://user:***@example.com/x');
  assert.equal(redactUrl('redis://cache:6379'), 'redis://cache:6379');
  assert.equal(redactUrl('rediss://app:s3cret@cache.example.com:6380/0'), 'rediss://app:***@cache.example.com:6380/0');
  assert.equal(redactUrl('weird://u:pa/ss@h'), 'weird://u:***@h');
});
