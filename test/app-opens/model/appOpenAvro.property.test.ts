import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../../src/core/errors.js';
import { decodeBodyWithAvsc } from '../../../src/app-opens/model/appOpenAvro.js';
import { decodeAppOpenV1Body, encodeAppOpenV1 } from '../../../src/app-opens/model/appOpenV1Body.js';
import { parseSchema } from '../../../src/avro/schemaFingerprint.js';
import { APP_OPEN_SCHEMA_V1, APP_OPEN_V1_FINGERPRINT, appOpenDecoder, fromAvro, registerAppOpenSchema, toAvro, validate } from '../../../src/app-opens/model/index.js';
import type { AppOpen } from '../../../src/app-opens/model/index.js';
import type { KinesisRecord } from '../../../src/core/types.js';

const NOW = Math.floor(Date.now() / 1000);
const RECORD: KinesisRecord = { data: '', partitionKey: 'k', sequenceNumber: '1', subSequenceNumber: 0, approximateArrivalTimestamp: null };

const V2_FINGERPRINT = registerAppOpenSchema({
  type: 'record',
  name: 'AppOpen',
  namespace: 'com.timehop.streams',
  fields: [
    { name: 'timestamp', type: 'long' },
    { name: 'userId', type: 'long' },
    { name: 'platform', type: 'string' },
    { name: 'appVersion', type: ['null', 'string'], default: null },
    { name: 'deviceId', type: ['null', 'string'], default: null },
    { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
  ],
});

function header(fingerprint: bigint): Uint8Array {
  const buf = Buffer.alloc(10);
  buf[0] = 0xc3;
  buf[1] = 0x01;
  buf.writeBigUInt64LE(fingerprint, 2);
  return buf;
}

/** The property: fromAvro returns a well-formed AppOpen or throws DecodeError, nothing else. */
function decodesOrDecodeError(bytes: Uint8Array): void {
  let event: AppOpen;
  try {
    event = fromAvro(bytes);
  } catch (err) {
    assert.ok(err instanceof DecodeError, `fromAvro threw ${String(err)} for ${Buffer.from(bytes).toString('hex')}`);
    assert.ok(err.message.length > 0);
    return;
  }
  assert.ok(Number.isSafeInteger(event.timestamp));
  assert.equal(typeof event.userId, 'bigint');
  assert.ok(event.userId >= -(2n ** 63n) && event.userId < 2n ** 63n);
  assert.equal(typeof event.platform, 'string');
  assert.ok(event.appVersion === null || typeof event.appVersion === 'string');
  assert.ok(event.deviceId === null || typeof event.deviceId === 'string');
  // Whatever decodes, re-encodes to an equal event (nothing was rounded or replaced).
  assert.deepEqual(fromAvro(toAvro(event)), event);
}

const optionalText = fc.option(fc.string({ unit: 'binary', maxLength: 40 }), { nil: null });
const validEvent: fc.Arbitrary<AppOpen> = fc.record({
  timestamp: fc.integer({ min: 1, max: NOW + 24 * 3600 }),
  userId: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
  platform: fc.stringMatching(/^[a-z][a-z0-9_]{0,31}$/),
  appVersion: optionalText,
  deviceId: optionalText,
});

void test('fromAvro on arbitrary bytes returns an AppOpen or throws DecodeError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodesOrDecodeError), { numRuns: 3000 });
});

void test('fromAvro on arbitrary bodies behind a known header returns an AppOpen or throws DecodeError', () => {
  const prefix = fc.constantFrom(header(APP_OPEN_V1_FINGERPRINT), header(V2_FINGERPRINT), new Uint8Array(0));
  fc.assert(
    fc.property(prefix, fc.uint8Array({ maxLength: 64 }), (head, body) => decodesOrDecodeError(Buffer.concat([head, body]))),
    { numRuns: 3000 },
  );
});

void test('fromAvro on mutated valid encodings returns an AppOpen or throws DecodeError', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('xor' as const), at: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), byte: fc.constant(0) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), byte: fc.constant(0) }),
  );
  fc.assert(
    fc.property(validEvent, fc.array(mutation, { minLength: 1, maxLength: 4 }), (event, mutations) => {
      let bytes = Array.from(toAvro(event));
      for (const m of mutations) {
        const at = m.at % (bytes.length + 1);
        if (m.kind === 'set' && at < bytes.length) bytes[at] = m.byte;
        else if (m.kind === 'xor' && at < bytes.length) bytes[at] = (bytes[at] as number) ^ m.byte;
        else if (m.kind === 'cut') bytes = bytes.slice(0, at);
        else if (m.kind === 'insert') bytes.splice(at, 0, m.byte);
        else if (m.kind === 'delete') bytes.splice(at, 1);
      }
      decodesOrDecodeError(Uint8Array.from(bytes));
    }),
    { numRuns: 3000 },
  );
});

void test('valid events always round-trip exactly and pass validation after decoding', () => {
  fc.assert(
    fc.property(validEvent, (generated) => {
      const event = { ...generated }; // fast-check's records have a null prototype
      validate(event, NOW);
      const bytes = toAvro(event);
      assert.deepEqual(fromAvro(bytes), event);
      assert.deepEqual(appOpenDecoder(bytes, RECORD), event);
    }),
    { numRuns: 1000 },
  );
});

/** The outcome of a decoder as something deepEqual can compare: the value, or that it threw DecodeError. */
function outcome(decode: () => AppOpen): AppOpen | 'DecodeError' {
  try {
    return decode();
  } catch (err) {
    assert.ok(err instanceof DecodeError, `threw ${String(err)}`);
    return 'DecodeError';
  }
}

void test('the direct v1 decoder agrees with avsc on arbitrary and on valid bodies', () => {
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 48 }),
    validEvent.map((event) => toAvro(event).subarray(10)),
    // Small values and varint boundaries are where decoders differ: union indexes, lengths, continuation bits.
    fc.tuple(validEvent, fc.nat(), fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 1, 2, 3, 4, 5, 0x7f, 0x80, 0x81, 0xff))).map(([event, at, byte]) => {
      const bytes = Buffer.from(toAvro(event).subarray(10));
      bytes[at % bytes.length] = byte;
      return bytes;
    }),
  );
  fc.assert(
    fc.property(body, (bytes) => {
      const buf = Buffer.from(bytes);
      assert.deepEqual(
        outcome(() => decodeAppOpenV1Body(buf, 0, 'body')),
        outcome(() => decodeBodyWithAvsc(buf, 0, undefined, 'body')),
        buf.toString('hex'),
      );
    }),
    { numRuns: 5000 },
  );
});

void test('the direct v1 encoder writes the same bytes as avsc, for any encodable event', () => {
  const avscV1 = parseSchema(APP_OPEN_SCHEMA_V1);
  const anyEvent = fc.record({
    timestamp: fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.constantFrom(0, -1, 2 ** 52, -(2 ** 52), 2 ** 52 - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER)),
    userId: fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(0n, -1n, 2n ** 52n, -(2n ** 52n), 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n))),
    platform: fc.string({ unit: 'binary', maxLength: 70 }),
    appVersion: optionalText,
    deviceId: optionalText,
  });
  fc.assert(
    fc.property(anyEvent, (generated) => {
      const event = { ...generated };
      const expected = avscV1.toBuffer(event);
      assert.deepEqual(encodeAppOpenV1(event, new Uint8Array(0)), expected);
      assert.deepEqual(toAvro(event), Buffer.concat([header(APP_OPEN_V1_FINGERPRINT), expected]));
      assert.deepEqual(fromAvro(toAvro(event)), event);
    }),
    { numRuns: 2000 },
  );
});
