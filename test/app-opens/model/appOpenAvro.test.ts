import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import { DecodeError, ValidationError } from '../../../src/core/errors.js';
import {
  APP_OPEN_SCHEMA_V1,
  APP_OPEN_V1_FINGERPRINT,
  appOpenDecoder,
  fromAvro,
  knownAppOpenFingerprints,
  registerAppOpenSchema,
  toAvro,
} from '../../../src/app-opens/model/index.js';
import type { AppOpen } from '../../../src/app-opens/model/index.js';
import type { KinesisRecord } from '../../../src/core/types.js';
import { fingerprintOf, formatFingerprint, parseSchema } from '../../../src/avro/schemaFingerprint.js';

const NOW = Math.floor(Date.now() / 1000);

function appOpen(overrides: Partial<AppOpen> = {}): AppOpen {
  return { timestamp: NOW - 60, userId: 42n, platform: 'ios', appVersion: '7.1.0', deviceId: 'd-1', ...overrides };
}

/** Plain binary v1 (no header), written by avsc's own default types, independent of our code. */
const plainV1Type = avro.Type.forSchema(APP_OPEN_SCHEMA_V1 as avro.Schema);
function plainV1(event: { timestamp: number; userId: number; platform: string; appVersion: string | null; deviceId: string | null }): Buffer {
  return plainV1Type.toBuffer(event);
}

function singleObject(fingerprint: bigint, body: Buffer): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0xc3;
  header[1] = 0x01;
  header.writeBigUInt64LE(fingerprint, 2);
  return Buffer.concat([header, body]);
}

function assertDecodeError(bytes: Uint8Array, message: RegExp): void {
  assert.throws(
    () => fromAvro(bytes),
    (err: unknown) => {
      assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
      assert.equal(err.name, 'DecodeError');
      assert.match(err.message, message);
      return true;
    },
  );
}

const RECORD: KinesisRecord = { data: '', partitionKey: 'k', sequenceNumber: '1', subSequenceNumber: 0, approximateArrivalTimestamp: null };

void test('toAvro writes single-object encoding: C3 01, the v1 fingerprint little-endian, the v1 body', () => {
  const event = appOpen();
  const bytes = toAvro(event);
  assert.equal(bytes.subarray(0, 2).toString('hex'), 'c301');
  assert.equal(bytes.readBigUInt64LE(2), APP_OPEN_V1_FINGERPRINT);
  assert.equal(bytes.readBigUInt64LE(2), fingerprintOf(APP_OPEN_SCHEMA_V1));
  // The body is what a plain Avro writer produces for the same values.
  assert.deepEqual(bytes.subarray(10), plainV1({ ...event, userId: 42 }));
});

void test('round trip, with and without the optional fields', () => {
  for (const event of [appOpen(), appOpen({ appVersion: null, deviceId: null }), appOpen({ appVersion: '', deviceId: 'ü😀' })]) {
    assert.deepEqual(fromAvro(toAvro(event)), event);
  }
});

void test('toAvro writes undefined optional fields as null', () => {
  const event = { timestamp: NOW, userId: 1n, platform: 'ios' } as AppOpen;
  assert.deepEqual(fromAvro(toAvro(event)), { ...event, appVersion: null, deviceId: null });
});

void test('int64 values are exact: userId 2^53+1, the int64 extremes, and large timestamps', () => {
  for (const userId of [2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 62n + 12345n, 9007199254740993n]) {
    const decoded = fromAvro(toAvro(appOpen({ userId })));
    assert.equal(decoded.userId, userId);
    assert.equal(typeof decoded.userId, 'bigint');
  }
  const maxSafe = Number.MAX_SAFE_INTEGER;
  assert.equal(fromAvro(toAvro(appOpen({ timestamp: maxSafe }))).timestamp, maxSafe);
  assert.equal(fromAvro(toAvro(appOpen({ timestamp: -maxSafe }))).timestamp, -maxSafe);
});

