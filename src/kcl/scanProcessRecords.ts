/**
 * A fast path for the one line that is large: `processRecords`. The daemon writes it in one
 * shape (see shared notes: `{"action":"processRecords","millisBehindLatest":n,"records":[{...}]}`),
 * and `JSON.parse` of a 3 MB line builds an object and three strings per record, only for the
 * worker to drop them a moment later.
 *
 * {@link scanProcessRecords} reads that shape straight from the line's bytes, and gives up
 * (returns undefined) on anything outside a strict subset of JSON: a backslash or a non-ASCII
 * byte anywhere in the line, a control character inside a string, a number that is not a plain
 * integer of at most 15 digits, a duplicate key, an unknown key whose value is not a string,
 * integer, true, false or null, a missing field, a record field of the wrong type, trailing
 * bytes. The caller then parses the line with `JSON.parse` (`parseDaemonLine`), which returns the
 * same message or throws the ProtocolError naming the problem: a malformed line is never
 * skipped. Whatever it accepts is valid JSON and yields exactly what `parseDaemonLine` yields (a
 * property test compares the two on arbitrary valid and damaged lines).
 *
 * Strings are substrings of one latin1 string of the line (for ASCII, latin1 and UTF-8 read the
 * same), which V8 keeps as slices of it instead of copies.
 */
import { isAscii } from 'node:buffer';
import type { KinesisRecord } from '../core/types.js';

