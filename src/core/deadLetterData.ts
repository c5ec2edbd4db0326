/**
 * The per-letter byte bound every dead-letter sink applies: a record's data is stored whole up to
 * a cap, and past it cut to a prefix with what is needed to find and check the full record again
 * (its size and SHA-256; the shard, sequence and subsequence numbers are in the letter already).
 */
import { createHash } from 'node:crypto';
import type { KinesisRecord } from './types.js';

/**
 * The default cap on the data a dead letter keeps, in bytes of the record (64 KiB): a record up
 * to this size is stored whole.
 */
export const DEFAULT_DEAD_LETTER_MAX_DATA_BYTES = 64 * 1024;

/**
 * A record's data as a dead letter keeps it. `truncated: false`: `data` is the record's base64 as
 * received, untouched. `truncated: true`: `data` is the base64 of the first `maxDataBytes` bytes,
 * `dataBytes` the record's full size and `dataSha256` the SHA-256 (hex) of its full bytes.
 */
export type DeadLetterData = { truncated: false; data: string } | { truncated: true; data: string; dataBytes: number; dataSha256: string };

/**
 * Checks a `maxDataBytes` option: a non-negative safe integer. Throws a TypeError naming `option`.
 */
export function checkMaxDataBytes(value: unknown, option: string): number {
  if (!(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) {
    throw new TypeError(`Expected \`${option}\` to be a non-negative integer (bytes), got ${String(value)}.`);
  }
  return value;
}

/**
 * The data a dead letter of `record` keeps under a cap of `maxDataBytes` bytes. A record of at most
 * that many bytes comes back as it is (its base64 string, not re-encoded); a larger one is cut,
 * with its full size and SHA-256. Costs nothing for a small record (decided on the base64 length).
 */
export function capDeadLetterData(record: KinesisRecord, maxDataBytes: number): DeadLetterData {
  const data = record.data;
  // n base64 characters decode to at most 3n/4 bytes: below that, no need to look.
  if (Math.floor((data.length * 3) / 4) <= maxDataBytes) return { truncated: false, data };
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length <= maxDataBytes) {
    // Decodes (leniently) to few bytes but is long: not base64 (the daemon and Lambda always send
    // base64; a hand-made or corrupted line need not). Its characters are then the record, and
    // they are bounded like any record's bytes, or garbage would slip past the cap.
    if (data.length <= Math.ceil(maxDataBytes / 3) * 4 + 4) return { truncated: false, data };
    const raw = Buffer.from(data, 'utf8');
    return { truncated: true, data: raw.subarray(0, maxDataBytes).toString('base64'), dataBytes: raw.length, dataSha256: createHash('sha256').update(raw).digest('hex') };
  }
  return {
    truncated: true,
    data: bytes.subarray(0, maxDataBytes).toString('base64'),
    dataBytes: bytes.length,
    dataSha256: createHash('sha256').update(bytes).digest('hex'),
  };
}
