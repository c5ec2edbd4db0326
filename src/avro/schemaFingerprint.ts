/**
 * Avro schema parsing, Parsing Canonical Form and CRC-64-AVRO fingerprints.
 *
 * Every schema here is parsed with {@link exactLongType} for `long` and {@link strictStringType}
 * for `string`, so decoded int64s are exact `bigint`s and decoded strings are valid UTF-8.
 */
import avro from 'avsc';
import type { Type } from 'avsc';
import { crc64Avro } from './crc64Avro.js';
import { exactLongType } from './exactLong.js';
import { strictStringType } from './strictString.js';

/**
 * An Avro schema as JSON text or as its parsed JSON value.
 */
export type AvroSchema = object | string;

/**
 * Parses a schema into an avsc type whose longs are exact `bigint`s and whose strings are strict
 * UTF-8.
 * Unions are left unwrapped (`["null","string"]` reads as `null` or a string).
 */
export function parseSchema(schema: AvroSchema): Type {
  const value: unknown = typeof schema === 'string' ? JSON.parse(schema) : schema;
  // A fresh registry per call: avsc records the schema's named types in it.
  return avro.Type.forSchema(value as avro.Schema, { registry: { long: exactLongType, string: strictStringType }, wrapUnions: 'auto' });
}

/**
 * The schema's Parsing Canonical Form (Avro specification): full names, only the attributes that
 * matter for parsing, a fixed key order, no whitespace. avsc's `schema()` produces exactly this;
 * the tests check it against the specification's own vectors.
 */
export function canonicalFormOf(schema: AvroSchema | Type): string {
  const type = schema instanceof avro.Type ? schema : parseSchema(schema);
  return JSON.stringify(type.schema());
}

/**
 * The CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form, as an unsigned 64-bit
 * `bigint`. Single-object encoding writes it as 8 little-endian bytes after `C3 01`
 * (`buf.writeBigUInt64LE(fp, 2)`). Java's `SchemaNormalization.parsingFingerprint64` returns
 * the same 64 bits as a signed long (`BigInt.asIntN(64, fp)`).
 *
 * @example
 * fingerprintOf('"int"'); // 0x7275d51a3f395c8fn
 * fingerprintOf(APP_OPEN_SCHEMA_V1); // the v1 fingerprint
 */
export function fingerprintOf(schema: AvroSchema | Type): bigint {
  return crc64Avro(Buffer.from(canonicalFormOf(schema), 'utf8'));
}

/**
 * A fingerprint as it appears in messages: `0x` and 16 hex digits (the number, most significant
 * byte first; on the wire the bytes are little-endian, i.e. reversed).
 */
export function formatFingerprint(fingerprint: bigint): string {
  return `0x${fingerprint.toString(16).padStart(16, '0')}`;
}
