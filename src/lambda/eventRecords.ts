/**
 * From a Lambda Kinesis event to the records the pipeline runs on: the shape the KCL daemon
 * delivers (milliseconds, subSequenceNumber), with KPL aggregates opened up.
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { KinesisRecord } from '../core/types.js';
import { deaggregate } from './deaggregate.js';

/** The pipeline's view of one invocation's batch. */
export interface EventBatch {
  /** The shard all records come from (Lambda sends one shard per batch). */
  shardId: string;
  /** User records, in stream order, aggregates replaced by their user records. */
  records: KinesisRecord[];
  /** For each entry of `records`, the index in `event.Records` of the Kinesis record holding it. */
  origin: number[];
}

/**
 * The shard id of a Lambda Kinesis record: its `eventID` is `shardId-000000000006:<sequenceNumber>`.
 */
export function shardIdOf(eventID: string): string {
  const colon = eventID.indexOf(':');
  return colon > 0 ? eventID.slice(0, colon) : eventID;
}

/**
 * One Lambda record in the pipeline's shape (before de-aggregation): `data` stays base64,
 * `approximateArrivalTimestamp` goes from fractional seconds to whole milliseconds.
 */
export function toKinesisRecord(r: KinesisStreamRecord): KinesisRecord {
  const k = r.kinesis;
  const ts = k.approximateArrivalTimestamp;
  return {
    data: k.data,
    partitionKey: k.partitionKey,
    sequenceNumber: k.sequenceNumber,
    subSequenceNumber: 0,
    approximateArrivalTimestamp: typeof ts === 'number' && Number.isFinite(ts) ? Math.round(ts * 1000) : null,
  };
}

/**
 * Checks that `event` is a Kinesis event and flattens it into an {@link EventBatch}. Throws a
 * TypeError naming the first malformed field: an event from another source is a deployment
 * mistake, and failing the invocation says so loudly.
 */
export function eventBatch(event: KinesisStreamEvent, options: { deaggregate: boolean }): EventBatch {
  if (typeof event !== 'object' || event === null || !Array.isArray(event.Records)) {
    throw new TypeError('not a Kinesis event: expected an object with a `Records` array');
  }
  const records: KinesisRecord[] = [];
  const origin: number[] = [];
  let shardId = '';
  event.Records.forEach((r, i) => {
    checkRecord(r, i);
    if (i === 0) shardId = shardIdOf(r.eventID);
    const base = toKinesisRecord(r);
    const users = options.deaggregate ? deaggregate(base) : [base];
    for (const u of users) {
      records.push(u);
      origin.push(i);
    }
  });
  return { shardId, records, origin };
}

function checkRecord(r: KinesisStreamRecord, i: number): void {
  const where = `Records[${i}]`;
  if (typeof r !== 'object' || r === null) throw new TypeError(`not a Kinesis event: ${where} is not an object`);
  if (r.eventSource !== undefined && r.eventSource !== 'aws:kinesis') {
    throw new TypeError(`not a Kinesis event: ${where}.eventSource is ${JSON.stringify(r.eventSource)}, expected "aws:kinesis"`);
  }
  if (typeof r.eventID !== 'string') throw new TypeError(`not a Kinesis event: ${where}.eventID is missing`);
  const k = r.kinesis as Partial<KinesisStreamRecord['kinesis']> | undefined;
  if (typeof k !== 'object' || k === null) throw new TypeError(`not a Kinesis event: ${where}.kinesis is missing`);
  for (const field of ['data', 'partitionKey', 'sequenceNumber'] as const) {
    if (typeof k[field] !== 'string') throw new TypeError(`not a Kinesis event: ${where}.kinesis.${field} is not a string`);
  }
}
