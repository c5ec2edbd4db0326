/**
 * recordLastOpen: per user and platform, the last time the app was opened.
 *
 * Effect: `HSET user:<userId>:checkpoint <platform>_app_open <timestamp>` (decimal text), but
 * monotonic and idempotent: a stored value never moves backwards, so replayed or out-of-order
 * events change nothing. The compare-and-set runs in Redis as one Lua script
 * (recordLastOpenMax.lua; EVALSHA, EVAL on a connection that has not seen it yet or after
 * NOSCRIPT), never as read-then-write from here.
 */
import { Cluster, Command, Redis } from 'ioredis';
import { NonRetriableError } from '../../core/errors.js';
import type { StreamError } from '../../core/errors.js';
import { runBounded, translateRedisError } from '../../redis/connection.js';
import { recoverAfterFailure } from '../../redis/failover.js';
import type { RedisClient } from '../../redis/connection.js';
import { keySlot } from '../../redis/keySlot.js';
import { SAFE_MAX } from '../../avro/exactLong.js';
import { validationError, type AppOpen } from '../model/index.js';
import { RECORD_LAST_OPEN_MAX_LUA, RECORD_LAST_OPEN_MAX_SHA, type RecordLastOpenMaxReply } from './recordLastOpenMax.js';
import { LAST_OPEN_KEY_PREFIX, LAST_OPEN_KEY_SUFFIX, lastOpenField, lastOpenKey, lastOpenKeyOfDigits } from './lastOpenKey.js';

export { lastOpenField, lastOpenKey };

/** The event recorded (the models' AppOpen); only `userId`, `platform` and `timestamp` are used. */
export type { AppOpen };

/**
 * Options of {@link recordLastOpens}.
 *
 * @example
 * await recordLastOpens(redis, events, { maxKeysPerCall: 4_000 });
 */
export interface RecordLastOpensOptions {
  /** Hash fields per script call (one KEYS entry each). Default 1,000. */
  maxKeysPerCall?: number;
}

/**
 * The defaults of {@link RecordLastOpensOptions}.
 *
 * @example
 * DEFAULT_RECORD_LAST_OPENS_OPTIONS.maxKeysPerCall; // 1000
 */
export const DEFAULT_RECORD_LAST_OPENS_OPTIONS = Object.freeze({ maxKeysPerCall: 1_000 });

/**
 * What {@link recordLastOpens} did.
 *
 * @example
 * const { updated, unchanged, rejected } = await recordLastOpens(redis, events);
 * logger.debug({ updated, unchanged, rejected: rejected.length }, 'batch applied');
 */
export interface RecordLastOpensResult {
  /** Events given. */
  events: number;
  /** Distinct (user, platform) fields sent to Redis after keeping the newest event of each. */
  fields: number;
  /** Fields created or moved forward. */
  updated: number;
  /** Fields already at or past the newest timestamp of the batch (replays, older events). */
  unchanged: number;
  /**
   * Events that cannot be applied, by index into the given array, with the reason: invalid
   * (ValidationError) or their key holds something other than a hash (NonRetriableError,
   * WRONGTYPE). Shaped like `BatchResult.failed`, so a batch processor can return it as is.
   * Every other event was applied.
   */
  rejected: Array<{ index: number; error: StreamError }>;
}

/**
 * The command name carries the script's hash: two copies (versions) of this module sharing one
 * client then define two commands instead of silently replacing each other's script.
 */
const SCRIPT = `recordLastOpenMax_${RECORD_LAST_OPEN_MAX_SHA.slice(0, 12)}`;

type ScriptReply = RecordLastOpenMaxReply;
/** Calls the script command ioredis defined on `target` (a client or a pipeline). */
function invoke<R>(target: object, args: Array<string | number>): R {
  const fn = (target as Record<string, unknown>)[SCRIPT] as (...a: Array<string | number>) => R;
  return fn.apply(target, args);
}

const defined = new WeakSet<object>();

function withScript(client: RedisClient): RedisClient {
  if (!defined.has(client)) {
    client.defineCommand(SCRIPT, { lua: RECORD_LAST_OPEN_MAX_LUA });
    defined.add(client);
  }
  return client;
}

/**
 * Records one event. Resolves true when the stored value moved forward (or was created), false
 * when it already was at or past `event.timestamp`.
 *
 * Rejects with the model's ValidationError (`validationError`, against the system clock) for an
 * invalid event, NonRetriableError when the
 * key holds something other than a hash, and RetriableError when Redis is unreachable, times out
 * or refuses the write for a passing reason (OOM, LOADING, CLUSTERDOWN, ...).
 *
 * @example
 * await recordLastOpen(redis, { userId: 42n, platform: 'ios', timestamp: 1764000000, appVersion: null, deviceId: null });
 * // HGET user:42:checkpoint ios_app_open -> '1764000000'
 */
