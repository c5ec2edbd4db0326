/**
 * AppOpen on the wire: Avro single-object encoding, known writer schemas, resolution to v1.
 *
 * Wire format (Avro specification, "Single-object encoding"):
 *   C3 01 | CRC-64-AVRO fingerprint of the writer schema's canonical form, 8 bytes little-endian
 *         | the Avro binary body written with that schema.
 * Older producers send the plain binary body written with v1 and no header.
 *
 * The rule that tells the two apart: bytes starting with C3 01 are always read as single-object.
 * A plain v1 body can start with C3 01 only when its timestamp is -98 (zigzag varint C3 01), which
 * `validate` rejects anyway, so no valid plain record is misread; and a damaged header is reported
 * as what it is (an unknown fingerprint) instead of as whatever the bytes happen to mean as a body.
 */
import { isUtf8 } from 'node:buffer';
import type { Resolver, Type } from 'avsc';
import { DecodeError, ValidationError } from '../core/errors.js';
import type { Decoder } from '../core/types.js';
import { APP_OPEN_SCHEMA_V1, validate } from './appOpen.js';
import type { AppOpen } from './appOpen.js';
import { canonicalFormOf, fingerprintOf, formatFingerprint, parseSchema } from './schemaFingerprint.js';
import type { AvroSchema } from './schemaFingerprint.js';

const MAGIC_0 = 0xc3;
const MAGIC_1 = 0x01;
const HEADER_LENGTH = 10;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const SAFE_MIN = -SAFE_MAX;

/** The reader's type: every decoded AppOpen is shaped by v1. */
const readerType: Type = parseSchema(APP_OPEN_SCHEMA_V1);

/**
 * The CRC-64-AVRO fingerprint of {@link APP_OPEN_SCHEMA_V1} (unsigned; see `fingerprintOf`).
 *
 * @example
 * formatFingerprint(APP_OPEN_V1_FINGERPRINT);
 */
export const APP_OPEN_V1_FINGERPRINT: bigint = fingerprintOf(readerType);

const V1_HEADER: Buffer = singleObjectHeader(APP_OPEN_V1_FINGERPRINT);

function singleObjectHeader(fingerprint: bigint): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header[0] = MAGIC_0;
  header[1] = MAGIC_1;
  header.writeBigUInt64LE(fingerprint, 2);
  return header;
}

/** A writer schema we can read, with its resolver to v1 cached (undefined for v1 itself). */
interface WriterSchema {
  readonly fingerprint: bigint;
  readonly canonicalForm: string;
  readonly resolver: Resolver | undefined;
}

const writers = new Map<bigint, WriterSchema>([
  [APP_OPEN_V1_FINGERPRINT, { fingerprint: APP_OPEN_V1_FINGERPRINT, canonicalForm: canonicalFormOf(readerType), resolver: undefined }],
]);

/**
 * Makes records written with another version of the AppOpen schema readable by `fromAvro`
 * (e.g. a v2 that adds a field with a default). Resolution to v1 follows Avro's rules: fields
 * v1 does not know are skipped, fields the writer lacks take v1's default. The resolver is
 * built once here, not per record. Registering the same schema twice is harmless.
 *
 * @returns the schema's CRC-64-AVRO fingerprint (unsigned `bigint`, as `fingerprintOf`).
 * @throws TypeError when the schema is not valid Avro or cannot be resolved to v1.
 * @example
 * const fp = registerAppOpenSchema({ ...v1, fields: [...v1.fields, { name: 'country', type: 'string', default: '' }] });
 */
