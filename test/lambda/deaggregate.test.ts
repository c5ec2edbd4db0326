/**
 * KPL de-aggregation and the mapping of Lambda records: pure functions, no network.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { deaggregate, parseAggregate } from '../../src/lambda/deaggregate.js';
import { eventBatch, shardIdOf, toKinesisRecord } from '../../src/lambda/eventRecords.js';
import type { KinesisRecord } from '../../src/core/types.js';
import { aggregatedRecordProtobuf, kplAggregate, kplFrame } from '../helpers/kplAggregate.js';
import { lambdaEvent } from '../helpers/lambdaEvent.js';

const SEQ = '49590338271490256608559692538361571095921575989136588898';
const record = (data: Buffer): KinesisRecord => ({
  data: data.toString('base64'),
  partitionKey: 'outer-pk',
  sequenceNumber: SEQ,
  subSequenceNumber: 0,
  approximateArrivalTimestamp: 1_764_000_000_123,
});

describe('deaggregate', () => {
  test('an aggregate becomes its user records: sub-sequence numbers, partition keys from the table, data', () => {
    const agg = kplAggregate([
      { partitionKey: 'user-1', data: Buffer.from('one') },
      { partitionKey: 'user-2', data: Buffer.from('two'), explicitHashKey: '170141183460469231731687303715884105728' },
      { partitionKey: 'user-1', data: Buffer.alloc(0) },
    ]);
    const out = deaggregate(record(agg));
    assert.deepEqual(out, [
      { data: Buffer.from('one').toString('base64'), partitionKey: 'user-1', sequenceNumber: SEQ, subSequenceNumber: 0, approximateArrivalTimestamp: 1_764_000_000_123 },
      { data: Buffer.from('two').toString('base64'), partitionKey: 'user-2', sequenceNumber: SEQ, subSequenceNumber: 1, approximateArrivalTimestamp: 1_764_000_000_123 },
      { data: '', partitionKey: 'user-1', sequenceNumber: SEQ, subSequenceNumber: 2, approximateArrivalTimestamp: 1_764_000_000_123 },
    ]);
    assert.equal(parseAggregate(agg)?.[1]?.explicitHashKey, '170141183460469231731687303715884105728');
  });

  test('round trip for any records (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ partitionKey: fc.string({ minLength: 1, maxLength: 256 }), data: fc.uint8Array({ maxLength: 300 }) }), { minLength: 1, maxLength: 40 }),
        (inputs) => {
          const out = deaggregate(record(kplAggregate(inputs)));
          assert.equal(out.length, inputs.length);
          out.forEach((r, i) => {
            assert.equal(r.partitionKey, inputs[i]!.partitionKey);
            assert.equal(r.data, Buffer.from(inputs[i]!.data).toString('base64'));
            assert.equal(r.subSequenceNumber, i);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  const asIs: Array<[string, Buffer]> = [
    ['a plain record', Buffer.from('plain avro bytes')],
    ['the magic with a bad MD5', kplAggregate([{ partitionKey: 'a', data: Buffer.from('x') }], { badDigest: true })],
    ['the magic, a good MD5, and bytes that are not protobuf', kplFrame(Buffer.from([0xff, 0xff, 0xff]))],
    ['a truncated length-delimited field', kplFrame(Buffer.from([0x0a, 0x05, 0x61]))],
    ['a partition key index outside the table', kplFrame(Buffer.from([0x1a, 0x05, 0x08, 0x03, 0x1a, 0x01, 0x78]))],
    ['a Record without data (required)', kplFrame(Buffer.concat([Buffer.from([0x0a, 0x01, 0x61]), Buffer.from([0x1a, 0x02, 0x08, 0x00])]))],
    ['the magic and a digest but nothing between', Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), Buffer.alloc(16)])],
    ['the magic alone', Buffer.from([0xf3, 0x89, 0x9a, 0xc2])],
    ['an aggregate of nothing (empty protobuf: the KCL needs more than the digest)', kplFrame(aggregatedRecordProtobuf([]))],
  ];
  for (const [name, bytes] of asIs) {
    test(`${name}: delivered as it is`, () => {
      const r = record(bytes);
      assert.deepEqual(deaggregate(r), [r]);
    });
  }

  test('unknown fields (tags, future fields) are skipped', () => {
    // Record { partition_key_index: 0, data: "x", tags: [{ key: "k" }] }, then an unknown varint field 9 at top level.
    const rec = Buffer.from([0x08, 0x00, 0x1a, 0x01, 0x78, 0x22, 0x03, 0x0a, 0x01, 0x6b]);
    const proto = Buffer.concat([Buffer.from([0x0a, 0x01, 0x61]), Buffer.from([0x1a, rec.length]), rec, Buffer.from([0x48, 0x96, 0x01])]);
    assert.deepEqual(parseAggregate(kplFrame(proto)), [{ partitionKey: 'a', explicitHashKey: undefined, data: Buffer.from('x') }]);
  });

  test('an aggregate with a table but no records yields no user records (as the KCL)', () => {
    assert.deepEqual(deaggregate(record(kplFrame(Buffer.from([0x0a, 0x01, 0x61])))), []);
  });
});

describe('Lambda records', () => {
  test('shard id from eventID, arrival time from fractional seconds to ms, data untouched', () => {
    const event = lambdaEvent([Buffer.from('a')], { shardId: 'shardId-000000000042', arrival: () => 1_545_084_650.987 });
    const r = event.Records[0]!;
    assert.equal(shardIdOf(r.eventID), 'shardId-000000000042');
    assert.deepEqual(toKinesisRecord(r), {
      data: r.kinesis.data,
      partitionKey: 'pk-0',
      sequenceNumber: r.kinesis.sequenceNumber,
      subSequenceNumber: 0,
      approximateArrivalTimestamp: 1_545_084_650_987,
    });
  });

  test('eventBatch flattens aggregates and remembers which Kinesis record holds each user record', () => {
    const agg = kplAggregate([
      { partitionKey: 'u1', data: Buffer.from('b0') },
      { partitionKey: 'u2', data: Buffer.from('b1') },
    ]);
    const event = lambdaEvent([Buffer.from('a'), agg, Buffer.from('c')]);
    const batch = eventBatch(event, { deaggregate: true });
    assert.equal(batch.shardId, 'shardId-000000000006');
    assert.deepEqual(batch.origin, [0, 1, 1, 2]);
    assert.deepEqual(batch.records.map((r) => [r.sequenceNumber, r.subSequenceNumber, r.partitionKey]), [
      [event.Records[0]!.kinesis.sequenceNumber, 0, 'pk-0'],
      [event.Records[1]!.kinesis.sequenceNumber, 0, 'u1'],
      [event.Records[1]!.kinesis.sequenceNumber, 1, 'u2'],
      [event.Records[2]!.kinesis.sequenceNumber, 0, 'pk-2'],
    ]);
    assert.deepEqual(eventBatch(event, { deaggregate: false }).origin, [0, 1, 2]);
  });

  test('an event from another source is refused, naming the field', () => {
    assert.throws(() => eventBatch({} as never, { deaggregate: true }), /Records/);
    const sqs = { Records: [{ eventSource: 'aws:sqs', eventID: 'x', body: '{}' }] };
    assert.throws(() => eventBatch(sqs as never, { deaggregate: true }), /Records\[0\]\.eventSource is "aws:sqs"/);
    const event = lambdaEvent([Buffer.from('a')]);
    delete (event.Records[0]!.kinesis as Partial<typeof event.Records[0]['kinesis']>).sequenceNumber;
    assert.throws(() => eventBatch(event, { deaggregate: true }), /Records\[0\]\.kinesis\.sequenceNumber/);
  });
});
