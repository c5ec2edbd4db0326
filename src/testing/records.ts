/**
 * Small factories for protocol records, for tests and benchmarks.
 */
import type { KinesisRecord } from '../core/types.js';

const BASE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n;

/**
 * The i-th of a run of realistic, strictly increasing 56-digit sequence numbers.
 */
export function sequenceNumber(i: number | bigint, base: bigint = BASE): string {
  return (base + BigInt(i) * 1_000n).toString();
}

/**
 * Builds protocol records from payloads, with increasing sequence numbers starting at `start`.
 *
 * @example
 * const records = makeRecords([Buffer.from('a'), Buffer.from('b')], { partitionKey: 'user-1' });
 */
export function makeRecords(
  payloads: ReadonlyArray<Uint8Array | string>,
  options: { start?: number; partitionKey?: string | ((i: number) => string); arrival?: number } = {},
): KinesisRecord[] {
  const start = options.start ?? 0;
  return payloads.map((p, k) => {
    const i = start + k;
    const pk = options.partitionKey;
    return {
      data: (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)).toString('base64'),
      partitionKey: typeof pk === 'function' ? pk(i) : (pk ?? `pk-${i}`),
      sequenceNumber: sequenceNumber(i),
      subSequenceNumber: 0,
      approximateArrivalTimestamp: options.arrival ?? 1_700_000_000_000 + i,
    };
  });
}
