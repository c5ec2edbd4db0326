/**
 * The v1 decoder returns short ASCII strings (platforms, app versions) from a small cache. The
 * cache must never hand back another string: collisions, lengths, non-ASCII text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromAvro, toAvro, type AppOpen } from '../../../src/app-opens/model/index.js';

const event = (platform: string, appVersion: string | null): AppOpen => ({ timestamp: 1_764_000_000, userId: 42n, platform, appVersion, deviceId: null });

void test('thousands of distinct short strings (every cache slot collides many times) decode to themselves', () => {
  // Prepare: 5,000 distinct strings of 0..16 ASCII characters, then the same again in another order.
  const strings: string[] = [];
  for (let i = 0; i < 5_000; i++) strings.push(`p${i.toString(36)}`.slice(0, 1 + (i % 16)) + 'x'.repeat(i % 3));
  const order = [...strings, ...strings.slice().reverse(), '', 'a', 'ios', 'ios', 'android'];
  // Act + Assess
  for (const s of order) {
    const e = event(s, s);
    assert.deepEqual(fromAvro(toAvro(e)), e);
  }
});

void test('short strings round-trip whatever their characters (ASCII, latin1, emoji, U+FFFD), after a cached ASCII look-alike', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ maxLength: 16 }), (a, b) => {
      for (const e of [event(b, a), event(a, b), event(b, b)]) assert.deepEqual(fromAvro(toAvro(e)), e);
    }),
    { numRuns: 2_000 },
  );
  for (const s of ['é', 'ios\uFFFD', '\uFFFD', 'iOS', 'ioS', 'io']) assert.deepEqual(fromAvro(toAvro(event(s, s))), event(s, s));
});
