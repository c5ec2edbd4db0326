/**
 * An avsc `long` type that reads every Avro long as an exact `bigint`.
 *
 * avsc's default `long` is a JS number and refuses values past 2^53; this one decodes the
 * zigzag varint itself (avsc hands it the raw varint bytes: `noUnpack`), so nothing is ever
 * rounded. It also rejects malformed varints avsc would accept silently: more than 10 bytes, or
 * a 10th byte carrying bits beyond 64.
 *
 * Writing accepts a `bigint` in int64 range or a safe-integer `number`.
 */
import avro from 'avsc';
import type { Type } from 'avsc';

/**
 * The smallest Avro long (Java's `Long.MIN_VALUE`), -2^63.
 */
export const INT64_MIN = -(2n ** 63n);

/**
 * The largest Avro long (Java's `Long.MAX_VALUE`), 2^63 - 1.
 */
export const INT64_MAX = 2n ** 63n - 1n;

/**
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1) as a bigint: the largest long a JS number holds exactly.
 */
export const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

function isLong(value: unknown): value is bigint | number {
  if (typeof value === 'bigint') return value >= INT64_MIN && value <= INT64_MAX;
  return Number.isSafeInteger(value);
}

/** Decodes one zigzag varint occupying all of `bytes` (avsc has already found its end). */
function decodeZigZagLong(bytes: Uint8Array): bigint {
  const length = bytes.length;
  if (length === 0 || length > 10) throw new RangeError(`invalid long: a ${length}-byte varint`);
  if (length <= 7) {
    // At most 49 bits: exact in a double, no BigInt arithmetic needed.
    let n = 0;
    let scale = 1;
    for (let i = 0; i < length; i++) {
      n += ((bytes[i] as number) & 0x7f) * scale;
      scale *= 128;
    }
    return BigInt(n % 2 === 1 ? -(n + 1) / 2 : n / 2);
  }
  if (length === 10 && (bytes[9] as number) > 1) throw new RangeError('invalid long: varint exceeds 64 bits');
  let u = 0n;
  for (let i = 0; i < length; i++) u |= BigInt((bytes[i] as number) & 0x7f) << BigInt(7 * i);
  return (u >> 1n) ^ -(u & 1n);
}

/** Encodes an int64 as a zigzag varint. */
function encodeZigZagLong(value: bigint | number): Buffer {
  const v = BigInt(value);
  let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (u > 0x7fn) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return Buffer.from(out);
}

function fromJson(value: unknown): bigint {
  if (typeof value === 'bigint' && isLong(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) {
    const v = BigInt(value);
    if (isLong(v)) return v;
  }
  throw new TypeError(`not an Avro long: ${String(value)}`);
}

/**
 * The shared exact-long type. Types are immutable in avsc, so one instance serves every schema;
 * pass it as `registry: { long: exactLongType }` to `Type.forSchema`.
 */
export const exactLongType: Type = avro.types.LongType.__with(
  {
    fromBuffer: (buf: Buffer): bigint => decodeZigZagLong(buf),
    toBuffer: (value: bigint | number): Buffer => encodeZigZagLong(value),
    fromJSON: fromJson,
    toJSON: (value: bigint | number): number | string => {
      const v = BigInt(value);
      return v <= SAFE_MAX && v >= -SAFE_MAX ? Number(v) : v.toString();
    },
    isValid: isLong,
    compare: (a: bigint | number, b: bigint | number): number => {
      const x = BigInt(a);
      const y = BigInt(b);
      return x < y ? -1 : x > y ? 1 : 0;
    },
  },
  true,
);