export async function recordLastOpen(redis: RedisClient, event: AppOpen): Promise<boolean> {
  const bad = validationError(event);
  if (bad) throw bad;
  const key = lastOpenKey(event.userId);
  const what = `recordLastOpen ${key}`;
  const client = withScript(redis);
  const [updated, badKeys] = await runBounded(redis, what, () =>
    invoke<Promise<ScriptReply>>(client, [1, key, lastOpenField(event.platform), String(event.timestamp)]),
  );
  if (badKeys.length > 0) throw wrongType(key, what);
  return updated > 0;
}

function wrongType(key: string, what: string): NonRetriableError {
  return new NonRetriableError(`redis ${what} failed: WRONGTYPE ${key} holds a value that is not a hash`);
}

/**
 * Rare: a key held something other than a hash (WRONGTYPE). Every valid event that wrote such a
 * key is rejected, by index, and `rejected` is left sorted by index. `nowSeconds` is the clock
 * reading the batch was validated with, so an event is never rejected twice.
 */
function rejectWrongTypeEvents(
  events: readonly AppOpen[],
  badKeys: ReadonlySet<string>,
  rejected: RecordLastOpensResult['rejected'],
  nowSeconds: number,
): void {
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as AppOpen;
    if (typeof e.userId !== 'bigint') continue;
    const key = lastOpenKey(e.userId);
    if (badKeys.has(key) && validationError(e, nowSeconds) === undefined) rejected.push({ index: i, error: wrongType(key, 'recordLastOpens') });
  }
  rejected.sort((a, b) => a.index - b.index);
}

/** The newest event of one (user, platform) field of a batch. */
interface Entry {
  key: string;
  field: string;
  ts: number;
}

/**
 * Records a batch with the semantics of calling {@link recordLastOpen} for each event, in few
 * round trips: the batch is collapsed to the newest timestamp per (user, platform), the fields are
 * sent in script calls of up to `maxKeysPerCall` keys (one platform per call), pipelined (one
 * pipeline per node on a cluster, where each call holds keys of a single hash slot), and all
 * replies awaited.
 *
 * Events that break the model's rules (`validationError`, with one clock reading for the whole
 * batch), and events whose key holds something other than a hash, are reported in `rejected` and
 * everything else is applied. Rejects (RetriableError) when Redis is unreachable,
 * times out or refuses writes; some fields may then be written already, which is harmless: a retry
 * of the whole batch gives the same final state.
 *
 * @example
 * const result = await recordLastOpens(redis, events);
 * // { events: 10000, fields: 9120, updated: 9000, unchanged: 120, rejected: [] }
 * return { failed: result.rejected }; // from a BatchProcessor
 */
export async function recordLastOpens(
  redis: RedisClient,
  events: readonly AppOpen[],
  options: RecordLastOpensOptions = {},
): Promise<RecordLastOpensResult> {
  const maxKeys = options.maxKeysPerCall ?? DEFAULT_RECORD_LAST_OPENS_OPTIONS.maxKeysPerCall;
  if (!(Number.isInteger(maxKeys) && maxKeys >= 1 && maxKeys <= 100_000)) {
    throw new TypeError('Expected `maxKeysPerCall` to be an integer from 1 to 100000.');
  }
  const rejected: RecordLastOpensResult['rejected'] = [];
  const nowSeconds = Date.now() / 1000;
  if (!(redis instanceof Cluster) && !redis.options.keyPrefix) return recordStandalone(redis, events, maxKeys, rejected, nowSeconds);
  const newest = collapse(events, rejected, nowSeconds);
  const result: RecordLastOpensResult = { events: events.length, fields: newest.size, updated: 0, unchanged: 0, rejected };
  if (newest.size === 0) return result;

  const client = withScript(redis);
  const groups = redis instanceof Cluster ? groupBySlotAndField(newest.values()) : groupByField(newest.values());
  const calls = toCalls(groups, maxKeys);
  const what = `recordLastOpens (${newest.size} fields in ${calls.length} script calls)`;
  const replies = await runBounded(redis, what, () => send(client, calls));

  const badKeys = new Set<string>();
  for (let c = 0; c < calls.length; c++) {
    const [err, reply] = replies[c] ?? [new Error('no reply'), undefined];
    if (err) {
      await recoverAfterFailure(redis); // failover handling lives in src/redis/failover.ts
      throw translateRedisError(err, what, redis);
    }
    const [updated, bad] = reply as ScriptReply;
    result.updated += updated;
    const callEntries = calls[c] as Entry[];
    for (const i of bad) {
      const e = callEntries[i - 1];
      if (e) badKeys.add(e.key);
    }
  }
  result.unchanged = newest.size - result.updated;
  if (badKeys.size > 0) {
    rejectWrongTypeEvents(events, badKeys, rejected, nowSeconds);
    for (const key of badKeys) {
      for (const e of newest.values()) if (e.key === key) result.unchanged--;
    }
  }
  return result;
}

