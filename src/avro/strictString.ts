/**
 * An avsc `string` type that refuses invalid UTF-8 instead of replacing it with U+FFFD.
 *
 * The Avro specification defines a string as UTF-8 text, so bytes that are not UTF-8 are not a
 * valid record (a DecodeError upstream), not a value to guess at. The check costs almost nothing
 * on valid data: the bytes are verified only when the decoded text contains U+FFFD, which is
 * where Node's decoder put a replacement (or where the text really holds that character).
 */
import { isUtf8 } from 'node:buffer';
import avro from 'avsc';
import type { Type } from 'avsc';

/** The parts of avsc's internal cursor this module uses (stable across avsc 5.x). */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  readString(): string | undefined;
}

function readStrictString(this: void, tap: Tap): string | undefined {
  const start = tap.pos;
  const text = tap.readString();
  if (text === undefined || !text.includes('\uFFFD')) return text;
  // Rare path: find the string's bytes again and check them.
  const end = tap.pos;
  tap.pos = start;
  const length = tap.readLong();
  const from = tap.pos;
  tap.pos = end;
  if (!isUtf8(tap.buf.subarray(from, from + length))) throw new RangeError('invalid UTF-8 in a string');
  return text;
}

/**
 * A UTF-16 surrogate that is not part of a pair. In Unicode mode a pair reads as one code point
 * (not Cs), so only an unpaired half matches.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Whether `text` holds a UTF-16 surrogate without its partner. Such a string has no UTF-8
 * encoding (Node writes U+FFFD in its place), so it cannot be an Avro string: check before
 * encoding text that came from JSON or from a caller.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/**
 * The shared strict string type; pass it as `registry: { string: strictStringType }` to
 * `Type.forSchema`. Behaves as avsc's string in every other respect.
 */
export const strictStringType: Type = Object.freeze(
  Object.create(avro.Type.forSchema('string'), { _read: { value: readStrictString } }) as Type,
);