void test('a timestamp outside the safe integer range is a DecodeError naming timestamp, never rounded', () => {
  const wide = avro.Type.forSchema(APP_OPEN_SCHEMA_V1 as avro.Schema, {
    registry: {
      long: avro.types.LongType.__with({
        fromBuffer: (b: Buffer) => b.readBigInt64LE(),
        toBuffer: (v: bigint) => {
          const b = Buffer.alloc(8);
          b.writeBigInt64LE(v);
          return b;
        },
        fromJSON: BigInt,
        toJSON: Number,
        isValid: (v: unknown) => typeof v === 'bigint',
        compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
      }),
    },
  });
  for (const timestamp of [2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), 2n ** 63n - 1n]) {
    const body = wide.toBuffer({ timestamp, userId: 1n, platform: 'ios', appVersion: null, deviceId: null });
    assertDecodeError(singleObject(APP_OPEN_V1_FINGERPRINT, body), new RegExp(`^timestamp ${timestamp} is outside`));
    assertDecodeError(body, /^timestamp .* is outside/);
  }
});

void test('toAvro refuses values it cannot encode, naming the field', () => {
  const cases: Array<[Partial<AppOpen>, string]> = [
    [{ timestamp: 1.5 }, 'timestamp'],
    [{ timestamp: 2 ** 53 }, 'timestamp'],
    [{ userId: 2n ** 63n }, 'userId'],
    [{ userId: 5 as unknown as bigint }, 'userId'],
    [{ platform: null as unknown as string }, 'platform'],
    [{ deviceId: 3 as unknown as string }, 'deviceId'],
    [{ appVersion: 'x\uD800' }, 'appVersion'],
    [{ deviceId: '\uDC00y' }, 'deviceId'],
    [{ platform: '\uDFFF\uD800' }, 'platform'],
  ];
  for (const [overrides, field] of cases) {
    assert.throws(() => toAvro(appOpen(overrides)), (err: unknown) => err instanceof ValidationError && err.field === field);
  }
  // It does not apply the model's rules: invalid events can be encoded (for tests, dead-letter replays).
  assert.equal(fromAvro(toAvro(appOpen({ userId: 0n, platform: 'BAD' }))).platform, 'BAD');
});

void test('plain binary v1 (older producers) decodes', () => {
  const body = plainV1({ timestamp: NOW, userId: 77, platform: 'android', appVersion: null, deviceId: 'x' });
  assert.notEqual(body[0], 0xc3);
  assert.deepEqual(fromAvro(body), { timestamp: NOW, userId: 77n, platform: 'android', appVersion: null, deviceId: 'x' });
  // A Uint8Array that is a window on a larger buffer works too.
  const padded = new Uint8Array(body.length + 7);
  padded.set(body, 3);
  assert.deepEqual(fromAvro(padded.subarray(3, 3 + body.length)).platform, 'android');
});

void test('bytes starting with C3 01 are always single-object: a plain v1 body with timestamp -98 is an unknown fingerprint', () => {
  // zigzag(-98) = 195 = varint C3 01: the only plain v1 bodies that start like a header.
  const body = plainV1({ timestamp: -98, userId: 1, platform: 'ios', appVersion: null, deviceId: null });
  assert.equal(body.subarray(0, 2).toString('hex'), 'c301');
  const padded = Buffer.concat([body, Buffer.alloc(10)]); // long enough to hold a header
  const fingerprint = padded.readBigUInt64LE(2);
  assertDecodeError(padded, new RegExp(`unknown AppOpen schema fingerprint ${formatFingerprint(fingerprint)}`));
  // Such a record could never pass validation (timestamp > 0), so nothing valid is lost.
});

void test('an unknown fingerprint is a DecodeError naming it in hex', () => {
  const fingerprint = 0x0123456789abcdefn;
  const bytes = singleObject(fingerprint, toAvro(appOpen()).subarray(10));
  assertDecodeError(bytes, /unknown AppOpen schema fingerprint 0x0123456789abcdef \(header bytes c301efcdab8967452301\)/);
  assertDecodeError(bytes, new RegExp(`known: ${formatFingerprint(APP_OPEN_V1_FINGERPRINT)}`));
});

