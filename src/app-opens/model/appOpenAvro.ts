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
import type { Resolver, Type } from 'avsc';
import { DecodeError, ValidationError } from '../../core/errors.js';
import type { Decoder } from '../../core/types.js';
import { APP_OPEN_SCHEMA_V1, validate } from './appOpen.js';
import type { AppOpen } from './appOpen.js';
import { decodeAppOpenV1Body, encodeAppOpenV1 } from './appOpenV1Body.js';
import { fingerprintOf, formatFingerprint, parseSchema } from '../../avro/schemaFingerprint.js';
import type { AvroSchema } from '../../avro/schemaFingerprint.js';
import { INT64_MAX, INT64_MIN, SAFE_MAX } from '../../avro/exactLong.js';
import { hasLoneSurrogate } from '../../avro/strictString.js';

const MAGIC_0 = 0xc3;
const MAGIC_1 = 0x01;
const HEADER_LENGTH = 10;
const SAFE_MIN = -SAFE_MAX;

/** The reader's type: every decoded AppOpen is shaped by v1. */
const readerType: Type = parseSchema(APP_OPEN_SCHEMA_V1);

/**
 * The CRC-64-AVRO fingerprint of {@link APP_OPEN_SCHEMA_V1} (unsigned; see `fingerprintOf`).
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

/**
 * A writer schema we can read, with its resolver to v1 built once (undefined for v1 itself, which
 * the direct decoder reads) and the name its records go by in error messages.
 */
interface WriterSchema {
  readonly resolver: Resolver | undefined;
  readonly description: string;
}

const writers = new Map<bigint, WriterSchema>([
  [APP_OPEN_V1_FINGERPRINT, { resolver: undefined, description: 'AppOpen v1 record' }],
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
 * const v1 = APP_OPEN_SCHEMA_V1 as { fields: object[] };
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
    writers.set(fingerprint, { resolver, description: `AppOpen record (schema ${formatFingerprint(fingerprint)})` });
  }
  return fingerprint;
}

/**
 * The fingerprints `fromAvro` accepts in single-object encoding, v1 first.
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
  for (const field of ['platform', 'appVersion', 'deviceId'] as const) {
    const value: unknown = event[field];
    if (field !== 'platform' && (value === null || value === undefined)) continue;
    if (typeof value !== 'string') {
      const expected = field === 'platform' ? 'a string' : 'a string or null';
      throw new ValidationError(field, `${field} must be ${expected} to be encoded, got ${value === null ? 'null' : typeof value}`);
    }
    if (hasLoneSurrogate(value)) {
      throw new ValidationError(field, `${field} holds a lone UTF-16 surrogate, which has no UTF-8 encoding`);
    }
  }
}

/**
 * Encodes an event with schema v1 in Avro single-object encoding: `C3 01`, the 8-byte
 * little-endian CRC-64-AVRO fingerprint of v1's canonical form, then the binary body.
 *
 * It checks only that the event can be encoded (types, int64 range, strings without lone
 * surrogates; `undefined` optional fields are written as null) and otherwise throws a
 * ValidationError naming the field. It does not apply the model's rules (call `validate` for
 * those), so tests and replays can encode invalid events.
 *
 * @example
 * const bytes = toAvro({ timestamp: 1764000000, userId: 42n, platform: 'ios', appVersion: null, deviceId: null });
 * bytes.subarray(0, 2); // <Buffer c3 01>
 */
export function toAvro(event: AppOpen): Buffer {
  checkEncodable(event);
  return encodeAppOpenV1(
    {
      timestamp: event.timestamp,
      userId: event.userId,
      platform: event.platform,
      appVersion: event.appVersion ?? null,
      deviceId: event.deviceId ?? null,
    },
    V1_HEADER,
  );
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

/**
 * Decodes a body with avsc, resolving from the writer schema `resolver` was built for (v1 when
 * undefined). `fromAvro` uses it for every writer but v1, which has a direct decoder; tests use
 * it as the reference the direct decoder must agree with. Throws only DecodeError.
 */
export function decodeBodyWithAvsc(buf: Buffer, offset: number, resolver: Resolver | undefined, what: string): AppOpen {
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
  let buf: Buffer;
  if (Buffer.isBuffer(bytes)) buf = bytes;
  else if (bytes instanceof Uint8Array) buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  else throw new DecodeError(`expected the record's bytes (a Buffer or Uint8Array), got ${bytes === null ? 'null' : typeof bytes}`);
  if (buf.length === 0) throw new DecodeError('empty record: no bytes to decode as AppOpen');
  if (buf[0] === MAGIC_0 && buf[1] === MAGIC_1) {
    if (buf.length < HEADER_LENGTH) {
      throw new DecodeError(`truncated single-object header: ${buf.length} bytes, the header alone is ${HEADER_LENGTH}`);
    }
    if (isV1Header(buf)) return decodeAppOpenV1Body(buf, HEADER_LENGTH, 'AppOpen v1 record');
    const fingerprint = buf.readBigUInt64LE(2);
    const writer = writers.get(fingerprint);
    if (writer === undefined) {
      throw new DecodeError(
        `unknown AppOpen schema fingerprint ${formatFingerprint(fingerprint)} ` +
          `(header bytes ${buf.subarray(0, HEADER_LENGTH).toString('hex')}); known: ${knownAppOpenFingerprints().map(formatFingerprint).join(', ')}`,
      );
    }
    return decodeBodyWithAvsc(buf, HEADER_LENGTH, writer.resolver, writer.description);
  }
  return decodeAppOpenV1Body(buf, 0, 'plain AppOpen v1 record');
}

/**
 * The record decoder for AppOpen streams: `fromAvro` then `validate` against the system clock.
 * Throws DecodeError or ValidationError, which dead-letter the record.
 *
 * @example
 * await runWithSingleProcessor({ decoder: appOpenDecoder }, processor);
 */
export const appOpenDecoder: Decoder<AppOpen> = (data: Buffer): AppOpen => {
  const event = fromAvro(data);
  validate(event);
  return event;
};
