/**
 * createWorkerLogger never writes a JSON key twice in a line (strict log pipelines such as
 * Elasticsearch reject such documents): bound keys repeated by a line or by a child binding.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import pino from 'pino';
import { LOG_LEVELS, createPinoLogger, createWorkerLogger, parseLogLevel, pinoOptions } from '../../src/config/logging.js';
import { createLambdaLogger } from '../../src/lambda/logger.js';
import { optionalVar } from '../../src/config/env.js';
import { parseStrictJson, parseStrictJsonLines } from '../helpers/strictJson.js';

test('the strict parser fails on a duplicate key, at any depth, and accepts the rest of JSON', () => {
  assert.throws(() => parseStrictJson('{"shardId":"a","x":1,"shardId":"a"}'), /duplicate key "shardId"/);
  assert.throws(() => parseStrictJson('{"a":[{"b":1,"b":2}]}'), /duplicate key "b"/);
  assert.throws(() => parseStrictJson('{"a":1'), /expected/);
  assert.deepEqual(parseStrictJson('{"a":{"a":1},"b":[1,"\\"a\\"",null,true,-1.5e3]}'), { a: { a: 1 }, b: [1, '"a"', null, true, -1500] });
});

test('no duplicate keys: a line repeating a bound key, a child rebinding a key, a line setting level or time', async () => {
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
    // Assess: flushSync writes what is buffered; an asynchronous write already in flight completes
    // on its own (the process's exit waits for it), so wait for it here, bounded.
    const read = () => parseStrictJsonLines(readFileSync(path, 'utf8'), path);
    for (const until = Date.now() + 5_000; read().length < 5 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
    const lines = read();
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

test('LOG_LEVELS and parseLogLevel: one list, and a bad value names LOG_LEVEL', () => {
  assert.deepEqual([...LOG_LEVELS], ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  for (const level of LOG_LEVELS) assert.equal(parseLogLevel(level), level);
  assert.throws(
    () => optionalVar('LOG_LEVEL', 'info', parseLogLevel, { LOG_LEVEL: 'verbose' }),
    { name: 'ConfigError', message: 'LOG_LEVEL is malformed: expected one of fatal, error, warn, info, debug, trace, silent' },
  );
});

test('pinoOptions: the shared line format, redaction plus extra paths, and the duplicate-key guard only when asked', () => {
  // Prepare
  const sink = (): { lines: string[]; stream: Writable } => {
    const lines: string[] = [];
    return { lines, stream: new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) }) };
  };
  const guarded = sink();
  const plain = sink();
  const extra = ['req.headers["x-api-key"]'];
  // Act
  pino(pinoOptions({ base: { app: 'a' }, extraRedactPaths: extra, dedupeKeys: true }), guarded.stream).info({ app: 'b', password: 'p', req: { headers: { 'x-api-key': 'k' } } }, 'm');
  pino(pinoOptions({ level: 'warn', base: { app: 'a' } }), plain.stream).warn({ secret: 's', req: { headers: { 'x-api-key': 'k' } } }, 'w');
  // Assess
  assert.equal(guarded.lines.length, 1);
  const g = parseStrictJson(guarded.lines[0]!) as Record<string, unknown>;
  assert.equal(g.level, 'info');
  assert.match(String(g.time), /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual([g.app, g.app_line, g.password, g.req], ['a', 'b', '***', { headers: { 'x-api-key': '***' } }]);
  const p = JSON.parse(plain.lines[0]!) as Record<string, unknown>;
  assert.deepEqual([p.level, p.secret, p.req], ['warn', '***', { headers: { 'x-api-key': 'k' } }], 'extra paths only where given');
  assert.equal(pinoOptions({ base: {} }).mixin, undefined, 'no guard unless asked');
});

test('createPinoLogger: a child rebinding a key keeps its parent\'s level, its grandchildren and setBindings stay guarded; the Lambda logger too', () => {
  // Prepare
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) });
  const logger = createPinoLogger({ base: { pid: 7, app: 'a' }, dedupeKeys: true }, stream);
  const quiet = logger.child({ shardId: 's0' });
  quiet.level = 'warn';
  // Act
  const rebound = quiet.child({ shardId: 's1', pid: 8 });
  rebound.info({ n: 0 }, 'below the parent\'s level');
  rebound.warn({ shardId: 's1', app: 'b' }, 'rebound');
  rebound.child({ app: 'c' }).child({ extra: 1 }).warn({ extra: 1 }, 'grandchild');
  const moved = logger.child({ shardId: 's2' });
  moved.info({}, 'before setBindings');
  moved.setBindings({ requestId: 'r1' });
  moved.info({ requestId: 'r1', pid: 7 }, 'after setBindings');
  createLambdaLogger({ base: { app: 'l' }, destination: stream }).child({ app: 'm', pid: 9 }).child({ pid: 10 }).info({ app: 'm', pid: 10 }, 'lambda');
  // Assess: every line parses strictly (no key twice), the child's values win, the line's equal values go
  const parsed = lines.map((l) => parseStrictJson(l) as Record<string, unknown>);
  const byMsg = (msg: string): Record<string, unknown> => parsed.find((l) => l.msg === msg) ?? {};
  assert.deepEqual(parsed.map((l) => l.msg), ['rebound', 'grandchild', 'before setBindings', 'after setBindings', 'lambda']);
  assert.deepEqual([byMsg('rebound').pid, byMsg('rebound').shardId, byMsg('rebound').app, byMsg('rebound').app_line, byMsg('rebound').shardId_line], [8, 's1', 'a', 'b', undefined]);
  assert.deepEqual([byMsg('grandchild').app, byMsg('grandchild').extra, byMsg('grandchild').shardId, byMsg('grandchild').level, byMsg('grandchild').pid], ['c', 1, 's1', 'warn', 8]);
  assert.deepEqual([byMsg('after setBindings').requestId, byMsg('after setBindings').requestId_line, byMsg('after setBindings').pid_line], ['r1', undefined, undefined]);
  assert.deepEqual([byMsg('lambda').app, byMsg('lambda').app_line, byMsg('lambda').pid, byMsg('lambda').pid_line], ['m', undefined, 10, undefined]);
});
