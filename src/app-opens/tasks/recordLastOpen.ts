/**
 * recordLastOpen: per user and platform, the last time the app was opened.
 *
 * Effect: `HSET user:<userId>:checkpoint <platform>_app_open <timestamp>` (decimal text), but
 * monotonic and idempotent: a stored value never moves backwards, so replayed or out-of-order
 * events change nothing. The compare-and-set runs in Redis as one Lua script
 * (recordLastOpenMax.lua; EVALSHA, EVAL on a connection that has not seen it yet or after
 * NOSCRIPT), never as read-then-write from here.
 *
 * Beside it: lastOpenKey.ts (key and field names), the two .lua scripts and recordLastOpenMax.ts
 * (which reads them), recordLastOpenResp.ts (the standalone batch path, written as RESP bytes).
 * Loading the scripts, NOSCRIPT and sending prepared bytes are the script loader's
 * (src/redis/scripts.ts).
 */
import { Cluster } from 'ioredis';
import { NonRetriableError, StreamError } from '../../core/errors.js';
import { runBounded, translateRedisError } from '../../redis/connection.js';
import { recoverAfterFailure } from '../../redis/failover.js';
import type { RedisClient } from '../../redis/connection.js';
import { groupByKeySlot } from '../../redis/keySlot.js';
import { defineScript } from '../../redis/scripts.js';
import { validationError, type AppOpen } from '../model/index.js';
import { RECORD_LAST_OPEN_EACH_LUA, RECORD_LAST_OPEN_MAX_LUA } from './recordLastOpenMax.js';
import { lastOpenField, lastOpenKey, lastOpenKeyOfDigits } from './lastOpenKey.js';
import { recordStandalone } from './recordLastOpenResp.js';

export { lastOpenField, lastOpenKey };

/** The event recorded (the models' AppOpen); only `userId`, `platform` and `timestamp` are used. */
export type { AppOpen };

/**
 * Options of {@link recordLastOpens}.
 */
export interface RecordLastOpensOptions {
  /** Hash fields per script call (one KEYS entry each). Default 1,000. */
  maxKeysPerCall?: number;
}

/**
 * The defaults of {@link RecordLastOpensOptions}.
 */
export const DEFAULT_RECORD_LAST_OPENS_OPTIONS = Object.freeze({ maxKeysPerCall: 1_000 });

/**
 * What {@link recordLastOpens} did.
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
 * The batch compare-and-set (recordLastOpenMax.lua): `numkeys, key1..keyN, field, ts1..tsN`;
 * replies `[updated, [1-based indexes of keys holding another type]]`.
 */
const RECORD_LAST_OPEN_MAX = defineScript({ name: 'recordLastOpenMax', lua: RECORD_LAST_OPEN_MAX_LUA });
/**
 * The per-event compare-and-set of events sent together (recordLastOpenEach.lua):
 * `numkeys, key1..keyN, field1, ts1, .., fieldN, tsN`; replies one character per event.
 */
const RECORD_LAST_OPEN_EACH = defineScript({ name: 'recordLastOpenEach', lua: RECORD_LAST_OPEN_EACH_LUA });

/** recordLastOpenMax's reply: fields updated, and the 1-based indexes (into KEYS) of keys that hold something other than a hash. */
type ScriptReply = [number, number[]];

/**
 * The error of an event whose key holds something other than a hash (the script's bad keys).
 */
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

/**
 * Records one event. Resolves true when the stored value moved forward (or was created), false
 * when it already was at or past `event.timestamp`.
 *
 * Calls made in the same turn of the event loop (the concurrent events of a single processor)
 * are sent together: one script call (recordLastOpenEach.lua) for up to 1,000 of them, all calls
 * in one pipeline (on a cluster, one call per hash slot and one pipeline per node), so a few
 * hundred events cost one round trip and one script run instead of one each. Each event still
 * gets its own answer and its own error, and events of one user sent together are applied in
 * the order of the calls.
 *
 * Rejects with the model's ValidationError (`validationError`, against the system clock) for an
 * invalid event, NonRetriableError when the
 * key holds something other than a hash, and RetriableError when Redis is unreachable, times out
 * or refuses the write for a passing reason (OOM, LOADING, CLUSTERDOWN, ...).
 */
