/**
 * Kinesis events shaped exactly like the ones Lambda's event source mapping sends (see the AWS
 * docs, "Using Lambda with Kinesis": example event), for tests and the example fixture.
 *
 * @example
 * const event = lambdaEvent([toAvro(open1), kplAggregate([...]), Buffer.from('garbage')]);
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { sequenceNumber } from '../../src/testing/records.js';

export interface LambdaEventOptions {
  /** Index of the first record's sequence number (see `sequenceNumber` of src/testing). Default 0. */
  start?: number;
  /** Default `shardId-000000000006`. */
  shardId?: string;
  /** Default `app-opens`. */
  streamName?: string;
  /** Partition key of record i. Default `pk-<i>`. */
  partitionKey?: (i: number) => string;
  /** Arrival time of record i in fractional seconds, as Lambda gives it. Default 1764000000.123 + i. */
  arrival?: (i: number) => number;
}

/** One Lambda Kinesis record. */
export function lambdaRecord(data: Uint8Array, i: number, options: LambdaEventOptions = {}): KinesisStreamRecord {
  const shardId = options.shardId ?? 'shardId-000000000006';
  const stream = options.streamName ?? 'app-opens';
  const seq = sequenceNumber(i);
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: options.partitionKey ? options.partitionKey(i) : `pk-${i}`,
      sequenceNumber: seq,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: options.arrival ? options.arrival(i) : 1_764_000_000.123 + i,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${seq}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/lastopens-lambda-role',
    awsRegion: 'eu-west-1',
    eventSourceARN: `arn:aws:kinesis:eu-west-1:123456789012:stream/${stream}`,
  };
}

/** A Lambda Kinesis event with one record per payload, sequence numbers increasing from `start`. */
export function lambdaEvent(payloads: ReadonlyArray<Uint8Array>, options: LambdaEventOptions = {}): KinesisStreamEvent {
  const start = options.start ?? 0;
  return { Records: payloads.map((p, k) => lambdaRecord(p, start + k, options)) };
}

/** The event Lambda sends when it retries from `itemIdentifier`: the records from that one on. */
export function retryFrom(event: KinesisStreamEvent, itemIdentifier: string): KinesisStreamEvent {
  const i = event.Records.findIndex((r) => r.kinesis.sequenceNumber === itemIdentifier);
  if (i < 0) throw new Error(`no record with sequence number ${itemIdentifier}`);
  return { Records: event.Records.slice(i) };
}
