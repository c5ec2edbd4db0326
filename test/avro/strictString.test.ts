/**
 * The lone-surrogate check: a UTF-16 surrogate without its partner has no UTF-8 encoding, so a
 * string holding one cannot be an Avro string. Two spellings of the check existed (the Avro codec
 * used lookarounds, the API's body check `\p{Cs}` in Unicode mode); this proved they agree on
 * strings built from lone and paired surrogates before `hasLoneSurrogate` (the `\p{Cs}` one) became
 * the only one, and keeps the retired spelling as a second reference.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hasLoneSurrogate } from '../../src/avro/strictString.js';

/** The spelling src/app-opens/model/appOpenAvro.ts used (retired; the API body's `\p{Cs}` is `hasLoneSurrogate`). */
const LOOKAROUND = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const unit = (min: number, max: number): fc.Arbitrary<string> => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
/** Text made of the pieces that matter: high and low surrogates alone, valid pairs, and ordinary characters either side. */
const surrogateText = fc
  .array(
    fc.oneof(
      unit(0xd800, 0xdbff), // a high surrogate
      unit(0xdc00, 0xdfff), // a low surrogate
      fc.tuple(unit(0xd800, 0xdbff), unit(0xdc00, 0xdfff)).map(([h, l]) => h + l), // a pair
      fc.constantFrom('\uD7FF', '\uE000', '\uFFFD', '\uFFFF', 'a', 'é', '\u{1F600}'), // neighbours of the range
      unit(0x20, 0x7e),
    ),
    { maxLength: 12 },
  )
  .map((pieces) => pieces.join(''));

/** The definition, spelled out: scan the UTF-16 code units, a high one consumes the low one after it. */
function hasLoneSurrogateByScan(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    }
  }
  return false;
}

test('hasLoneSurrogate agrees with the retired lookaround spelling and with the definition', () => {
  fc.assert(
    fc.property(surrogateText, (text) => {
      const expected = hasLoneSurrogateByScan(text);
      assert.equal(LOOKAROUND.test(text), expected, `lookaround on ${JSON.stringify(text)}`);
      assert.equal(hasLoneSurrogate(text), expected, `hasLoneSurrogate on ${JSON.stringify(text)}`);
    }),
    { numRuns: 20_000 },
  );
});

test('the checks on the cases that tell spellings apart', () => {
  const cases: Array<[string, boolean]> = [
    ['', false],
    ['ios', false],
    ['\u{1F600}', false],
    ['\uD83D', true],
    ['\uDE00', true],
    ['\uDE00\uD83D', true], // reversed pair
    ['\uD83D\uD83D\uDE00', true], // a lone high, then a pair
    ['\uD83D\uDE00\uDE00', true], // a pair, then a lone low
    ['a\uD83D', true],
  ];
  for (const [text, lone] of cases) {
    assert.equal(LOOKAROUND.test(text), lone, JSON.stringify(text));
    assert.equal(hasLoneSurrogate(text), lone, JSON.stringify(text));
    assert.equal(hasLoneSurrogateByScan(text), lone, JSON.stringify(text));
  }
});
