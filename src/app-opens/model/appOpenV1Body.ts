/**
 * The Avro binary body of AppOpen schema v1, read and written directly: the worker's hot path
 * (decoding) and the producer's (encoding).
 *
 * Nearly every record on the stream is written with v1, and avsc (with the exact-long type that
 * v1's int64 userId needs) spends most of its time on per-long buffers and generic machinery.
 * This reads the five v1 fields straight from the bytes with one cursor and no intermediate
 * objects. Records written with other schema versions still go through avsc and its resolver.
 * Encoding sizes the output once and writes header and body into a single buffer.
 *
 * It accepts exactly what the avsc path accepts (a property test feeds both the same arbitrary
 * bytes): varints of at most 10 bytes within 64 bits (non-minimal encodings included, as in Java
 * and avsc), union indexes 0 and 1, strict UTF-8 strings, and nothing after the record.
 */
import { isUtf8 } from 'node:buffer';
import { DecodeError } from '../../core/errors.js';
import { SAFE_MAX } from '../../avro/exactLong.js';
import type { AppOpen } from './appOpen.js';

// The cursor. Decoding is synchronous and never re-entered, so one module-level cursor saves
// allocating one per record.
let pos = 0;
let what = '';

function truncated(buf: Buffer): DecodeError {
  return new DecodeError(`truncated ${what}: ${buf.length} bytes end inside the record`);
}

function invalid(reason: string): DecodeError {
  return new DecodeError(`invalid ${what}: ${reason}`);
}

/**
 * Reads one zigzag varint: a number when it has at most 7 bytes (49 bits, always exact),
 * a bigint otherwise.
 */
function readLong(buf: Buffer): number | bigint {
  let b = buf[pos++];
  if (b === undefined) throw truncated(buf);
  if (b < 0x80) return (b >>> 1) ^ -(b & 1);
  let n = b & 0x7f;
  let scale = 128;
  for (let i = 1; i < 7; i++) {
    b = buf[pos++];
    if (b === undefined) throw truncated(buf);
    n += (b & 0x7f) * scale;
    if (b < 0x80) return n % 2 === 1 ? -(n + 1) / 2 : n / 2;
    scale *= 128;
  }
  // Bytes 8 to 10: past 49 bits, so BigInt arithmetic.
  let u = BigInt(n);
  for (let i = 7; i < 10; i++) {
    b = buf[pos++];
    if (b === undefined) throw truncated(buf);
    if (i === 9 && b > 1) throw invalid(b < 0x80 ? 'long varint exceeds 64 bits' : 'long varint longer than 10 bytes');
    u |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return (u >> 1n) ^ -(u & 1n);
  }
  throw invalid('long varint longer than 10 bytes'); // unreachable: byte 10 returned or threw
}

/** Strings up to this many bytes (platforms, app versions) go through {@link internedAscii}. */
const INTERN_MAX_BYTES = 16;
const INTERN_SLOTS = 256;
/** A small direct-mapped cache of recent short ASCII strings, by a hash of their bytes. */
const internBytes: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(INTERN_SLOTS);
const internText: string[] = new Array<string>(INTERN_SLOTS);

/**
 * The text of buf[start, end) when those bytes are ASCII, else undefined (the caller decodes them
 * as UTF-8). Platforms and app versions repeat from record to record: the string is returned from
 * a cache instead of being decoded again (a call into C++ and a new string per record). ASCII
 * reads the same as latin1 and as UTF-8, and is always valid UTF-8.
 */
function internedAscii(buf: Buffer, start: number, end: number): string | undefined {
  let h = 0x811c9dc5 ^ (end - start);
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return undefined;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h ^ (h >>> 8) ^ (h >>> 16)) & (INTERN_SLOTS - 1);
  const bytes = internBytes[slot];
  if (bytes !== undefined && bytes.length === end - start) {
    let same = true;
    for (let k = 0; k < bytes.length; k++) {
      if (bytes[k] !== buf[start + k]) {
        same = false;
        break;
      }
    }
    if (same) return internText[slot];
  }
  const text = buf.toString('latin1', start, end);
  internBytes[slot] = Uint8Array.prototype.slice.call(buf, start, end);
  internText[slot] = text;
  return text;
}

function readString(buf: Buffer, field: string): string {
  const length = readLong(buf);
  if (typeof length !== 'number' || length < 0) throw invalid(`negative or huge length ${length} for ${field}`);
  const start = pos;
  const end = start + length;
  if (end > buf.length) {
    pos = end;
    throw truncated(buf);
  }
  pos = end;
  if (length <= INTERN_MAX_BYTES) {
    const interned = internedAscii(buf, start, end);
    if (interned !== undefined) return interned;
  }
  const text = buf.toString('utf8', start, end);
  // Node replaces bad UTF-8 with U+FFFD: check the bytes only when one shows up.
  if (text.includes('\uFFFD') && !isUtf8(buf.subarray(start, end))) throw invalid(`invalid UTF-8 in ${field}`);
  return text;
}