export async function recordLastOpen(redis: RedisClient, event: AppOpen): Promise<boolean> {
  const bad = validationError(event);
  if (bad) throw bad;
  const key = lastOpenKey(event.userId);
  const answer = await enqueue(redis, { key, field: lastOpenField(event.platform), ts: event.timestamp });
  if (answer === '1') return true;
  if (answer === '0') return false;
  const what = `recordLastOpen ${key}`;
  if (answer === 'W') throw wrongType(key, what);
  if (answer instanceof StreamError) throw answer;
  await recoverAfterFailure(redis); // failover handling lives in src/redis/failover.ts
  throw translateRedisError(answer, what, redis);
}

/** Events per recordLastOpenEach call (KEYS entries), as recordLastOpens' default. */
const EACH_MAX_KEYS = 1_000;

/** What an event sent together with others gets: its reply character, or the error of its call. */
type Answer = '1' | '0' | 'W' | Error;

/** An event waiting for the next flush of its client, and where its answer goes. */
interface Queued extends Entry {
  settle: (answer: Answer) => void;
}

/** Per client: the events of this turn of the event loop, sent together by {@link flush}. */
const queued = new WeakMap<RedisClient, Queued[]>();

function enqueue(redis: RedisClient, entry: Entry): Promise<Answer> {
  return new Promise((settle) => {
    let q = queued.get(redis);
    if (q === undefined) {
      q = [];
      queued.set(redis, q);
      // After the I/O callbacks of this turn: replies that came in together start the next
      // events together, and they join this flush.
      setImmediate(flush, redis);
    }
    (entry as Queued).settle = settle;
    q.push(entry as Queued);
  });
}

/** Sends the queued events of `redis` in recordLastOpenEach calls, pipelined; settles each event with its own answer. */
function flush(redis: RedisClient): void {
  const q = queued.get(redis);
  queued.delete(redis);
  if (q === undefined || q.length === 0) return;
  const calls = toCalls(redis instanceof Cluster ? groupByKeySlot(q, keyOfEntry, redis) : [q], EACH_MAX_KEYS) as Queued[][];
  const what = `recordLastOpen (${q.length} events in ${calls.length} script calls)`;
  runBounded(redis, what, () => RECORD_LAST_OPEN_EACH.callMany(redis, calls.map(eachArgs))).then(
    (replies) => {
      for (let c = 0; c < calls.length; c++) {
        const call = calls[c]!;
        const [err, reply] = replies[c] ?? [new Error('no reply'), undefined];
        const chars = typeof reply === 'string' ? reply : '';
        for (let i = 0; i < call.length; i++) {
          const ch = chars[i];
          call[i]!.settle(err ?? (ch === '1' || ch === '0' || ch === 'W' ? ch : new Error(`unexpected reply ${JSON.stringify(reply)}`)));
        }
      }
    },
    // Timed out, or the pipeline failed as a whole: already a StreamError, the same for each event.
    (err: Error) => {
      for (const x of q) x.settle(err);
    },
  );
}

/** `numkeys, key1..keyN, field1, ts1, .., fieldN, tsN` for one recordLastOpenEach call. */
function eachArgs(call: Entry[]): Array<string | number> {
  const n = call.length;
  const args: Array<string | number> = [n];
  for (let i = 0; i < n; i++) args.push(call[i]!.key);
  for (let i = 0; i < n; i++) {
    const e = call[i]!;
    args.push(e.field, String(e.ts));
  }
  return args;
}

const keyOfEntry = (e: Entry): string => e.key;

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
  if (!(redis instanceof Cluster) && !redis.options.keyPrefix) {
    const done = await recordStandalone(redis, RECORD_LAST_OPEN_MAX, events, maxKeys, rejected, nowSeconds);
    const standalone: RecordLastOpensResult = { events: events.length, fields: done.fields, updated: done.updated, unchanged: done.fields - done.updated - done.badFields, rejected };
    if (done.badKeys.size > 0) rejectWrongTypeEvents(events, done.badKeys, rejected, nowSeconds);
    return standalone;
  }
  const newest = collapse(events, rejected, nowSeconds);
  const result: RecordLastOpensResult = { events: events.length, fields: newest.size, updated: 0, unchanged: 0, rejected };
  if (newest.size === 0) return result;

  const groups = redis instanceof Cluster ? groupBySlotAndField(newest.values(), redis) : groupByField(newest.values());
  const calls = toCalls(groups, maxKeys);
  const what = `recordLastOpens (${newest.size} fields in ${calls.length} script calls)`;
  const replies = await runBounded(redis, what, () => RECORD_LAST_OPEN_MAX.callMany(redis, calls.map(scriptArgs)));

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
function groupBySlotAndField(entries: Iterable<Entry>, client: RedisClient): Entry[][] {
  const groups: Entry[][] = [];
  for (const g of groupByKeySlot(entries, keyOfEntry, client)) {
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
