/**
 * recordDailyActives: which users opened the app on each UTC day, one HyperLogLog per day.
 *
 * Effect: `PFADD dau:<yyyy-mm-dd> <userId>` per AppOpen. Idempotent and order-free by nature
 * (adding a member twice changes nothing), so replays and out-of-order events need no script, and
 * chunks of a batch may land in any order. `PFCOUNT dau:2026-12-01` then answers "how many users
 * opened the app that day" within HyperLogLog's 0.81% standard error, in 12 KB per day.
 *
 * The second task of the app, next to recordLastOpen: it shows what a user's own projection needs
 * (a task file here, an entry point in ../bin/, a properties template) and that it touches no file
 * of the framework.
 */
import { NonRetriableError, type StreamError } from '../../core/errors.js';
import { runBounded, type RedisClient } from '../../redis/connection.js';
import { validationError, type AppOpen } from '../model/index.js';

/**
 * Options of {@link recordDailyActives}.
 */
export interface RecordDailyActivesOptions {
  /** User ids per PFADD call. Default 2,000. */
  maxMembersPerCall?: number;
}

/**
 * What {@link recordDailyActives} did.
 */
export interface RecordDailyActivesResult {
  /** Events given. */
  events: number;
  /** Distinct day keys written. */
  days: number;
  /** PFADD calls that changed a day's estimate (a new member, as far as HyperLogLog can tell). */
  changed: number;
  /**
   * Events that cannot be applied, by index, with the reason: invalid (ValidationError), or their
   * day key holds something other than a HyperLogLog (NonRetriableError, WRONGTYPE). Shaped like
   * `BatchResult.failed`. Every other event was applied.
   */
  rejected: Array<{ index: number; error: StreamError }>;
}

/**
 * The day key of a Unix timestamp (seconds), by UTC date.
 */
export function dailyActivesKey(timestamp: number): string {
  return `dau:${new Date(timestamp * 1000).toISOString().slice(0, 10)}`;
}

/**
 * Adds each event's user to the HyperLogLog of its UTC day, in few round trips: events grouped by
 * day, PFADD calls of up to `maxMembersPerCall` users, all in flight at once (ioredis routes each
 * to its node on a cluster), all replies awaited. Invalid events and events whose day key holds
 * another type are reported in `rejected`; every other event is applied. Rejects (RetriableError)
 * when Redis is unreachable, times out or refuses writes; a retry of the whole batch gives the
 * same final state.
 */
export async function recordDailyActives(
  redis: RedisClient,
  events: readonly AppOpen[],
  options: RecordDailyActivesOptions = {},
): Promise<RecordDailyActivesResult> {
  const perCall = options.maxMembersPerCall ?? 2_000;
  if (!(Number.isInteger(perCall) && perCall > 0)) throw new TypeError('Expected `maxMembersPerCall` to be a positive integer.');
  const rejected: RecordDailyActivesResult['rejected'] = [];
  const byDay = new Map<string, { members: string[]; indexes: number[] }>();
  const nowSeconds = Date.now() / 1000; // one clock reading for the whole batch
  events.forEach((event, index) => {
    const invalid = validationError(event, nowSeconds);
    if (invalid) {
      rejected.push({ index, error: invalid });
      return;
    }
    const key = dailyActivesKey(event.timestamp);
    let day = byDay.get(key);
    if (!day) byDay.set(key, (day = { members: [], indexes: [] }));
    day.members.push(String(event.userId));
    day.indexes.push(index);
  });
  let changed = 0;
  const calls: Array<Promise<void>> = [];
  for (const [key, day] of byDay) {
    for (let from = 0; from < day.members.length; from += perCall) {
      const members = day.members.slice(from, from + perCall);
      const indexes = day.indexes.slice(from, from + perCall);
      const what = `recordDailyActives PFADD ${key} (${members.length} users)`;
      calls.push(
        runBounded(redis, what, () => redis.pfadd(key, ...members)).then(
          (reply) => {
            changed += reply;
          },
          (err: unknown) => {
            // WRONGTYPE: this day's key is not a HyperLogLog. Those events cannot be applied, ever.
            if (!(err instanceof NonRetriableError)) throw err;
            for (const index of indexes) rejected.push({ index, error: err });
          },
        ),
      );
    }
  }
  const settled = await Promise.allSettled(calls);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  rejected.sort((a, b) => a.index - b.index);
  return { events: events.length, days: byDay.size, changed, rejected };
}
