/**
 * The script loader (src/redis/scripts.ts) against a private redis-server: every way to run a
 * script survives the server forgetting it (SCRIPT FLUSH, as after a restart or failover), a
 * refused call is sent again exactly once, and prepared RESP bytes are what Redis expects.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { closeRedisClient, createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { defineScript, digitCount, writeBulkBytes, writeBulkDigits, writeBulkHeader, writeCrlf, writeDigits, type RedisScript } from '../../src/redis/scripts.js';
import { startRedis, stopAllRedis, type RedisServer } from '../helpers/redis.js';

/** INCRBY KEYS[1] by ARGV[1]; a key of another type fails the call (WRONGTYPE). */
const incrBy = defineScript({ name: 'testIncrBy', lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])", numberOfKeys: 1 });
/** The same, with `numkeys` given by each call. */
const incrByVariadic = defineScript({ name: 'testIncrByN', lua: "local t = 0 for i = 1, #KEYS do t = t + redis.call('INCRBY', KEYS[i], ARGV[1]) end return t" });

let server: RedisServer;
let redis: RedisClient;
before(async () => {
  server = await startRedis();
  redis = createRedisClient(server.url, { commandTimeoutMs: 1500 });
});
after(async () => {
  await closeRedisClient(redis);
  await stopAllRedis();
});
beforeEach(async () => {
  await redis.flushall();
  await redis.script('FLUSH');
});

/** A prepared `EVALSHA <sha> 1 <key> <by>`, written with the module's byte writers. */
function prepared(script: RedisScript, key: string, by: number): Buffer {
  const keyBytes = Buffer.from(key, 'latin1');
  const buf = Buffer.allocUnsafe(script.headMaxBytes + keyBytes.length + 64);
  let pos = script.writeHead(buf, 0, 1, 2);
  pos = writeBulkBytes(buf, pos, keyBytes);
  pos = writeBulkDigits(buf, pos, by);
  return buf.subarray(0, pos);
}

describe('defineScript', () => {
  test('its SHA1 is that of its text, as SCRIPT LOAD answers', async () => {
    assert.equal(incrBy.sha, createHash('sha1').update(incrBy.lua).digest('hex'));
    assert.equal(await redis.script('LOAD', incrBy.lua), incrBy.sha);
  });

  test('a bad definition is refused, naming the option', () => {
    assert.throws(() => defineScript({ name: 'has space', lua: 'return 1' }), /`name`/);
    assert.throws(() => defineScript({ name: 'ok', lua: '  ' }), /`lua`/);
    assert.throws(() => defineScript({ name: 'ok', lua: 'return 1', numberOfKeys: -1 }), /`numberOfKeys`/);
  });

  test('call: runs, and runs again after SCRIPT FLUSH; two versions of one name live side by side', async () => {
    assert.equal(await incrBy.call(redis, ['n', 2]), 2);
    await redis.script('FLUSH');
    assert.equal(await incrBy.call(redis, ['n', 3]), 5);
    const v2 = defineScript({ name: 'testIncrBy', lua: "return redis.call('INCRBY', KEYS[1], ARGV[1] * 10)", numberOfKeys: 1 });
    assert.equal(await v2.call(redis, ['n', 1]), 15);
    assert.equal(await incrBy.call(redis, ['n', 1]), 16, 'the first version is still the one called by its object');
    assert.equal(await incrByVariadic.call(redis, [2, 'a', 'b', 4]), 8);
  });

  test('callMany: one reply per call in order, a failing call in its place, and after SCRIPT FLUSH the same', async () => {
    await redis.set('text', 'x');
    await redis.hset('hash', 'f', '1');
    const calls = [['a', 1], ['hash', 1], ['a', 2], ['b', 5]];
    const first = await incrBy.callMany(redis, calls);
    assert.deepEqual(first.map(([, r]) => r), [1, undefined, 3, 5]);
    assert.match(String(first[1]![0]), /WRONGTYPE/);
    await redis.script('FLUSH');
    const again = await incrBy.callMany(redis, calls);
    assert.deepEqual(again.map(([err, r]) => (err ? 'error' : r)), [4, 'error', 6, 10], 'each call applied once');
    assert.deepEqual(await incrByVariadic.callMany(redis, [[1, 'c', 1], [2, 'c', 'd', 1]]), [[null, 1], [null, 3]]);
  });

  test('sendPrepared: NOSCRIPT loads the script and sends only the refused calls again', async () => {
    const standalone = redis as Redis;
    const commands = [prepared(incrBy, 'p', 1), prepared(incrBy, 'p', 10), prepared(incrBy, 'q', 7)];
    assert.deepEqual(await redis.script('EXISTS', incrBy.sha), [0]);
    const replies = await incrBy.sendPrepared(standalone, commands);
    assert.deepEqual(replies.map(([err]) => err), [null, null, null]);
    assert.deepEqual(replies.map(([, r]) => r).sort((x, y) => Number(x) - Number(y)), [1, 7, 11]);
    assert.equal(await redis.get('p'), '11', 'each refused call applied exactly once');
    assert.deepEqual(await redis.script('EXISTS', incrBy.sha), [1]);
    const warm = await incrBy.sendPrepared(standalone, [prepared(incrBy, 'q', 1)]);
    assert.deepEqual(warm, [[null, 8]]);
  });
});

describe('RESP writers', () => {
  test('digits, bulk headers and bulk strings as Redis reads them', () => {
    const buf = Buffer.alloc(64);
    assert.deepEqual([0, 9, 10, 1764000000, Number.MAX_SAFE_INTEGER].map(digitCount), [1, 1, 2, 10, 16]);
    let pos = writeDigits(buf, 0, 1764000000, 10);
    assert.equal(buf.toString('latin1', 0, pos), '1764000000');
    pos = writeBulkHeader(buf, 0, 12);
    pos = writeCrlf(buf, pos);
    assert.equal(buf.toString('latin1', 0, pos), '$12\r\n\r\n');
    pos = writeBulkDigits(buf, 0, 0);
    pos = writeBulkBytes(buf, pos, Buffer.from('ios_app_open'));
    assert.equal(buf.toString('latin1', 0, pos), '$1\r\n0\r\n$12\r\nios_app_open\r\n');
    const head = Buffer.alloc(incrBy.headMaxBytes);
    const end = incrBy.writeHead(head, 0, 1, 2);
    assert.equal(head.toString('latin1', 0, end), `*5\r\n$7\r\nEVALSHA\r\n$40\r\n${incrBy.sha}\r\n$1\r\n1\r\n`);
  });
});
