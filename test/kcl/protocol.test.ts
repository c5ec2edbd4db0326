/**
 * The protocol codec and writer, in process: the gaps of aws-kcl this runtime closes.
 */
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { readLines } from '../../src/kcl/lineReader.js';
import { parseDaemonLine } from '../../src/kcl/messages.js';
import { ProtocolWriter } from '../../src/kcl/output.js';

describe('parseDaemonLine (aws-kcl: JSON.parse unguarded)', () => {
  test('parses every action and defaults optional record fields', () => {
    assert.deepEqual(parseDaemonLine('{"action":"initialize","shardId":"s","sequenceNumber":"TRIM_HORIZON"}'), {
      action: 'initialize',
      shardId: 's',
      sequenceNumber: 'TRIM_HORIZON',
      subSequenceNumber: null,
    });
    const pr = parseDaemonLine('{"action":"processRecords","millisBehindLatest":5,"records":[{"data":"eA==","partitionKey":"k","sequenceNumber":"123","action":"record"}]}');
    assert.deepEqual(pr, {
      action: 'processRecords',
      millisBehindLatest: 5,
      records: [{ data: 'eA==', partitionKey: 'k', sequenceNumber: '123', subSequenceNumber: 0, approximateArrivalTimestamp: null }],
    });
    assert.deepEqual(parseDaemonLine('{"action":"checkpoint","sequenceNumber":"1","subSequenceNumber":0,"error":"ThrottlingException"}'), {
      action: 'checkpoint',
      sequenceNumber: '1',
      subSequenceNumber: 0,
      error: 'ThrottlingException',
    });
    assert.equal(parseDaemonLine('   '), null);
  });

  test('anything unusable is a ProtocolError that says what is wrong', () => {
    assert.throws(() => parseDaemonLine('{"action":'), { name: 'ProtocolError', message: /not JSON/ });
    assert.throws(() => parseDaemonLine('[1,2]'), /not a JSON object/);
    assert.throws(() => parseDaemonLine('{"action":"dance"}'), /unknown action "dance"/);
    assert.throws(() => parseDaemonLine('{"action":"processRecords"}'), /without a records array/);
    assert.throws(() => parseDaemonLine('{"action":"processRecords","records":[{"data":1}]}'), /records\[0\]\.data/);
  });
});

describe('ProtocolWriter (aws-kcl: back-pressure treated as fatal)', () => {
  test('a full pipe makes writes wait for drain; nothing is lost or reordered', async () => {
    const received: string[] = [];
    let fullReports = 0;
    const slow = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk.toString());
        setTimeout(cb, 1);
      },
    });
    const writer = new ProtocolWriter(slow, (c) => {
      const ok = slow.write(c);
      if (!ok) fullReports++;
      return ok;
    });
    for (let i = 0; i < 50; i++) await writer.send({ action: 'status', responseFor: `a${i}` });
    await new Promise<void>((resolve) => slow.end(resolve));
    assert.ok(fullReports > 0, 'the pipe did report back-pressure');
    assert.deepEqual(
      received.join('').trim().split('\n').map((l) => (JSON.parse(l) as { responseFor: string }).responseFor),
      Array.from({ length: 50 }, (_, i) => `a${i}`),
    );
  });
});

describe('readLines', () => {
  test('joins lines split across chunks, strips CR, delivers a final unterminated line', async () => {
    const input = new PassThrough();
    const lines: string[] = [];
    const ended = new Promise<void>((resolve) => readLines(input, (l) => lines.push(l), () => resolve()));
    input.write('{"a":');
    input.write('1}\r\n{"b"');
    input.write(':2}\nlast');
    input.end();
    await ended;
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', 'last']);
  });
});
