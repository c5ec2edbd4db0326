/**
 * The processRecords fast path (`scanProcessRecords`) against the reference, `parseDaemonLine`
 * (JSON.parse): on any line, the fast path either gives up or returns exactly what the reference
 * returns, and it never accepts a line the reference rejects. `parseDaemonLineBytes` (what the
 * worker calls) therefore returns the same messages and throws the same ProtocolErrors.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseDaemonLine, parseDaemonLineBytes } from '../../src/kcl/messages.js';
import { scanProcessRecords } from '../../src/kcl/scanProcessRecords.js';

/** The reference: the message, or the error it throws. */
function reference(line: string): { ok: true; value: unknown } | { ok: false; error: Error } {
  try {
    return { ok: true, value: parseDaemonLine(line) };
  } catch (error) {
    return { ok: false, error: error as Error };
  }
}

/** Checks the fast path against the reference on one line; returns whether the fast path took it. */
function agree(text: string): boolean {
  const bytes = Buffer.from(text, 'utf8');
  // What the old path parsed: the bytes decoded as UTF-8 (a lone surrogate in `text` became U+FFFD).
  const line = bytes.toString('utf8');
  const ref = reference(line);
  const fast = scanProcessRecords(bytes);
  if (fast !== undefined) {
    assert.ok(ref.ok, `fast path accepted a line the reference rejects (${ref.ok ? '' : ref.error.message}): ${line.slice(0, 300)}`);
    assert.deepStrictEqual(fast, ref.value, `fast path differs on: ${line.slice(0, 300)}`);
  }
  // What the worker calls: same value, or the same ProtocolError.
  if (ref.ok) assert.deepStrictEqual(parseDaemonLineBytes(bytes), ref.value);
  else assert.throws(() => parseDaemonLineBytes(bytes), { name: ref.error.name, message: ref.error.message });
  return fast !== undefined;
}

const ws = fc.constantFrom('', '', '', ' ', '\t', '\r', '  ');
const asciiText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 24 });
const anyText = fc.oneof(asciiText, fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }));
const base64 = fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64'));
const jsonNumber = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 31 }),
  fc.constantFrom(0, -0, 1, -1, 1_764_000_000_000, Number.MAX_SAFE_INTEGER, 1e21, 0.5, -2.5e-7, 123456789012345, 1234567890123456),
);
const numberText = fc.oneof(
  jsonNumber.map((n) => JSON.stringify(n)),
  fc.constantFrom('-0', '1e3', '1E3', '0.0', '10', '007', '-', '+1', '1.', '.5', '9007199254740993', '123456789012345', '1234567890123456'),
);
/** A value written as raw text, valid JSON or not. */
const valueText = fc.oneof(
  { weight: 4, arbitrary: anyText.map((s) => JSON.stringify(s)) },
  { weight: 3, arbitrary: numberText },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false', '{}', '[]', '[1,"a"]', '{"a":1}', 'nul', 'tru', '"a\\u0041"', '"a\\/b"', '"\t"') },
);

/** A record object as text, fields shuffled, some optional, sometimes duplicated or odd. */
const recordText = fc
  .record({
    data: fc.oneof({ weight: 5, arbitrary: base64.map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: valueText }),
    partitionKey: fc.oneof({ weight: 5, arbitrary: asciiText.map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: valueText }),
    sequenceNumber: fc.oneof(
      { weight: 5, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 56n }).map((n) => JSON.stringify(n.toString())) },
      { weight: 1, arbitrary: fc.constantFrom('""', '"12a"', '"-1"', '12', '" 1"') },
      { weight: 1, arbitrary: valueText },
    ),
    subSequenceNumber: fc.oneof(fc.constantFrom('0', '0', 'null', '3'), numberText, valueText),
    approximateArrivalTimestamp: fc.oneof(fc.constantFrom('1764000000000', 'null'), numberText, valueText),
    action: fc.constantFrom('"record"', '"record"', '1', 'null', '{"x":1}'),
    extra: valueText,
  })
  .chain((r) =>
    fc
      .tuple(
        fc.shuffledSubarray(
          [
            ['data', r.data],
            ['partitionKey', r.partitionKey],
            ['sequenceNumber', r.sequenceNumber],
            ['subSequenceNumber', r.subSequenceNumber],
            ['approximateArrivalTimestamp', r.approximateArrivalTimestamp],
            ['action', r.action],
            ['explicitHashKey', r.extra],
            ['data', r.data],
          ] as Array<[string, string]>,
          { minLength: 0 },
        ),
        ws,
        ws,
      )
      .map(([fields, a, b]) => `{${a}${fields.map(([k, v]) => `"${k}"${b}:${a}${v}`).join(`,${b}`)}${b}}`),
  );

/** A canonical record as the daemon writes it (the fast path must take these). */
const canonicalRecord = fc
  .record({
    data: base64,
    // Printable ASCII without '"' and '\\' (JSON.stringify would escape them; the fast path gives those up).
    partitionKey: asciiText.map((s) => s.replace(/["\\]/g, '_')),
    sequenceNumber: fc.bigInt({ min: 0n, max: 10n ** 56n }),
    sub: fc.nat(1000),
    arrival: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 2 ** 48 })),
  })
  .map((r) => ({ data: r.data, partitionKey: r.partitionKey, sequenceNumber: r.sequenceNumber.toString(), subSequenceNumber: r.sub, approximateArrivalTimestamp: r.arrival, action: 'record' }));

