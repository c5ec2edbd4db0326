/**
 * The benchmark's input: realistic AppOpen records in processRecords batches, built (and
 * serialized as protocol lines) before any clock starts. Deterministic for a given seed.
 */
import { toAvro, type AppOpen } from '../src/app-opens/model/index.js';
import { TestDaemon, makeRecords, type PreparedProcessRecords } from '../src/testing/index.js';
import { rng } from '../test/helpers/prng.js';

/** What to build. */
export interface BenchDataOptions {
  /** Records in all. */
  records: number;
  /** Records per processRecords batch (a shard's GetRecords maximum is 10,000). */
  batchSize: number;
  /** userIds are drawn from 1..idSpace. */
  idSpace: number;
  seed?: number;
  /**
   * Each record's partition key: `second` (default), the second of the minute of the event's
   * timestamp, as the talk's API sets it (60 keys, so a single processor has at most 60 records
   * in flight); `userId`, the event's user.
   */
  partitionKey?: 'second' | 'userId';
}

/** The prepared input. */
export interface BenchData {
  batches: PreparedProcessRecords[];
  /** Every processRecords line, for the in-process decode bound. */
  lines: string[];
  records: number;
  /** Average size of one record's payload (Avro single-object bytes). */
  avgPayloadBytes: number;
  /** Size of one processRecords line, bytes. */
  avgLineBytes: number;
  /** Records sent as a plain v1 body (no single-object header), as older producers do. */
  rawV1Records: number;
  /** Distinct userIds in the input. */
  distinctUsers: number;
}

/** Share of records encoded as a plain v1 body (older producers); the rest is single-object. */
const RAW_V1_SHARE = 0.25;
/** Length of the single-object header (C3 01 + 8-byte fingerprint) that a plain v1 body lacks. */
const SINGLE_OBJECT_HEADER_BYTES = 10;


const PLATFORMS = ['ios', 'ios', 'ios', 'android', 'android', 'android', 'android', 'web', 'ipados', 'android_tv'];
const VERSIONS = ['7.12.0', '7.12.1', '7.13.0', '7.14.2', '8.0.0', '8.0.1', '6.9.15', '8.1.0-beta.3'];

function uuid(next: () => number): string {
  let hex = '';
  for (let i = 0; i < 32; i++) hex += Math.floor(next() * 16).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/**
 * Builds `records` AppOpen events: userIds uniform over the id space (a few past 2^53, as real
 * int64 ids can be), platforms and app versions weighted like a mobile app's, a device id on most
 * events and an app version on nearly all (so both optional fields occur present and absent),
 * timestamps spread over the last 30 days (so replays and out-of-order events occur); a quarter
 * encoded as a plain v1 body (older producers), the rest in single-object encoding. Partition
 * keys: see {@link BenchDataOptions.partitionKey}.
 *
 * @example
 * const data = buildBenchData({ records: 300_000, batchSize: 10_000, idSpace: 1_000_000 });
 */
export function buildBenchData(options: BenchDataOptions): BenchData {
  const next = rng(options.seed ?? 7);
  const now = Math.floor(Date.now() / 1000);
  const payloads: Buffer[] = new Array<Buffer>(options.records);
  const keys: string[] = new Array<string>(options.records);
  let payloadBytes = 0;
  let rawV1Records = 0;
  const users = new Set<bigint>();
  for (let i = 0; i < options.records; i++) {
    const big = next() < 0.001;
    const userId = big ? 2n ** 53n + BigInt(Math.floor(next() * options.idSpace)) : BigInt(1 + Math.floor(next() * options.idSpace));
    const event: AppOpen = {
      timestamp: now - Math.floor(next() * 30 * 86_400),
      userId,
      platform: PLATFORMS[Math.floor(next() * PLATFORMS.length)]!,
      appVersion: next() < 0.98 ? VERSIONS[Math.floor(next() * VERSIONS.length)]! : null,
      deviceId: next() < 0.9 ? uuid(next) : null,
    };
    const singleObject = toAvro(event);
    const raw = next() < RAW_V1_SHARE;
    const bytes = raw ? singleObject.subarray(SINGLE_OBJECT_HEADER_BYTES) : singleObject;
    if (raw) rawV1Records++;
    users.add(userId);
    payloads[i] = bytes;
    keys[i] = options.partitionKey === 'userId' ? userId.toString() : String(event.timestamp % 60);
    payloadBytes += bytes.length;
  }
  const batches: PreparedProcessRecords[] = [];
  for (let start = 0; start < options.records; start += options.batchSize) {
    const end = Math.min(options.records, start + options.batchSize);
    const records = makeRecords(payloads.slice(start, end), { start, partitionKey: (i) => keys[i]!, arrival: Date.now() - 3_600_000 });
    batches.push(TestDaemon.prepareProcessRecords(records, 3_600_000));
  }
  const lines = batches.map((b) => b.line);
  return {
    batches,
    lines,
    records: options.records,
    avgPayloadBytes: Math.round(payloadBytes / options.records),
    avgLineBytes: Math.round(lines.reduce((n, l) => n + l.length, 0) / lines.length),
    rawV1Records,
    distinctUsers: users.size,
  };
}
