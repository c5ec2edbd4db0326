/**
 * A tiny KPL aggregate encoder for tests: magic F3 89 9A C2, a protobuf AggregatedRecord, and the
 * MD5 of the protobuf (https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md).
 * Written from the format, independently of src/lambda/deaggregate.ts, so a test of one checks the other.
 *
 * @example
 * const bytes = kplAggregate([{ partitionKey: 'user-1', data: toAvro(event) }]);
 */
import { createHash } from 'node:crypto';

export interface UserRecordInput {
  partitionKey: string;
  data: Uint8Array;
  explicitHashKey?: string;
}

const MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

const key = (field: number, wire: number): Buffer => varint(field * 8 + wire);
const lenField = (field: number, bytes: Uint8Array): Buffer => Buffer.concat([key(field, 2), varint(bytes.length), bytes]);
const varintField = (field: number, n: number): Buffer => Buffer.concat([key(field, 0), varint(n)]);

/** The protobuf AggregatedRecord alone (no magic, no MD5). Partition keys are de-duplicated into the table. */
export function aggregatedRecordProtobuf(records: readonly UserRecordInput[]): Buffer {
  const pks: string[] = [];
  const ehks: string[] = [];
  const parts: Buffer[] = [];
  const recordParts: Buffer[] = [];
  for (const r of records) {
    let pk = pks.indexOf(r.partitionKey);
    if (pk < 0) pk = pks.push(r.partitionKey) - 1;
    const fields = [varintField(1, pk)];
    if (r.explicitHashKey !== undefined) {
      let ehk = ehks.indexOf(r.explicitHashKey);
      if (ehk < 0) ehk = ehks.push(r.explicitHashKey) - 1;
      fields.push(varintField(2, ehk));
    }
    fields.push(lenField(3, r.data));
    recordParts.push(lenField(3, Buffer.concat(fields)));
  }
  for (const pk of pks) parts.push(lenField(1, Buffer.from(pk, 'utf8')));
  for (const ehk of ehks) parts.push(lenField(2, Buffer.from(ehk, 'utf8')));
  return Buffer.concat([...parts, ...recordParts]);
}

/** Wraps protobuf bytes as the KPL does: magic + protobuf + MD5(protobuf). `badDigest` flips the MD5's first byte. */
export function kplFrame(protobuf: Uint8Array, options: { badDigest?: boolean } = {}): Buffer {
  const digest = createHash('md5').update(protobuf).digest();
  if (options.badDigest) digest[0] = digest[0]! ^ 0xff;
  return Buffer.concat([MAGIC, protobuf, digest]);
}

/** A complete KPL aggregate of `records`. */
export function kplAggregate(records: readonly UserRecordInput[], options: { badDigest?: boolean } = {}): Buffer {
  return kplFrame(aggregatedRecordProtobuf(records), options);
}