const lineText = fc
  .record({
    records: fc.array(fc.oneof({ weight: 4, arbitrary: recordText }, { weight: 1, arbitrary: valueText }), { maxLength: 5 }),
    behind: fc.oneof(fc.constantFrom('0', 'null', '17'), numberText, valueText),
    action: fc.constantFrom('"processRecords"', '"processRecords"', '"processrecords"', '"initialize"', '1'),
    order: fc.constantFrom(0, 1, 2),
    extra: fc.option(valueText, { nil: undefined }),
    a: ws,
    b: ws,
  })
  .map(({ records, behind, action, order, extra, a, b }) => {
    const fields = [`"action":${a}${action}`, `"records"${b}:[${a}${records.join(`,${b}`)}]`, `"millisBehindLatest":${behind}`];
    if (order === 1) fields.reverse();
    if (order === 2) fields.push(fields[0]!);
    if (extra !== undefined) fields.splice(1, 0, `"checkpointer":${extra}`);
    return `${a}{${fields.join(`,${b}`)}}${b}`;
  });

/** Damages a line: deletes, inserts or replaces a character, truncates, or appends. */
const damaged = (line: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc
    .tuple(line, fc.nat(), fc.constantFrom('"', '\\', ',', ':', '{', '}', '[', ']', '\u0001', '\n', 'é', 'x', '0', ' ', ''), fc.constantFrom('delete', 'insert', 'replace', 'truncate', 'append'))
    .map(([l, at, c, how]) => {
      const i = l.length === 0 ? 0 : at % l.length;
      if (how === 'delete') return l.slice(0, i) + l.slice(i + 1);
      if (how === 'insert') return l.slice(0, i) + c + l.slice(i);
      if (how === 'replace') return l.slice(0, i) + c + l.slice(i + 1);
      if (how === 'truncate') return l.slice(0, i);
      return l + c;
    });

const RUNS = { numRuns: 3_000, seed: 1111, endOnFailure: true, includeErrorInReport: true };

describe('scanProcessRecords (the processRecords fast path) agrees with JSON.parse', () => {
  test('the daemon’s own lines: the fast path takes them and returns what JSON.parse gives', () => {
    fc.assert(
      fc.property(fc.array(canonicalRecord, { maxLength: 20 }), fc.oneof(fc.constant(null), fc.nat()), (records, behind) => {
        const line = JSON.stringify({ action: 'processRecords', records, millisBehindLatest: behind });
        assert.ok(agree(line), `the fast path gave up on a canonical line: ${line.slice(0, 200)}`);
      }),
      RUNS,
    );
  });

  test('arbitrary lines, valid and not: never a different message, never accepting what JSON.parse rejects', () => {
    let taken = 0;
    fc.assert(
      fc.property(lineText, (line) => {
        if (agree(line)) taken++;
      }),
      { ...RUNS, numRuns: 10_000 },
    );
    assert.ok(taken > 100, `the fast path took only ${taken} of the generated lines: the property would be vacuous`);
  });

  test('damaged lines (a character deleted, inserted, replaced; truncated; appended)', () => {
    fc.assert(fc.property(damaged(fc.oneof(lineText, fc.array(canonicalRecord, { maxLength: 4 }).map((records) => JSON.stringify({ action: 'processRecords', records, millisBehindLatest: 0 })))), (line) => void agree(line)), { ...RUNS, numRuns: 10_000 });
  });

  test('any text at all', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => void agree(s)), RUNS);
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => void agree(`{"action":"processRecords","records":[${s}]}`)), RUNS);
  });

  test('a malformed processRecords line is a ProtocolError naming the problem, never a skipped batch', () => {
    const good = '{"action":"processRecords","millisBehindLatest":0,"records":[{"data":"eA==","partitionKey":"k","sequenceNumber":"12","subSequenceNumber":0,"approximateArrivalTimestamp":1,"action":"record"}]}';
    assert.equal(parseDaemonLineBytes(Buffer.from(good))?.action, 'processRecords');
    const cases: Array<[string, RegExp]> = [
      [good.slice(0, -3), /malformed line from the daemon \(not JSON/],
      [good.replace('"12"', '"12x"'), /records\[0\]\.sequenceNumber is not a string of digits/],
      [good.replace('"eA=="', '7'), /records\[0\]\.data is not a string/],
      [good.replace('"partitionKey":"k",', ''), /records\[0\]\.partitionKey is not a string/],
      [good.replace('"eA=="', '"e\u0001A=="'), /not JSON/],
      [good.replace('"subSequenceNumber":0', '"subSequenceNumber":"0"'), /records\[0\]\.subSequenceNumber is not a number/],
      [`${good}x`, /not JSON/],
    ];
    for (const [line, message] of cases) {
      assert.equal(scanProcessRecords(Buffer.from(line)), undefined, line);
      assert.throws(() => parseDaemonLineBytes(Buffer.from(line)), { name: 'ProtocolError', message }, line);
    }
  });
});
