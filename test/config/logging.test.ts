/**
 * createWorkerLogger never writes a JSON key twice in a line (strict log pipelines such as
 * Elasticsearch reject such documents): bound keys repeated by a line or by a child binding.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createWorkerLogger } from '../../src/config/logging.js';
import { parseStrictJson, parseStrictJsonLines } from '../helpers/strictJson.js';

test('the strict parser fails on a duplicate key, at any depth, and accepts the rest of JSON', () => {
  assert.throws(() => parseStrictJson('{"shardId":"a","x":1,"shardId":"a"}'), /duplicate key "shardId"/);
  assert.throws(() => parseStrictJson('{"a":[{"b":1,"b":2}]}'), /duplicate key "b"/);
  assert.throws(() => parseStrictJson('{"a":1'), /expected/);
  assert.deepEqual(parseStrictJson('{"a":{"a":1},"b":[1,"\\"a\\"",null,true,-1.5e3]}'), { a: { a: 1 }, b: [1, '"a"', null, true, -1500] });
});

test('no duplicate keys: a line repeating a bound key, a child rebinding a key, a line setting level or time', () => {
  // Prepare
  const dir = mkdtempSync(join(tmpdir(), 'logging-'));
  try {
    const path = join(dir, 'w.log');
    const { logger, flushSync } = createWorkerLogger({ destination: path, base: { stream: 's' } });
    const shard = logger.child({ shardId: 'shardId-000000000000' });
    // Act
    shard.warn({ shardId: 'shardId-000000000000', sequenceNumber: '1', reason: 'DecodeError: x' }, 'dead-lettering record');
    shard.warn({ shardId: 'shardId-000000000009' }, 'a different value');
    shard.child({ shardId: 'shardId-000000000001' }).info({ n: 1 }, 'rebound');
    shard.info({ level: 'custom', time: 5, pid: process.pid }, 'reserved keys');
    logger.info({ plain: true }, 'no clash');
    flushSync();
    // Assess
    const lines = parseStrictJsonLines(readFileSync(path, 'utf8'), path);
    assert.equal(lines.length, 5);
    // By message: flushSync may write the buffered lines before an asynchronous write still in flight.
    const byMsg = (msg: string): Record<string, unknown> => lines.find((l) => l.msg === msg) ?? {};
    assert.deepEqual([byMsg('dead-lettering record').shardId, byMsg('dead-lettering record').sequenceNumber, byMsg('dead-lettering record').reason], ['shardId-000000000000', '1', 'DecodeError: x']);
    assert.deepEqual([byMsg('a different value').shardId, byMsg('a different value').shardId_line], ['shardId-000000000000', 'shardId-000000000009']);
    assert.equal(byMsg('rebound').shardId, 'shardId-000000000001', 'the child binding wins');
    assert.deepEqual([byMsg('reserved keys').level, byMsg('reserved keys').level_line, byMsg('reserved keys').time_line, byMsg('reserved keys').pid, byMsg('reserved keys').pid_line], ['info', 'custom', 5, process.pid, undefined]);
    assert.deepEqual([byMsg('no clash').plain, byMsg('no clash').stream], [true, 's']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
