import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../../src/core/errors.js';
import { APP_OPEN_SCHEMA_V1, validate, validationError } from '../../../src/app-opens/model/index.js';
import type { AppOpen } from '../../../src/app-opens/model/index.js';

const NOW = 1_764_000_000;

function appOpen(overrides: Partial<AppOpen> = {}): AppOpen {
  return { timestamp: NOW - 60, userId: 42n, platform: 'ios', appVersion: '7.1.0', deviceId: 'd-1', ...overrides };
}

function assertInvalid(event: AppOpen, field: string, message: RegExp, now = NOW): void {
  assert.throws(
    () => validate(event, now),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
      assert.equal(err.name, 'ValidationError');
      assert.equal(err.field, field);
      assert.match(err.message, message);
      assert.equal(err.retriable, false);
      return true;
    },
  );
}

void test('a valid event passes, including edge values', () => {
  validate(appOpen(), NOW);
  validate(appOpen({ userId: 1n, timestamp: 1 }), NOW);
  validate(appOpen({ userId: 2n ** 63n - 1n }), NOW);
  validate(appOpen({ timestamp: NOW + 24 * 3600 }), NOW);
  validate(appOpen({ platform: 'a' }), NOW);
  validate(appOpen({ platform: 'a' + 'b_9'.repeat(10) + 'c' }), NOW); // 32 characters
  validate(appOpen({ appVersion: null, deviceId: null }), NOW);
});

void test('userId must be > 0', () => {
  assertInvalid(appOpen({ userId: 0n }), 'userId', /> 0/);
  assertInvalid(appOpen({ userId: -5n }), 'userId', /> 0/);
  assertInvalid(appOpen({ userId: 2n ** 63n }), 'userId', /64-bit/);
  assertInvalid(appOpen({ userId: 42 as unknown as bigint }), 'userId', /bigint/);
});

void test('timestamp must be > 0 and at most 24 hours ahead', () => {
  assertInvalid(appOpen({ timestamp: 0 }), 'timestamp', /> 0/);
  assertInvalid(appOpen({ timestamp: -98 }), 'timestamp', /> 0/);
  assertInvalid(appOpen({ timestamp: NOW + 24 * 3600 + 1 }), 'timestamp', /24 hours in the future/);
  assertInvalid(appOpen({ timestamp: 1.5 }), 'timestamp', /integer/);
  assertInvalid(appOpen({ timestamp: Number.NaN }), 'timestamp', /integer/);
});

void test('the default clock is the system clock', () => {
  const now = Math.floor(Date.now() / 1000);
  validate(appOpen({ timestamp: now }));
  assertInvalid(appOpen({ timestamp: now + 2 * 24 * 3600 }), 'timestamp', /future/, Date.now() / 1000);
  assert.throws(() => validate(appOpen({ timestamp: now + 2 * 24 * 3600 })), ValidationError);
});

void test('platform must match ^[a-z][a-z0-9_]{0,31}$', () => {
  for (const platform of ['', 'iOS', '1ios', '_ios', 'ios-x', 'ios ', 'a' + 'b'.repeat(32), 'ios\n', 'ïos', 'ios:x']) {
    assertInvalid(appOpen({ platform }), 'platform', /platform must match/);
  }
});

void test('optional fields must be strings or null', () => {
  assertInvalid(appOpen({ appVersion: 7 as unknown as string }), 'appVersion', /string or null/);
  assertInvalid(appOpen({ deviceId: {} as unknown as string }), 'deviceId', /string or null/);
});

void test('a non-finite clock is a programmer error', () => {
  assert.throws(() => validate(appOpen(), Number.NaN), TypeError);
  assert.throws(() => validationError(appOpen(), Number.POSITIVE_INFINITY), TypeError);
});

void test('validationError returns what validate throws, and undefined for a valid event', () => {
  assert.equal(validationError(appOpen(), NOW), undefined);
  const error = validationError(appOpen({ platform: 'iOS' }), NOW);
  assert.ok(error instanceof ValidationError);
  assert.equal(error.field, 'platform');
  assert.throws(() => validate(appOpen({ platform: 'iOS' }), NOW), { name: 'ValidationError', message: error.message });
});

void test('property: validationError and validate agree on any event, platforms seen before or not', () => {
  // Platforms repeat, so most checks hit the cache of accepted platforms: it must never let an
  // invalid one through, whatever came before.
  const platform = fc.oneof(fc.constantFrom('ios', 'android', 'web', 'iOS', 'ios ', '', 'tv_é', 'a'.repeat(33)), fc.string({ maxLength: 34 }));
  const event = fc.record({
    userId: fc.oneof(fc.bigInt({ min: -3n, max: 2n ** 64n }), fc.constantFrom(0n, 1n, 2n ** 63n - 1n, 2n ** 63n)),
    timestamp: fc.oneof(fc.integer({ min: -5, max: NOW + 2 * 24 * 3600 }), fc.constantFrom(NOW + 24 * 3600, NOW + 24 * 3600 + 1, 0.5, Number.NaN)),
    platform,
    appVersion: fc.constantFrom(null, '7.1.0'),
    deviceId: fc.constantFrom(null, 'd-1'),
  });
  const pattern = /^[a-z][a-z0-9_]{0,31}$/;
  fc.assert(
    fc.property(event, (e) => {
      const error = validationError(e, NOW);
      let thrown: unknown;
      try {
        validate(e, NOW);
      } catch (err) {
        thrown = err;
      }
      assert.deepEqual([error?.field, error?.message], [(thrown as ValidationError | undefined)?.field, (thrown as Error | undefined)?.message]);
      if (error === undefined) assert.match(e.platform, pattern);
      else if (error.field === 'platform') assert.doesNotMatch(e.platform, pattern);
    }),
    { numRuns: 3_000 },
  );
});

void test('more distinct valid platforms than the cache holds: still each checked by the rule', () => {
  for (let i = 0; i < 1_500; i++) assert.equal(validationError(appOpen({ platform: `p${i}` }), NOW), undefined);
  assert.equal(validationError(appOpen({ platform: 'P1499' }), NOW)?.field, 'platform');
  assert.equal(validationError(appOpen({ platform: 'p1499' }), NOW), undefined);
});

void test('APP_OPEN_SCHEMA_V1 is the issue\'s schema text exactly, and frozen', () => {
  assert.equal(
    JSON.stringify(APP_OPEN_SCHEMA_V1),
    '{"type":"record","name":"AppOpen","namespace":"com.timehop.streams","fields":[' +
      '{"name":"timestamp","type":"long"},{"name":"userId","type":"long"},' +
      '{"name":"platform","type":"string"},' +
      '{"name":"appVersion","type":["null","string"],"default":null},' +
      '{"name":"deviceId","type":["null","string"],"default":null}]}',
  );
  assert.ok(Object.isFrozen(APP_OPEN_SCHEMA_V1));
  const fields = (APP_OPEN_SCHEMA_V1 as { fields: object[] }).fields;
  assert.ok(Object.isFrozen(fields) && fields.every((f) => Object.isFrozen(f)));
});