export function registerAppOpenSchema(schema: AvroSchema): bigint {
  let writerType: Type;
  let resolver: Resolver;
  try {
    writerType = parseSchema(schema);
    resolver = readerType.createResolver(writerType);
  } catch (err) {
    throw new TypeError(`cannot register AppOpen schema: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const fingerprint = fingerprintOf(writerType);
  if (!writers.has(fingerprint)) {
    writers.set(fingerprint, { fingerprint, canonicalForm: canonicalFormOf(writerType), resolver });
  }
  return fingerprint;
}

/**
 * The fingerprints `fromAvro` accepts in single-object encoding, v1 first.
 *
 * @example
 * knownAppOpenFingerprints().map(formatFingerprint);
 */
export function knownAppOpenFingerprints(): bigint[] {
  return [...writers.keys()];
}

function checkEncodable(event: AppOpen): void {
  if (!Number.isSafeInteger(event.timestamp)) {
    throw new ValidationError('timestamp', `timestamp must be a safe integer to be encoded, got ${String(event.timestamp)}`);
  }
  if (typeof event.userId !== 'bigint' || event.userId < INT64_MIN || event.userId > INT64_MAX) {
    throw new ValidationError('userId', `userId must be a bigint in int64 range to be encoded, got ${String(event.userId)}`);
  }
  if (typeof event.platform !== 'string') {
    throw new ValidationError('platform', `platform must be a string to be encoded, got ${typeof event.platform}`);
  }
  for (const field of ['appVersion', 'deviceId'] as const) {
    const value: unknown = event[field];
    if (value !== null && value !== undefined && typeof value !== 'string') {
      throw new ValidationError(field, `${field} must be a string or null to be encoded, got ${typeof value}`);
    }
  }
}

/**
 * Encodes an event with schema v1 in Avro single-object encoding: `C3 01`, the 8-byte
 * little-endian CRC-64-AVRO fingerprint of v1's canonical form, then the binary body.
 *
 * It checks only that the event can be encoded (types and int64 range; `undefined` optional
 * fields are written as null) and throws ValidationError naming the field otherwise; it does not
 * apply the model's rules (call `validate` for those), so tests can encode invalid events.
 *
 * @example
 * const bytes = toAvro({ timestamp: 1764000000, userId: 42n, platform: 'ios', appVersion: null, deviceId: null });
 * bytes.subarray(0, 2); // <Buffer c3 01>
 */
export function toAvro(event: AppOpen): Buffer {
  checkEncodable(event);
  const body = readerType.toBuffer({
    timestamp: event.timestamp,
    userId: event.userId,
    platform: event.platform,
    appVersion: event.appVersion ?? null,
    deviceId: event.deviceId ?? null,
  });
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  V1_HEADER.copy(out, 0);
  body.copy(out, HEADER_LENGTH);
  return out;
}

function isV1Header(buf: Buffer): boolean {
  for (let i = 2; i < HEADER_LENGTH; i++) if (buf[i] !== V1_HEADER[i]) return false;
  return true;
}

interface DecodedRecord {
  timestamp: bigint;
  userId: bigint;
  platform: string;
  appVersion: string | null;
  deviceId: string | null;
}

function decodeBody(buf: Buffer, offset: number, resolver: Resolver | undefined, what: string): AppOpen {
  let result: { value: unknown; offset: number };
  try {
    result = readerType.decode(buf, offset, resolver);
  } catch (err) {
    throw new DecodeError(`invalid ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (result.offset < 0) throw new DecodeError(`truncated ${what}: ${buf.length} bytes end inside the record`);
  if (result.offset !== buf.length) {
    throw new DecodeError(`trailing bytes after ${what}: ${buf.length - result.offset} of ${buf.length} bytes unread`);
  }
  const record = result.value as DecodedRecord;
  const timestamp = record.timestamp;
  if (timestamp > SAFE_MAX || timestamp < SAFE_MIN) {
    throw new DecodeError(`timestamp ${timestamp} is outside the exact range of a JS number (|t| <= 2^53-1)`);
  }
  return {
    timestamp: Number(timestamp),
    userId: record.userId,
    platform: record.platform,
    appVersion: record.appVersion,
    deviceId: record.deviceId,
  };
}

/**
 * The v1 body read directly, without avsc's generic machinery (which allocates a Buffer per long
 * and goes through a resolver-capable reader): the hot path of every worker.
 *
 * It handles only the regular case and returns undefined for anything else: a varint longer than
 * 7 bytes (a long past 2^48; string lengths past 2 bytes), a negative or out-of-range string
 * length, a union index other than 0 or 1, invalid UTF-8, truncation, trailing bytes. The caller
 * then decodes the same bytes with avsc ({@link decodeBody}), which gives the exact value or the
 * exact DecodeError. So the result is always what the avsc path gives; the property test in
 * test/models/appOpenFastPath.test.ts checks that on generated and damaged records.
 */
function readV1Fast(buf: Buffer, offset: number): AppOpen | undefined {
  const end = buf.length;
  let pos = offset;

  // timestamp: zigzag varint, at most 7 bytes (49 bits, exact in a double and a safe integer).
  let n = 0;
  let scale = 1;
  let b: number;
  let count = 0;
  do {
    if (pos >= end || count === 7) return undefined;
    b = buf[pos++]!;
    n += (b & 0x7f) * scale;
    scale *= 128;
    count++;
  } while (b & 0x80);
  const timestamp = n % 2 === 1 ? -(n + 1) / 2 : n / 2;

  // userId: the same, as a bigint (decodeZigZagLong's arithmetic for varints of up to 7 bytes).
  n = 0;
  scale = 1;
  count = 0;
  do {
    if (pos >= end || count === 7) return undefined;
    b = buf[pos++]!;
    n += (b & 0x7f) * scale;
    scale *= 128;
    count++;
  } while (b & 0x80);
  const userId = BigInt(n % 2 === 1 ? -(n + 1) / 2 : n / 2);

  // platform: string.
  let len = stringLength(buf, pos, end);
  if (len < 0) return undefined;
  pos += len >= 64 ? 2 : 1;
  if (pos + len > end) return undefined;
  const platform = len <= INTERN_MAX_BYTES ? (internedAscii(buf, pos, pos + len) ?? utf8(buf, pos, pos + len)) : utf8(buf, pos, pos + len);
  if (platform === undefined) return undefined;
  pos += len;

  // appVersion, deviceId: ["null","string"], the branch index as a one-byte zigzag varint.
  let appVersion: string | null = null;
  if (pos >= end) return undefined;
  b = buf[pos++]!;
  if (b === 2) {
    len = stringLength(buf, pos, end);
    if (len < 0) return undefined;
    pos += len >= 64 ? 2 : 1;
    if (pos + len > end) return undefined;
    appVersion = (len <= INTERN_MAX_BYTES ? (internedAscii(buf, pos, pos + len) ?? utf8(buf, pos, pos + len)) : utf8(buf, pos, pos + len)) ?? null;
    if (appVersion === null) return undefined;
    pos += len;
  } else if (b !== 0) {
    return undefined;
  }
  let deviceId: string | null = null;
  if (pos >= end) return undefined;
  b = buf[pos++]!;
  if (b === 2) {
    len = stringLength(buf, pos, end);
    if (len < 0) return undefined;
    pos += len >= 64 ? 2 : 1;
    if (pos + len > end) return undefined;
    deviceId = utf8(buf, pos, pos + len) ?? null;
    if (deviceId === null) return undefined;
    pos += len;
  } else if (b !== 0) {
    return undefined;
  }
  if (pos !== end) return undefined;
  return { timestamp, userId, platform, appVersion, deviceId };
}

/**
 * A string length at `pos` written in its minimal form: one byte (0..63) or two bytes
 * (64..8191), non-negative. -1 for anything else (the caller falls back to avsc). Its encoded
 * size is therefore 1 byte for a length below 64 and 2 bytes otherwise.
 */
function stringLength(buf: Buffer, pos: number, end: number): number {
  if (pos >= end) return -1;
  const b0 = buf[pos]!;
  if ((b0 & 0x80) === 0) return (b0 & 1) === 1 ? -1 : b0 >> 1;
  if (pos + 1 >= end) return -1;
  const b1 = buf[pos + 1]!;
  if (b1 === 0 || (b1 & 0x80) !== 0) return -1; // not minimal, or longer than two bytes
  const z = (b0 & 0x7f) | (b1 << 7);
  return (z & 1) === 1 ? -1 : z >> 1;
}

/** Strings up to this many bytes (platforms, app versions) go through {@link internedAscii}. */
const INTERN_MAX_BYTES = 16;
const INTERN_SLOTS = 256;
/** A small direct-mapped cache of recent short ASCII strings, by a hash of their bytes. */
const internBytes: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(INTERN_SLOTS);
const internText: string[] = new Array<string>(INTERN_SLOTS);

/**
 * The text of buf[start, end) when those bytes are ASCII, else undefined (the caller decodes them
 * as UTF-8). Platforms and app versions repeat across records: the same string is returned from
 * a cache instead of a new one being decoded per record. ASCII decodes to the same text under
 * latin1 and UTF-8, and is always valid UTF-8.
 */
function internedAscii(buf: Buffer, start: number, end: number): string | undefined {
  let h = 0x811c9dc5 ^ (end - start);
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return undefined;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h ^ (h >>> 8) ^ (h >>> 16)) & (INTERN_SLOTS - 1);
  const bytes = internBytes[slot];
  if (bytes !== undefined && bytes.length === end - start) {
    let same = true;
    for (let k = 0; k < bytes.length; k++) {
      if (bytes[k] !== buf[start + k]) {
        same = false;
        break;
      }
    }
    if (same) return internText[slot];
  }
  const text = buf.toString('latin1', start, end);
  internBytes[slot] = Uint8Array.prototype.slice.call(buf, start, end);
  internText[slot] = text;
  return text;
}

/** UTF-8 text of buf[start, end), or undefined when the bytes are not valid UTF-8. */
function utf8(buf: Buffer, start: number, end: number): string | undefined {
  const text = buf.toString('utf8', start, end);
  if (text.includes('\uFFFD') && !isUtf8(buf.subarray(start, end))) return undefined;
  return text;
}

/**
 * The avsc path alone (no fast reader): {@link fromAvro}'s reference behaviour, kept for the
 * equivalence tests and benchmarks. Not part of the public API.
 */
export function fromAvroReference(bytes: Uint8Array): AppOpen {
  return fromAvroWith(bytes, false);
}

/**
 * Decodes an AppOpen from single-object encoding (any registered writer schema, resolved to v1)
 * or from a plain binary body written with v1. Bytes starting with `C3 01` are always taken as
 * single-object (see this module's header for why). The whole input must be one record.
 *
 * Throws only {@link DecodeError}: empty input, garbage, truncation, trailing bytes, an
 * unknown fingerprint (named in hex), a timestamp outside JS's safe integers. It does not
 * apply the model's rules: see `validate`, or `appOpenDecoder` for both.
 *
 * @example
 * fromAvro(toAvro(event)); // deep-equals event
 */
export function fromAvro(bytes: Uint8Array): AppOpen {
  return fromAvroWith(bytes, true);
}

function fromAvroWith(bytes: Uint8Array, fast: boolean): AppOpen {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length === 0) throw new DecodeError('empty record: no bytes to decode as AppOpen');
  if (buf[0] === MAGIC_0 && buf[1] === MAGIC_1) {
    if (buf.length < HEADER_LENGTH) {
      throw new DecodeError(`truncated single-object header: ${buf.length} bytes, the header alone is ${HEADER_LENGTH}`);
    }
    if (isV1Header(buf)) return (fast ? readV1Fast(buf, HEADER_LENGTH) : undefined) ?? decodeBody(buf, HEADER_LENGTH, undefined, 'AppOpen v1 record');
    const fingerprint = buf.readBigUInt64LE(2);
    const writer = writers.get(fingerprint);
    if (writer === undefined) {
      throw new DecodeError(
        `unknown AppOpen schema fingerprint ${formatFingerprint(fingerprint)} ` +
          `(header bytes ${buf.subarray(0, HEADER_LENGTH).toString('hex')}); known: ${knownAppOpenFingerprints().map(formatFingerprint).join(', ')}`,
      );
    }
    return decodeBody(buf, HEADER_LENGTH, writer.resolver, `AppOpen record (schema ${formatFingerprint(fingerprint)})`);
  }
  return (fast ? readV1Fast(buf, 0) : undefined) ?? decodeBody(buf, 0, undefined, 'plain AppOpen v1 record');
}

/**
 * The record decoder for AppOpen streams: `fromAvro` then `validate` against the system clock.
 * Throws DecodeError or ValidationError, which dead-letter the record.
 *
 * @example
 * runWithSingleProcessor({ decoder: appOpenDecoder, processor });
 */
export const appOpenDecoder: Decoder<AppOpen> = (data: Buffer): AppOpen => {
  const event = fromAvro(data);
  validate(event);
  return event;
};
