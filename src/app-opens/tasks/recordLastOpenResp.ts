/**
 * recordLastOpens on a standalone Redis: the script calls written straight to RESP bytes. A
 * Cluster (slot routing) or a client with a key prefix takes the generic path in recordLastOpen.ts.
 */
import { Command, type Redis } from 'ioredis';
import { runBounded, translateRedisError } from '../../redis/connection.js';
import { SAFE_MAX } from '../../avro/exactLong.js';
import { validationError, type AppOpen } from '../model/index.js';
import type { RecordLastOpensResult } from './recordLastOpen.js';
import { RECORD_LAST_OPEN_MAX_LUA, RECORD_LAST_OPEN_MAX_SHA, type RecordLastOpenMaxReply, type Replies } from './recordLastOpenMax.js';
import { rejectWrongTypeEvents } from './wrongTypeRejections.js';
import { LAST_OPEN_KEY_PREFIX, LAST_OPEN_KEY_SUFFIX, lastOpenField, lastOpenKeyOfDigits } from './lastOpenKey.js';

type ScriptReply = RecordLastOpenMaxReply;

// --- Standalone Redis: the batch path written straight to RESP bytes ----------------------------
//
// On a single Redis the script calls are written as RESP into one Buffer per call, with every
// key and timestamp written as digits straight from the numbers (no per-record strings, no
// per-argument work in ioredis), and sent as ordinary ioredis commands (so the offline queue,
// reconnection, command timeouts and reply parsing stay ioredis's). Same script, same arguments,
// same results as the generic path (recordLastOpen.ts), which a Cluster (slot routing) still takes.

const CRLF0 = 0x0d;
const CRLF1 = 0x0a;
const KEY_PREFIX = Buffer.from(LAST_OPEN_KEY_PREFIX, 'latin1');
const KEY_SUFFIX = Buffer.from(LAST_OPEN_KEY_SUFFIX, 'latin1');
const CALL_HEAD = Buffer.from(`$7\r\nEVALSHA\r\n$40\r\n${RECORD_LAST_OPEN_MAX_SHA}\r\n`, 'latin1');
/** Bytes a call's header may take besides CALL_HEAD: `*<argc>\r\n` and `$<len>\r\n<numkeys>\r\n`. */
const HEAD_SLACK = 40;
/** Upper bound of one key argument (`$<len>\r\nuser:<20 digits or a 20-char bigint>:checkpoint\r\n`). */
const KEY_MAX = 5 + KEY_PREFIX.length + 21 + KEY_SUFFIX.length + 2;
/** Upper bound of one timestamp argument (a safe integer has at most 16 digits). */
const TS_MAX = 5 + 16 + 2;

/** Decimal digits of a non-negative safe integer. */
function digitCount(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Writes the decimal digits of a non-negative safe integer at `pos`; returns the new position. */
function writeDigits(buf: Buffer, pos: number, n: number, digits: number): number {
  let p = pos + digits;
  for (let i = 0; i < digits; i++) {
    const q = Math.floor(n / 10);
    buf[--p] = 48 + (n - q * 10);
    n = q;
  }
  return pos + digits;
}

/** Writes `$<len>\r\n` for a bulk string of `len` bytes. */
function writeBulkHeader(buf: Buffer, pos: number, len: number): number {
  buf[pos++] = 0x24; // $
  pos = writeDigits(buf, pos, len, digitCount(len));
  buf[pos++] = CRLF0;
  buf[pos++] = CRLF1;
  return pos;
}

/** One field's (platform's) newest timestamps: `ids[i]` (a number, or the decimal text of a userId past 2^53) at `ts[i]`. */
interface FieldGroup {
  field: string;
  fieldBytes: Buffer;
  index: Map<number | string, number>;
  ids: Array<number | string>;
  ts: number[];
}

/** One script call: entries [start, end) of a group, and its RESP bytes. */
interface RawCall {
  group: FieldGroup;
  start: number;
  end: number;
  bytes: Buffer;
}

/** A command whose bytes on the wire are prepared already. */
class PreparedCommand extends Command {
  constructor(private readonly bytes: Buffer) {
    super('evalsha', []);
  }
  override toWritable(): Buffer {
    return this.bytes;
  }
}

function keyOf(id: number | string): string {
  return lastOpenKeyOfDigits(typeof id === 'number' ? String(id) : id);
}

/** Newest timestamp per (field, user), keyed by numbers where userIds are safe integers. */
function collapseByField(
  events: readonly AppOpen[],
  rejected: RecordLastOpensResult['rejected'],
  nowSeconds: number,
): { groups: FieldGroup[]; fields: number } {
  const byField = new Map<string, FieldGroup>();
  const groups: FieldGroup[] = [];
  let fields = 0;
  let last: FieldGroup | undefined;
  let lastPlatform = '';
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as AppOpen;
    const bad = validationError(event, nowSeconds);
    if (bad) {
      rejected.push({ index: i, error: bad });
      continue;
    }
    let group = last !== undefined && event.platform === lastPlatform ? last : byField.get(event.platform);
    if (group === undefined) {
      const field = lastOpenField(event.platform);
      group = { field, fieldBytes: Buffer.from(field, 'utf8'), index: new Map(), ids: [], ts: [] };
      byField.set(event.platform, group);
      groups.push(group);
    }
    last = group;
    lastPlatform = event.platform;
    const uid = event.userId;
    const id: number | string = uid <= SAFE_MAX ? Number(uid) : uid.toString();
    const at = group.index.get(id);
    if (at === undefined) {
      group.index.set(id, group.ids.length);
      group.ids.push(id);
      group.ts.push(event.timestamp);
      fields++;
    } else if (event.timestamp > (group.ts[at] as number)) {
      group.ts[at] = event.timestamp;
    }
  }
  return { groups, fields };
}

