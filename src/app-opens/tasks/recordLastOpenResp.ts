/**
 * recordLastOpens on a standalone Redis: the script calls written straight to RESP bytes. A
 * Cluster (slot routing) or a client with a key prefix takes the generic path in recordLastOpen.ts,
 * which calls {@link recordStandalone} otherwise and turns its outcome into the result.
 *
 * On a single Redis the script calls are written as RESP into one Buffer per call, with every
 * key and timestamp written as digits straight from the numbers (no per-record strings, no
 * per-argument work in ioredis), and sent by the script loader (src/redis/scripts.ts:
 * `sendPrepared`, NOSCRIPT handled there) as ordinary ioredis commands (so the offline queue,
 * reconnection, command timeouts and reply parsing stay ioredis's). Same script, same arguments,
 * same results as the generic path.
 */
import type { Redis } from 'ioredis';
import type { StreamError } from '../../core/errors.js';
import { runBounded, translateRedisError } from '../../redis/connection.js';
import { digitCount, writeBulkBytes, writeBulkDigits, writeBulkHeader, writeCrlf, writeDigits, type RedisScript } from '../../redis/scripts.js';
import { SAFE_MAX } from '../../avro/exactLong.js';
import { validationError, type AppOpen } from '../model/index.js';
import { LAST_OPEN_KEY_PREFIX, LAST_OPEN_KEY_SUFFIX, lastOpenField, lastOpenKeyOfDigits } from './lastOpenKey.js';

const KEY_PREFIX = Buffer.from(LAST_OPEN_KEY_PREFIX, 'latin1');
const KEY_SUFFIX = Buffer.from(LAST_OPEN_KEY_SUFFIX, 'latin1');
/** Upper bound of one key argument (`$<len>\r\nuser:<20 digits or a 20-char bigint>:checkpoint\r\n`). */
const KEY_MAX = 5 + KEY_PREFIX.length + 21 + KEY_SUFFIX.length + 2;
/** Upper bound of one timestamp argument (a safe integer has at most 16 digits). */
const TS_MAX = 5 + 16 + 2;

/** One field's (platform's) newest timestamps: `ids[i]` (a number, or the decimal text of a userId past 2^53) at `ts[i]`. */
interface FieldGroup {
  field: string;
  fieldBytes: Buffer;
  index: Map<number | string, number>;
  ids: Array<number | string>;
  ts: number[];
}

/** One script call: entries [start, end) of a group. */
interface RawCall {
  group: FieldGroup;
  start: number;
  end: number;
}

function keyOf(id: number | string): string {
  return lastOpenKeyOfDigits(typeof id === 'number' ? String(id) : id);
}

/** Newest timestamp per (field, user), keyed by numbers where userIds are safe integers. */
function collapseByField(
  events: readonly AppOpen[],
  rejected: Array<{ index: number; error: StreamError }>,
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
function encodeCall(script: RedisScript, g: FieldGroup, start: number, end: number): Buffer {
  const n = end - start;
  const buf = Buffer.allocUnsafe(script.headMaxBytes + n * (KEY_MAX + TS_MAX) + g.fieldBytes.length + 16);
  let pos = script.writeHead(buf, 0, n, 2 * n + 1);
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
    pos = writeCrlf(buf, pos);
  }
  pos = writeBulkBytes(buf, pos, g.fieldBytes);
  for (let i = start; i < end; i++) pos = writeBulkDigits(buf, pos, g.ts[i] as number);
  return buf.subarray(0, pos);
}

/**
 * What {@link recordStandalone} did: fields sent, fields updated, and the keys the script found
 * holding something other than a hash (with the number of fields they held).
 */
export interface StandaloneOutcome {
  fields: number;
  updated: number;
  badKeys: Set<string>;
  badFields: number;
}

/**
 * recordLastOpens on a standalone Redis without a key prefix: same script, same arguments, same
 * result as the generic path.
 */
export async function recordStandalone(
  redis: Redis,
  script: RedisScript,
  events: readonly AppOpen[],
  maxKeys: number,
  rejected: Array<{ index: number; error: StreamError }>,
  nowSeconds: number,
): Promise<StandaloneOutcome> {
  const { groups, fields } = collapseByField(events, rejected, nowSeconds);
  const outcome: StandaloneOutcome = { fields, updated: 0, badKeys: new Set(), badFields: 0 };
  if (fields === 0) return outcome;
  const calls: RawCall[] = [];
  const bytes: Buffer[] = [];
  for (const g of groups) {
    for (let start = 0; start < g.ids.length; start += maxKeys) {
      const end = Math.min(g.ids.length, start + maxKeys);
      calls.push({ group: g, start, end });
      bytes.push(encodeCall(script, g, start, end));
    }
  }
  const what = `recordLastOpens (${fields} fields in ${calls.length} script calls)`;
  const replies = await runBounded(redis, what, () => script.sendPrepared(redis, bytes));
  for (let c = 0; c < calls.length; c++) {
    const [err, reply] = replies[c] ?? [new Error('no reply'), undefined];
    if (err) throw translateRedisError(err, what, redis);
    const [updated, bad] = reply as [number, number[]];
    outcome.updated += updated;
    const call = calls[c] as RawCall;
    for (const i of bad) {
      const id = call.group.ids[call.start + i - 1];
      if (id !== undefined) {
        outcome.badKeys.add(keyOf(id));
        outcome.badFields++;
      }
    }
  }
  return outcome;
}