void test('empty, garbage, truncated and trailing bytes are DecodeErrors', () => {
  const good = toAvro(appOpen());
  assertDecodeError(Buffer.alloc(0), /^empty record/);
  assertDecodeError(new Uint8Array(0), /^empty record/);
  for (const notBytes of [null, undefined, 'c301', 42, [0xc3, 0x01]]) {
    assertDecodeError(notBytes as unknown as Uint8Array, /expected the record's bytes/);
  }
  assertDecodeError(Buffer.from([0xc3]), /truncated/); // a lone C3 is a truncated varint
  assertDecodeError(Buffer.from([0xc3, 0x01]), /truncated single-object header/);
  assertDecodeError(good.subarray(0, 9), /truncated single-object header/);
  for (let end = 10; end < good.length; end++) assertDecodeError(good.subarray(0, end), /truncated/);
  assertDecodeError(Buffer.concat([good, Buffer.from([0])]), /trailing bytes .*1 of/);
  assertDecodeError(Buffer.from('{"userId":1,"platform":"ios"}'), /./);
  assertDecodeError(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /invalid|truncated/);
  // Union index 7 where ["null","string"] has two branches.
  const badUnion = plainV1({ timestamp: NOW, userId: 1, platform: 'ios', appVersion: null, deviceId: null });
  for (const index of [2, 7, -1]) {
    badUnion[badUnion.length - 2] = index < 0 ? 1 : index * 2; // zigzag
    assertDecodeError(badUnion, /invalid .*union index/);
  }
  // A string length beyond the buffer, and a negative one.
  assertDecodeError(Buffer.from([0x02, 0x02, 0x40]), /truncated/);
  assertDecodeError(Buffer.from([0x02, 0x02, 0x03]), /truncated|invalid/);
});

void test('strings must be valid UTF-8; a real U+FFFD character is fine', () => {
  const body = plainV1({ timestamp: NOW, userId: 1, platform: 'ios', appVersion: 'ab', deviceId: null });
  const at = body.indexOf('ab');
  body[at] = 0xff; // not a UTF-8 byte
  assertDecodeError(body, /invalid UTF-8/);
  body[at] = 0xc3; // a lead byte followed by 'b': an incomplete sequence
  assertDecodeError(body, /invalid UTF-8/);
  const event = appOpen({ appVersion: 'x\uFFFDy\uD83D\uDE00', deviceId: '\uFFFD' });
  assert.deepEqual(fromAvro(toAvro(event)), event);
});

void test('a long varint longer than 10 bytes is a DecodeError, not a silently wrapped value', () => {
  const overlong = Buffer.from([0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x06, ...Buffer.from('ios'), 0, 0]);
  assertDecodeError(overlong, /long varint longer than 10 bytes/);
  const wide = Buffer.from([0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x06, ...Buffer.from('ios'), 0, 0]);
  assertDecodeError(wide, /long varint exceeds 64 bits/);
  // Both through the avsc path too (schema versions other than v1 use it).
  assertDecodeError(Buffer.concat([Buffer.from([0xc3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]), overlong]), /unknown/);
  // Non-minimal encodings are accepted, as Java and avsc do: 1 written in 3 bytes.
  const padded = Buffer.from([0x82, 0x80, 0x00, 0x02, 0x06, ...Buffer.from('ios'), 0, 0]);
  assert.deepEqual(fromAvro(padded), { timestamp: 1, userId: 1n, platform: 'ios', appVersion: null, deviceId: null });
  const padded10 = Buffer.from([0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x02, 0x06, ...Buffer.from('ios'), 0, 0]);
  assert.equal(fromAvro(padded10).timestamp, 1);
});

void test('a v2 writer (an added field with a default, a removed default) resolves to v1', () => {
  const v1 = APP_OPEN_SCHEMA_V1 as { fields: object[] };
  const v2Schema = {
    type: 'record',
    name: 'AppOpen',
    namespace: 'com.timehop.streams',
    fields: [
      { name: 'timestamp', type: 'long' },
      { name: 'country', type: 'string', default: '' },
      { name: 'userId', type: 'long' },
      { name: 'platform', type: 'string' },
      { name: 'sessionMillis', type: ['null', 'long'], default: null },
      { name: 'deviceId', type: ['null', 'string'], default: null },
    ], // appVersion dropped: the reader's default (null) applies
  };
  assert.equal(v1.fields.length, 5);
  const v2Type = avro.Type.forSchema(v2Schema as avro.Schema);
  const v2Fingerprint = fingerprintOf(v2Schema);
  const body = v2Type.toBuffer({ timestamp: NOW, country: 'NL', userId: 9, platform: 'ios', sessionMillis: 1234, deviceId: 'dev' });
  const bytes = singleObject(v2Fingerprint, body);

  assertDecodeError(bytes, new RegExp(`unknown AppOpen schema fingerprint ${formatFingerprint(v2Fingerprint)}`));
  assert.equal(registerAppOpenSchema(v2Schema), v2Fingerprint);
  assert.equal(registerAppOpenSchema(JSON.stringify(v2Schema)), v2Fingerprint, 'registering twice (as text) is harmless');
  assert.equal(registerAppOpenSchema(APP_OPEN_SCHEMA_V1), APP_OPEN_V1_FINGERPRINT, 'v1 is always known');
  assert.deepEqual(knownAppOpenFingerprints(), [APP_OPEN_V1_FINGERPRINT, v2Fingerprint]);

  assert.deepEqual(fromAvro(bytes), { timestamp: NOW, userId: 9n, platform: 'ios', appVersion: null, deviceId: 'dev' });
  assertDecodeError(bytes.subarray(0, bytes.length - 1), /truncated/);
  assertDecodeError(Buffer.concat([bytes, Buffer.from([1])]), /trailing/);
  // Exact int64 through the resolver too (v2 written with an exact-long avsc type).
  const exactV2 = parseSchema(v2Schema);
  const bigBody = exactV2.toBuffer({ timestamp: NOW, country: '', userId: 2n ** 53n + 1n, platform: 'web', sessionMillis: null, deviceId: null });
  assert.equal(fromAvro(singleObject(v2Fingerprint, bigBody)).userId, 2n ** 53n + 1n);
  const hugeTs = exactV2.toBuffer({ timestamp: 2n ** 60n, country: '', userId: 1n, platform: 'web', sessionMillis: null, deviceId: null });
  assertDecodeError(singleObject(v2Fingerprint, hugeTs), /^timestamp 1152921504606846976 is outside/);
    // Strings stay strict through the resolver.
  const bad = Buffer.from(bytes);
  bad[bad.indexOf('NL')] = 0xfe; // a field v1 skips: skipping does not look at the bytes
  assert.equal(fromAvro(bad).platform, 'ios');
  bad[bad.indexOf('ios')] = 0xfe; // a field v1 reads
  assertDecodeError(bad, /invalid UTF-8/);
  // v1 records still decode.
  assert.deepEqual(fromAvro(toAvro(appOpen())), appOpen());
});

void test('a schema that cannot resolve to v1 is refused at registration', () => {
  const noDefault = {
    type: 'record',
    name: 'AppOpen',
    namespace: 'com.timehop.streams',
    fields: [
      { name: 'timestamp', type: 'long' },
      { name: 'platform', type: 'string' },
    ], // userId missing and v1 has no default for it
  };
  assert.throws(() => registerAppOpenSchema(noDefault), (err: unknown) => err instanceof TypeError && /cannot register AppOpen schema/.test(err.message));
  assert.throws(() => registerAppOpenSchema('{not json'), TypeError);
  assert.throws(() => registerAppOpenSchema({ type: 'record', name: 'Other', fields: [] }), TypeError);
});

void test('appOpenDecoder decodes then validates', () => {
  const event = appOpen();
  assert.deepEqual(appOpenDecoder(toAvro(event), RECORD), event);
  assert.throws(() => appOpenDecoder(toAvro(appOpen({ platform: 'iOS' })), RECORD), (err: unknown) => err instanceof ValidationError && err.field === 'platform');
  assert.throws(() => appOpenDecoder(toAvro(appOpen({ userId: 0n })), RECORD), (err: unknown) => err instanceof ValidationError && err.field === 'userId');
  assert.throws(() => appOpenDecoder(toAvro(appOpen({ timestamp: NOW + 3 * 86400 })), RECORD), (err: unknown) => err instanceof ValidationError && err.field === 'timestamp');
  assert.throws(() => appOpenDecoder(Buffer.alloc(0), RECORD), DecodeError);
});