/** The RESP bytes of `EVALSHA <sha> <n> key1..keyN field ts1..tsN` for entries [start, end) of `g`. */
function encodeCall(g: FieldGroup, start: number, end: number): Buffer {
  const n = end - start;
  const buf = Buffer.allocUnsafe(CALL_HEAD.length + HEAD_SLACK + n * (KEY_MAX + TS_MAX) + g.fieldBytes.length + 16);
  let pos = 0;
  buf[pos++] = 0x2a; // *
  const argc = 3 + 2 * n + 1;
  pos = writeDigits(buf, pos, argc, digitCount(argc));
  buf[pos++] = CRLF0;
  buf[pos++] = CRLF1;
  pos += CALL_HEAD.copy(buf, pos);
  const nd = digitCount(n);
  pos = writeBulkHeader(buf, pos, nd);
  pos = writeDigits(buf, pos, n, nd);
  buf[pos++] = CRLF0;
  buf[pos++] = CRLF1;
  const fixed = KEY_PREFIX.length + KEY_SUFFIX.length;
  for (let i = start; i < end; i++) {
    const id = g.ids[i] as number | string;
    if (typeof id === 'number') {
      const d = digitCount(id);
      pos = writeBulkHeader(buf, pos, fixed + d);
      pos += KEY_PREFIX.copy(buf, pos);
      pos = writeDigits(buf, pos, id, d);
    } else {
      pos = writeBulkHeader(buf, pos, fixed + id.length);
      pos += KEY_PREFIX.copy(buf, pos);
      pos += buf.write(id, pos, 'latin1');
    }
    pos += KEY_SUFFIX.copy(buf, pos);
    buf[pos++] = CRLF0;
    buf[pos++] = CRLF1;
  }
  pos = writeBulkHeader(buf, pos, g.fieldBytes.length);
  pos += g.fieldBytes.copy(buf, pos);
  buf[pos++] = CRLF0;
  buf[pos++] = CRLF1;
  for (let i = start; i < end; i++) {
    const ts = g.ts[i] as number;
    const d = digitCount(ts);
    pos = writeBulkHeader(buf, pos, d);
    pos = writeDigits(buf, pos, ts, d);
    buf[pos++] = CRLF0;
    buf[pos++] = CRLF1;
  }
  return buf.subarray(0, pos);
}

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');

async function sendRaw(redis: Redis, calls: RawCall[]): Promise<Replies> {
  const send = (c: RawCall): Promise<[Error | null, unknown]> =>
    (redis.sendCommand(new PreparedCommand(c.bytes)) as Promise<unknown>).then(
      (reply) => [null, reply],
      (err: Error) => [err, undefined],
    );
  const replies = await Promise.all(calls.map(send));
  if (!replies.some(([err]) => isNoScript(err))) return replies;
  // The server does not know the script (restarted, failed over, SCRIPT FLUSH): load it, then
  // send again the calls it refused (they changed nothing; the others were applied).
  await redis.script('LOAD', RECORD_LAST_OPEN_MAX_LUA);
  return Promise.all(calls.map((c, k) => (isNoScript(replies[k]![0]) ? send(c) : replies[k]!)));
}

/**
 * recordLastOpens on a standalone Redis without a key prefix: same script, same arguments, same
 * result as the generic path.
 */
export async function recordStandalone(
  redis: Redis,
  events: readonly AppOpen[],
  maxKeys: number,
  rejected: RecordLastOpensResult['rejected'],
  nowSeconds: number,
): Promise<RecordLastOpensResult> {
  const { groups, fields } = collapseByField(events, rejected, nowSeconds);
  const result: RecordLastOpensResult = { events: events.length, fields, updated: 0, unchanged: 0, rejected };
  if (fields === 0) return result;
  const calls: RawCall[] = [];
  for (const g of groups) {
    for (let start = 0; start < g.ids.length; start += maxKeys) {
      const end = Math.min(g.ids.length, start + maxKeys);
      calls.push({ group: g, start, end, bytes: encodeCall(g, start, end) });
    }
  }
  const what = `recordLastOpens (${fields} fields in ${calls.length} script calls)`;
  const replies = await runBounded(redis, what, () => sendRaw(redis, calls));
  const badKeys = new Set<string>();
  let badFields = 0;
  for (let c = 0; c < calls.length; c++) {
    const [err, reply] = replies[c] ?? [new Error('no reply'), undefined];
    if (err) throw translateRedisError(err, what, redis);
    const [updated, bad] = reply as ScriptReply;
    result.updated += updated;
    const call = calls[c] as RawCall;
    for (const i of bad) {
      const id = call.group.ids[call.start + i - 1];
      if (id !== undefined) {
        badKeys.add(keyOf(id));
        badFields++;
      }
    }
  }
  result.unchanged = fields - result.updated - badFields;
  if (badKeys.size > 0) {
    rejectWrongTypeEvents(events, badKeys, rejected, nowSeconds);
  }
  return result;
}