/** Newest timestamp per (user, platform); invalid events go to `rejected`. */
function collapse(events: readonly AppOpen[], rejected: RecordLastOpensResult['rejected'], nowSeconds: number): Map<string, Entry> {
  const newest = new Map<string, Entry>();
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as AppOpen;
    const bad = validationError(event, nowSeconds);
    if (bad) {
      rejected.push({ index: i, error: bad });
      continue;
    }
    // A userId is digits only, so the first '|' separates it from the platform unambiguously.
    const uid = event.userId.toString();
    const id = `${uid}|${event.platform}`;
    const seen = newest.get(id);
    if (seen === undefined) {
      newest.set(id, { key: lastOpenKeyOfDigits(uid), field: lastOpenField(event.platform), ts: event.timestamp });
    } else if (event.timestamp > seen.ts) {
      seen.ts = event.timestamp;
    }
  }
  return newest;
}

/** Entries grouped by field (a script call writes one field), in first-seen order. */
function groupByField(entries: Iterable<Entry>): Entry[][] {
  const byField = new Map<string, Entry[]>();
  for (const e of entries) {
    const group = byField.get(e.field);
    if (group) group.push(e);
    else byField.set(e.field, [e]);
  }
  return [...byField.values()];
}

/**
 * Entries grouped by cluster hash slot (a script call may only touch keys of one slot), then by
 * field.
 */
function groupBySlotAndField(entries: Iterable<Entry>): Entry[][] {
  const bySlot = new Map<number, Entry[]>();
  for (const e of entries) {
    const slot = keySlot(e.key);
    const group = bySlot.get(slot);
    if (group) group.push(e);
    else bySlot.set(slot, [e]);
  }
  const groups: Entry[][] = [];
  for (const g of bySlot.values()) {
    if (g.length === 1 || g.every((e) => e.field === (g[0] as Entry).field)) groups.push(g);
    else groups.push(...groupByField(g));
  }
  return groups;
}

/** Splits each group into calls of at most `maxKeys` entries. */
function toCalls(groups: Entry[][], maxKeys: number): Entry[][] {
  const calls: Entry[][] = [];
  for (const g of groups) {
    if (g.length <= maxKeys) calls.push(g);
    else for (let i = 0; i < g.length; i += maxKeys) calls.push(g.slice(i, i + maxKeys));
  }
  return calls;
}

/** `numkeys, key1..keyN, field, ts1..tsN` for one call (all entries of a call share a field). */
function scriptArgs(call: Entry[]): Array<string | number> {
  const n = call.length;
  // Filled by push, not preallocated: a packed array is cheaper for ioredis to copy.
  const args: Array<string | number> = [n];
  for (let i = 0; i < n; i++) args.push((call[i] as Entry).key);
  args.push((call[0] as Entry).field);
  for (let i = 0; i < n; i++) args.push(String((call[i] as Entry).ts));
  return args;
}

type Replies = Array<[Error | null, unknown]>;

/**
 * Sends every call and resolves with one [error, reply] per call, in order. Standalone: one
 * pipeline. Cluster: one pipeline per node (ioredis refuses pipelines spanning nodes); a call
 * whose slot has no known node yet (topology still loading) is sent on its own and routed by
 * ioredis.
 */
async function send(client: RedisClient, calls: Entry[][]): Promise<Replies> {
  if (!(client instanceof Cluster)) {
    const pipeline = client.pipeline();
    for (const call of calls) invoke<unknown>(pipeline, scriptArgs(call));
    return ((await pipeline.exec()) ?? []) as Replies;
  }
  const replies: Replies = new Array(calls.length);
  const byNode = new Map<string, number[]>();
  const loose: Array<Promise<void>> = [];
  for (let c = 0; c < calls.length; c++) {
    const first = (calls[c] as Entry[])[0] as Entry;
    const nodes = client.slots[keySlot(first.key)];
    if (!nodes || nodes.length === 0) {
      loose.push(
        invoke<Promise<ScriptReply>>(client, scriptArgs(calls[c] as Entry[])).then(
          (r) => void (replies[c] = [null, r]),
          (err: Error) => void (replies[c] = [err, undefined]),
        ),
      );
      continue;
    }
    const node = nodes.join(',');
    const list = byNode.get(node);
    if (list) list.push(c);
    else byNode.set(node, [c]);
  }
  const piped = [...byNode.values()].map(async (indexes) => {
    const pipeline = client.pipeline();
    for (const c of indexes) invoke<unknown>(pipeline, scriptArgs(calls[c] as Entry[]));
    try {
      const out = ((await pipeline.exec()) ?? []) as Replies;
      indexes.forEach((c, i) => (replies[c] = out[i] ?? [new Error('no reply'), undefined]));
    } catch (err) {
      for (const c of indexes) replies[c] = [err as Error, undefined];
    }
  });
  await Promise.all([...piped, ...loose]);
  return replies;
}

// --- Standalone Redis: the batch path written straight to RESP bytes ----------------------------
//
// On a single Redis the script calls are written as RESP into one Buffer per call, with every
// key and timestamp written as digits straight from the numbers (no per-record strings, no
// per-argument work in ioredis), and sent as ordinary ioredis commands (so the offline queue,
// reconnection, command timeouts and reply parsing stay ioredis's). Same script, same arguments,
// same results as the generic path above, which a Cluster (slot routing) still takes.

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

async function recordStandalone(
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
