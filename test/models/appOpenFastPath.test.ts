/**
 * fromAvro's direct v1 reader must give exactly what the avsc path gives: the same value, or the
 * same DecodeError, for every input. Checked on generated events (full int64 userIds, timestamps
 * past 2^53, long and non-ASCII strings) and on damaged encodings of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../src/core/errors.js';
import { fromAvro, toAvro, type AppOpen } from '../../src/models/index.js';
import { fromAvroReference } from '../../src/models/appOpenAvro.js';

type Outcome = { ok: true; value: AppOpen } | { ok: false; name: string; message: string; isDecodeError: boolean };

function outcome(decode: (b: Uint8Array) => AppOpen, bytes: Uint8Array): Outcome {
  try {
    return { ok: true, value: decode(bytes) };
  } catch (err) {
    const e = err as Error;
    return { ok: false, name: e.name, message: e.message, isDecodeError: err instanceof DecodeError };
  }
}

function assertSame(bytes: Uint8Array): Outcome {
  const fast = outcome(fromAvro, bytes);
  const reference = outcome(fromAvroReference, bytes);
  assert.deepEqual(fast, reference, `input ${Buffer.from(bytes).toString('hex')}`);
  if (!fast.ok) assert.ok(fast.isDecodeError, `only DecodeError may escape, got ${fast.name}: ${fast.message}`);
  return fast;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ minLength: 60, maxLength: 5000 }),
  fc.constantFrom('ios', 'android', 'web', '7.12.0', '', '\uFFFD'),
);

const event: fc.Arbitrary<AppOpen> = fc.record({
  timestamp: fc.oneof(fc.integer({ min: -1e6, max: 2e9 }), fc.maxSafeInteger(), fc.integer()),
  userId: fc.oneof(fc.bigInt({ min: 1n, max: 2n ** 40n }), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.constantFrom(0n, INT64_MIN, INT64_MAX, 2n ** 53n + 1n)),
  platform: text,
  appVersion: fc.option(text, { nil: null }),
  deviceId: fc.option(text, { nil: null }),
});

/** An encoding: single-object (as toAvro writes it) or the plain body older producers send. */
const encoded = fc.tuple(event, fc.boolean()).map(([e, plain]) => {
  const bytes = toAvro(e);
  return plain ? bytes.subarray(10) : bytes;
});

/** Ways a record gets damaged on its way. */
const damaged = fc.oneof(
  fc.tuple(encoded, fc.nat()).map(([b, k]) => b.subarray(0, k % (b.length + 1))),
  fc.tuple(encoded, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([b, extra]) => Buffer.concat([b, extra])),
  fc.tuple(encoded, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, k, v]) => {
    const copy = Buffer.from(b);
    if (copy.length > 0) copy[k % copy.length] = v;
    return copy;
  }),
  fc.tuple(encoded, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([b, k, ins]) => {
    const at = k % (b.length + 1);
    return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
  }),
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.concat([toAvro({ timestamp: 1, userId: 1n, platform: 'x', appVersion: null, deviceId: null }).subarray(0, 10), b])),
);

void test('the direct v1 reader decodes every valid event exactly as avsc does (int64 userIds, timestamps up to 2^53, long strings)', () => {
  fc.assert(
    fc.property(encoded, (bytes) => {
      assertSame(bytes);
    }),
    { numRuns: 3000 },
  );
});

void test('the direct v1 reader fails exactly as avsc does on damaged records: the same DecodeError', () => {
  fc.assert(
    fc.property(damaged, (bytes) => {
      assertSame(bytes);
    }),
    { numRuns: 5000 },
  );
});

void test('regular records take the direct reader and round-trip; irregular ones still decode (non-minimal varints)', () => {
  const e: AppOpen = { timestamp: 1_764_000_000, userId: 9_007_199_254_740_993n, platform: 'ios', appVersion: '7.1.0', deviceId: null };
  assert.deepEqual(assertSame(toAvro(e)), { ok: true, value: e });
  // A non-minimal length varint (0x80 0x00 = 0) is legal Avro: the fallback reads it.
  const body = Buffer.from([0x02, 0x02, 0x80, 0x00, 0x00, 0x00]);
  assert.deepEqual(assertSame(body), { ok: true, value: { timestamp: 1, userId: 1n, platform: '', appVersion: null, deviceId: null } });
  // Invalid UTF-8 and a bad union index are DecodeErrors either way.
  assert.equal(assertSame(Buffer.from([0x02, 0x02, 0x02, 0xff, 0x00, 0x00])).ok, false);
  assert.equal(assertSame(Buffer.from([0x02, 0x02, 0x02, 0x61, 0x04, 0x00])).ok, false);
});
