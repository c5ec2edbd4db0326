/**
 * KPL de-aggregation: Lambda, unlike the KCL daemon, hands over KPL-aggregated records as they sit
 * in the stream. This module turns one such record into its user records, the way the KCL does
 * (software.amazon.kinesis.retrieval.AggregatorUtil).
 *
 * The format (https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md):
 * the magic bytes F3 89 9A C2, a protobuf `AggregatedRecord`, and the 16-byte MD5 of that protobuf.
 *
 *     message AggregatedRecord { repeated string partition_key_table = 1;
 *                                repeated string explicit_hash_key_table = 2;
 *                                repeated Record records = 3; }
 *     message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
 *                      required bytes data = 3; repeated Tag tags = 4; }
 */
import { createHash } from 'node:crypto';
import type { KinesisRecord } from '../core/types.js';

/** The four bytes every KPL aggregate starts with. */
export const KPL_MAGIC: Readonly<Buffer> = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
const DIGEST_SIZE = 16;

/** One user record of an aggregate. */
export interface AggregatedUserRecord {
  partitionKey: string;
  /** The explicit hash key, when the producer gave one. */
  explicitHashKey: string | undefined;
  data: Buffer;
}

/**
 * Parses the bytes of a Kinesis record as a KPL aggregate. Returns `undefined` when they are not
 * one: no magic, too short, an MD5 that does not match, a protobuf that does not parse, or a
 * partition key index outside the table. Such a record is then to be used as it is, as the KCL
 * does (on a bad index the KCL logs and drops the rest of the aggregate; here the record is kept
 * whole so that it reaches the decoder and, most likely, the dead-letter sink).
 */
export function parseAggregate(bytes: Buffer): AggregatedUserRecord[] | undefined {
  if (bytes.length <= KPL_MAGIC.length + DIGEST_SIZE) return undefined;
  if (!bytes.subarray(0, KPL_MAGIC.length).equals(KPL_MAGIC)) return undefined;
  const message = bytes.subarray(KPL_MAGIC.length, bytes.length - DIGEST_SIZE);
  const digest = bytes.subarray(bytes.length - DIGEST_SIZE);
  if (!createHash('md5').update(message).digest().equals(digest)) return undefined;
  try {
    return decodeAggregatedRecord(message);
  } catch (err) {
    if (err instanceof MalformedProtobuf) return undefined;
    throw err;
  }
}

/**
 * Replaces every KPL aggregate in `record` by its user records: same sequence number and arrival
 * time, `subSequenceNumber` = position in the aggregate, partition key from the aggregate's table.
 * Any other record (including one with the magic but a bad MD5 or protobuf) comes back alone and
 * unchanged.
 */
export function deaggregate(record: KinesisRecord): KinesisRecord[] {
  const bytes = Buffer.from(record.data, 'base64');
  const users = parseAggregate(bytes);
  if (users === undefined) return [record];
  return users.map((u, i) => ({
    data: u.data.toString('base64'),
    partitionKey: u.partitionKey,
    sequenceNumber: record.sequenceNumber,
    subSequenceNumber: i,
    approximateArrivalTimestamp: record.approximateArrivalTimestamp,
  }));
}

class MalformedProtobuf extends Error {
  override name = 'MalformedProtobuf';
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** A forward-only reader of protobuf wire format over one buffer. */
class Reader {
  pos: number;
  constructor(
    private readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a Number; values beyond 2^53 come back as Infinity (no index can be that large). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new MalformedProtobuf('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : result;
      scale *= 128;
    }
    throw new MalformedProtobuf('varint longer than 10 bytes');
  }

  /** The bytes of a length-delimited field. */
  bytes(): Buffer {
    const len = this.varint();
    if (len > this.end - this.pos) throw new MalformedProtobuf('length-delimited field overruns its message');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.bytes();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        // Groups (3, 4) are not used by this format; anything else is not protobuf.
        throw new MalformedProtobuf(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new MalformedProtobuf('truncated fixed-width field');
    this.pos += n;
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wireType: number } {
    const t = this.varint();
    const field = Math.floor(t / 8);
    if (field === 0 || !Number.isFinite(field)) throw new MalformedProtobuf('invalid field number');
    return { field, wireType: t % 8 };
  }
}

function expectWire(actual: number, expected: number): void {
  if (actual !== expected) throw new MalformedProtobuf(`wire type ${actual} where ${expected} was expected`);
}

function decodeAggregatedRecord(message: Buffer): AggregatedUserRecord[] {
  const r = new Reader(message);
  const partitionKeys: string[] = [];
  const explicitHashKeys: string[] = [];
  const records: Array<{ pk: number; ehk: number | undefined; data: Buffer }> = [];
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      expectWire(wireType, WIRE_LEN);
      partitionKeys.push(r.bytes().toString('utf8'));
    } else if (field === 2) {
      expectWire(wireType, WIRE_LEN);
      explicitHashKeys.push(r.bytes().toString('utf8'));
    } else if (field === 3) {
      expectWire(wireType, WIRE_LEN);
      records.push(decodeRecord(r.bytes()));
    } else {
      r.skip(wireType);
    }
  }
  return records.map((rec) => {
    const partitionKey = partitionKeys[rec.pk];
    if (partitionKey === undefined) throw new MalformedProtobuf(`partition_key_index ${rec.pk} outside the table`);
    let explicitHashKey: string | undefined;
    if (rec.ehk !== undefined) {
      explicitHashKey = explicitHashKeys[rec.ehk];
      if (explicitHashKey === undefined) throw new MalformedProtobuf(`explicit_hash_key_index ${rec.ehk} outside the table`);
    }
    return { partitionKey, explicitHashKey, data: rec.data };
  });
}

function decodeRecord(message: Buffer): { pk: number; ehk: number | undefined; data: Buffer } {
  const r = new Reader(message);
  let pk: number | undefined;
  let ehk: number | undefined;
  let data: Buffer | undefined;
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      expectWire(wireType, WIRE_VARINT);
      pk = r.varint();
    } else if (field === 2) {
      expectWire(wireType, WIRE_VARINT);
      ehk = r.varint();
    } else if (field === 3) {
      expectWire(wireType, WIRE_LEN);
      data = r.bytes();
    } else {
      r.skip(wireType); // tags (4) and anything newer
    }
  }
  // proto2 `required`: a message without them does not parse.
  if (pk === undefined || data === undefined) throw new MalformedProtobuf('Record without partition_key_index or data');
  return { pk, ehk, data };
}