function readOptionalString(buf: Buffer, field: string): string | null {
  const branch = readLong(buf);
  if (branch === 0) return null;
  if (branch === 1) return readString(buf, field);
  throw invalid(`union index ${branch} for ${field} (["null","string"] has 2 branches)`);
}

/**
 * Decodes a v1 body occupying `buf` from `start` to its end. `description` names the input in
 * error messages (e.g. "plain AppOpen v1 record"). Throws only DecodeError.
 */
export function decodeAppOpenV1Body(buf: Buffer, start: number, description: string): AppOpen {
  pos = start;
  what = description;
  let timestamp = readLong(buf);
  const userId = readLong(buf);
  const platform = readString(buf, 'platform');
  const appVersion = readOptionalString(buf, 'appVersion');
  const deviceId = readOptionalString(buf, 'deviceId');
  if (pos !== buf.length) {
    throw new DecodeError(`trailing bytes after ${what}: ${buf.length - pos} of ${buf.length} bytes unread`);
  }
  if (typeof timestamp === 'bigint') {
    if (timestamp > SAFE_MAX || timestamp < -SAFE_MAX) {
      throw new DecodeError(`timestamp ${timestamp} is outside the exact range of a JS number (|t| <= 2^53-1)`);
    }
    timestamp = Number(timestamp); // a non-minimal encoding of a small value
  }
  return {
    timestamp,
    userId: typeof userId === 'bigint' ? userId : BigInt(userId),
    platform,
    appVersion,
    deviceId,
  };
}

// --- Encoding --------------------------------------------------------------------------------

/** Below this magnitude zigzag arithmetic on doubles stays exact (2n + 1 < 2^53). */
const NUMBER_ZIGZAG_LIMIT = 2 ** 52;
const BIG_ZIGZAG_LIMIT = 2n ** 52n;

function zigzag(value: number | bigint): number | bigint {
  if (typeof value === 'number' && value < NUMBER_ZIGZAG_LIMIT && value > -NUMBER_ZIGZAG_LIMIT) {
    return value >= 0 ? value * 2 : -value * 2 - 1;
  }
  const v = BigInt(value);
  if (v < BIG_ZIGZAG_LIMIT && v > -BIG_ZIGZAG_LIMIT) return zigzag(Number(v));
  return BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
}

function varintSize(z: number | bigint): number {
  let size = 1;
  if (typeof z === 'number') {
    while (z >= 128) {
      z = Math.floor(z / 128);
      size++;
    }
  } else {
    while (z >= 128n) {
      z >>= 7n;
      size++;
    }
  }
  return size;
}

function writeVarint(out: Buffer, z: number | bigint): void {
  if (typeof z === 'number') {
    while (z >= 128) {
      out[pos++] = (z % 128) | 0x80;
      z = Math.floor(z / 128);
    }
    out[pos++] = z;
  } else {
    while (z >= 128n) {
      out[pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    out[pos++] = Number(z);
  }
}

/**
 * The fields of a v1 body; the caller has checked that they can be encoded.
 */
export interface AppOpenV1Fields {
  timestamp: number;
  userId: bigint;
  platform: string;
  appVersion: string | null;
  deviceId: string | null;
}

/**
 * Writes `header` (may be empty) followed by the v1 body of `event` into one new buffer.
 * The caller guarantees the event is encodable (safe-integer timestamp, int64 userId, strings
 * without lone surrogates).
 */
export function encodeAppOpenV1(event: AppOpenV1Fields, header: Uint8Array): Buffer {
  const ts = zigzag(event.timestamp);
  const id = zigzag(event.userId);
  const platformLength = Buffer.byteLength(event.platform, 'utf8');
  const appVersionLength = event.appVersion === null ? -1 : Buffer.byteLength(event.appVersion, 'utf8');
  const deviceIdLength = event.deviceId === null ? -1 : Buffer.byteLength(event.deviceId, 'utf8');
  const size =
    header.length +
    varintSize(ts) +
    varintSize(id) +
    varintSize(platformLength * 2) +
    platformLength +
    1 +
    (appVersionLength < 0 ? 0 : varintSize(appVersionLength * 2) + appVersionLength) +
    1 +
    (deviceIdLength < 0 ? 0 : varintSize(deviceIdLength * 2) + deviceIdLength);
  const out = Buffer.allocUnsafe(size);
  out.set(header, 0);
  pos = header.length;
  writeVarint(out, ts);
  writeVarint(out, id);
  writeVarint(out, platformLength * 2);
  pos += out.write(event.platform, pos, platformLength, 'utf8');
  for (const [text, length] of [
    [event.appVersion, appVersionLength],
    [event.deviceId, deviceIdLength],
  ] as const) {
    if (text === null) {
      out[pos++] = 0;
    } else {
      out[pos++] = 2; // union branch 1 (string), zigzag
      writeVarint(out, length * 2);
      pos += out.write(text, pos, length, 'utf8');
    }
  }
  if (pos !== size) throw new Error(`AppOpen encoder wrote ${pos} bytes, sized ${size}`); // cannot happen
  return out;
}