/** The daemon's `processRecords` message (one of the messages of messages.ts). */
export interface ProcessRecordsMessage {
  action: 'processRecords';
  millisBehindLatest: number | null;
  records: KinesisRecord[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
/** `"action":"processRecords"` must be somewhere for the fast path to be worth trying. */
const PROCESS_RECORDS = Buffer.from('"processRecords"', 'latin1');

/** Thrown inside the scanner to give up; caught once at the top. Never escapes. */
const GIVE_UP = Symbol('give up');

let buf: Buffer = Buffer.alloc(0);
let text = '';
let pos = 0;

/** JSON whitespace but the line feed, which cannot occur inside a line. */
function skipWs(): void {
  for (;;) {
    const c = buf[pos];
    if (c === 0x20 || c === 0x09 || c === 0x0d) pos++;
    else return;
  }
}

function expect(c: number): void {
  skipWs();
  if (buf[pos] !== c) throw GIVE_UP;
  pos++;
}

/** A string at `pos` (after whitespace); returns [start, end) of its content. No backslash exists in the line. */
function stringSpan(): number {
  skipWs();
  if (buf[pos] !== QUOTE) throw GIVE_UP;
  const start = pos + 1;
  const end = buf.indexOf(QUOTE, start);
  if (end < 0) throw GIVE_UP;
  for (let i = start; i < end; i++) if (buf[i]! < 0x20) throw GIVE_UP; // raw control characters are not JSON
  spanStart = start;
  pos = end + 1;
  return end;
}
let spanStart = 0;

function readString(): string {
  const end = stringSpan();
  return text.substring(spanStart, end);
}

/** An integer of at most 15 digits (exact as a double), or null for the literal null. */
function readIntOrNull(): number | null {
  skipWs();
  const c = buf[pos];
  if (c === 0x6e) return readLiteral(NULL_BYTES, null);
  let negative = false;
  if (c === 0x2d) {
    negative = true;
    pos++;
  }
  const start = pos;
  let n = 0;
  for (;;) {
    const d = buf[pos];
    if (d === undefined || d < 0x30 || d > 0x39) break;
    n = n * 10 + (d - 0x30);
    pos++;
  }
  const digits = pos - start;
  if (digits === 0 || digits > 15 || (digits > 1 && buf[start] === 0x30)) throw GIVE_UP;
  const next = buf[pos];
  if (next === 0x2e || next === 0x65 || next === 0x45) throw GIVE_UP; // fraction or exponent
  return negative ? -n : n;
}

const NULL_BYTES = Buffer.from('null', 'latin1');
const TRUE_BYTES = Buffer.from('true', 'latin1');
const FALSE_BYTES = Buffer.from('false', 'latin1');

function readLiteral<V>(bytes: Buffer, value: V): V {
  for (let k = 0; k < bytes.length; k++) if (buf[pos + k] !== bytes[k]) throw GIVE_UP;
  pos += bytes.length;
  return value;
}

/** Skips the value of a key the worker does not use: only a string, integer, true, false or null. */
function skipSimpleValue(): void {
  skipWs();
  const c = buf[pos];
  if (c === QUOTE) stringSpan();
  else if (c === 0x74) readLiteral(TRUE_BYTES, true);
  else if (c === 0x66) readLiteral(FALSE_BYTES, false);
  else readIntOrNull();
}

/** A key: its content's bytes compared against the known ones; returns its index in `keys` or -1. */
function readKey(keys: readonly Buffer[]): number {
  const end = stringSpan();
  expect(COLON);
  const len = end - spanStart;
  outer: for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    if (key.length !== len) continue;
    for (let j = 0; j < len; j++) if (buf[spanStart + j] !== key[j]) continue outer;
    return k;
  }
  return -1;
}

const RECORD_KEYS = ['data', 'partitionKey', 'sequenceNumber', 'subSequenceNumber', 'approximateArrivalTimestamp'].map((k) => Buffer.from(k, 'latin1'));
const TOP_KEYS = ['action', 'records', 'millisBehindLatest'].map((k) => Buffer.from(k, 'latin1'));

/** A string of one or more decimal digits (a sequence number); anything else gives up. */
function readDigitString(): string {
  skipWs();
  if (buf[pos] !== QUOTE) throw GIVE_UP;
  const start = pos + 1;
  let i = start;
  for (;;) {
    const c = buf[i];
    if (c === undefined) throw GIVE_UP;
    if (c === QUOTE) break;
    if (c < 0x30 || c > 0x39) throw GIVE_UP;
    i++;
  }
  if (i === start) throw GIVE_UP;
  pos = i + 1;
  return text.substring(start, i);
}

function readRecord(): KinesisRecord {
  expect(LBRACE);
  let data: string | undefined;
  let partitionKey: string | undefined;
  let sequenceNumber: string | undefined;
  let sub: number | null = null;
  let arrival: number | null = null;
  let seen = 0;
  skipWs();
  if (buf[pos] === RBRACE) throw GIVE_UP; // an empty record is an error the full parser names
  for (;;) {
    const k = readKey(RECORD_KEYS);
    if (k >= 0) {
      if (seen & (1 << k)) throw GIVE_UP; // a duplicate key: JSON.parse keeps the last; let it
      seen |= 1 << k;
    }
    switch (k) {
      case 0:
        data = readString();
        break;
      case 1:
        partitionKey = readString();
        break;
      case 2:
        sequenceNumber = readDigitString();
        break;
      case 3:
        sub = readIntOrNull();
        break;
      case 4:
        arrival = readIntOrNull();
        break;
      default:
        skipSimpleValue(); // "action":"record", and anything the daemon may add
    }
    skipWs();
    const c = buf[pos++];
    if (c === RBRACE) break;
    if (c !== COMMA) throw GIVE_UP;
  }
  if (data === undefined || partitionKey === undefined || sequenceNumber === undefined) throw GIVE_UP;
  return { data, partitionKey, sequenceNumber, subSequenceNumber: sub ?? 0, approximateArrivalTimestamp: arrival };
}

function readRecords(): KinesisRecord[] {
  expect(LBRACKET);
  const records: KinesisRecord[] = [];
  skipWs();
  if (buf[pos] === RBRACKET) {
    pos++;
    return records;
  }
  for (;;) {
    records.push(readRecord());
    skipWs();
    const c = buf[pos++];
    if (c === RBRACKET) return records;
    if (c !== COMMA) throw GIVE_UP;
  }
}

function readMessage(): ProcessRecordsMessage {
  expect(LBRACE);
  let records: KinesisRecord[] | undefined;
  let behind: number | null = null;
  let isProcessRecords = false;
  let seen = 0;
  for (;;) {
    const k = readKey(TOP_KEYS);
    if (k >= 0) {
      if (seen & (1 << k)) throw GIVE_UP;
      seen |= 1 << k;
    }
    if (k === 0) {
      isProcessRecords = readString() === 'processRecords';
      if (!isProcessRecords) throw GIVE_UP;
    } else if (k === 1) {
      records = readRecords();
    } else if (k === 2) {
      behind = readIntOrNull();
    } else {
      skipSimpleValue();
    }
    skipWs();
    const c = buf[pos++];
    if (c === RBRACE) break;
    if (c !== COMMA) throw GIVE_UP;
  }
  skipWs();
  if (pos !== buf.length) throw GIVE_UP; // trailing bytes
  if (!isProcessRecords || records === undefined) throw GIVE_UP;
  return { action: 'processRecords', millisBehindLatest: behind, records };
}

/**
 * The processRecords message of `line` (one protocol line, without its line feed), or undefined
 * when the line is not a processRecords line in the daemon's plain shape. Undefined says nothing
 * about validity: parse such a line with `parseDaemonLine`.
 */
export function scanProcessRecords(line: Buffer): ProcessRecordsMessage | undefined {
  if (line.length < 32 || line.indexOf(PROCESS_RECORDS) < 0) return undefined;
  if (line.indexOf(BACKSLASH) >= 0 || !isAscii(line)) return undefined;
  buf = line;
  text = line.toString('latin1');
  pos = 0;
  try {
    return readMessage();
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  } finally {
    buf = EMPTY;
    text = '';
  }
}
const EMPTY = Buffer.alloc(0);
