/**
 * Redis failures in the project's terms: ioredis and Redis errors translated into retriable or
 * non-retriable StreamErrors (the password scrubbed), and operations run under a hard deadline.
 */
import { Cluster } from 'ioredis';
import { NonRetriableError, RetriableError, StreamError, errorMessage, type ErrorClassification } from '../core/errors.js';
import { recoverAfterFailure } from './failover.js';
import { DEFAULT_REDIS_CLIENT_OPTIONS, clientSettings, describeClient, type RedisClient } from './settings.js';

/**
 * Redis reply codes (the first word of an error reply) that a retry can cure: the server is
 * out of memory or loading, a script is busy, the cluster is resharding or failing over, a
 * replica was written to, or persistence is failing.
 */
const TRANSIENT_REPLY_CODES = [
  'OOM',
  'NOREPLICAS',
  'LOADING',
  'BUSY',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'READONLY',
  'MISCONF',
  'MOVED',
  'ASK',
  'NOSCRIPT',
  'UNBLOCKED',
];

/**
 * Reply codes that no retry can cure, because the data in Redis is in the way: a key of the
 * wrong type. Every other reply (authentication, permissions, unknown commands) is treated as
 * retriable: those are configuration problems an operator fixes, and dead-lettering good records
 * meanwhile would lose them. The shard stalls with a log line per retry instead.
 */
const PERMANENT_REPLY_CODES = ['WRONGTYPE'];

/** The verdict of each known reply code: true for the transient ones, false for the permanent. */
const REPLY_CODES: ReadonlyMap<string, boolean> = new Map([
  ...TRANSIENT_REPLY_CODES.map((code): [string, boolean] => [code, true]),
  ...PERMANENT_REPLY_CODES.map((code): [string, boolean] => [code, false]),
]);

/**
 * Classifies an error from ioredis by its {@link replyCode}: the transient codes are retriable,
 * the permanent ones are not (`rule: 'reply code <CODE>'`), and any other reply (or an error that
 * is no reply) is retriable with no rule named (`rule: undefined`), which
 * {@link translateRedisError} says in its message. An app that wants another answer for a reply
 * passes its own function to `translateRedisError`, falling back to this one.
 */
export function classifyRedisError(err: unknown): ErrorClassification {
  const code = replyCode(err);
  const retriable = code === undefined ? undefined : REPLY_CODES.get(code);
  return retriable === undefined ? { retriable: true, rule: undefined } : { retriable, rule: `reply code ${code}` };
}

/**
 * The first word of a Redis error reply ("OOM", "WRONGTYPE", ...), or undefined when `err` is not
 * a Redis reply error.
 */
export function replyCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: unknown; message?: unknown };
  if (e.name !== 'ReplyError' || typeof e.message !== 'string') return undefined;
  const m = /^([A-Z][A-Z_-]*)\b/.exec(e.message);
  return m?.[1];
}

/**
 * Translates an error from ioredis into the project's classes, keeping the original as `cause`.
 * {@link StreamError}s pass through unchanged.
 *
 * - Lost or refused connections, timeouts, a closed connection, `MaxRetriesPerRequestError`,
 *   `ClusterAllFailedError`: {@link RetriableError}.
 * - Redis error replies: OOM, NOREPLICAS, LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN,
 *   READONLY, MISCONF, MOVED/ASK (if ever surfaced), and any reply not known to be permanent:
 *   {@link RetriableError}. WRONGTYPE: {@link NonRetriableError}.
 *
 * The message starts with `what` and the redacted server; it never contains a password.
 * `classify` decides (default {@link classifyRedisError}).
 *
 * @example
 * try { await redis.hset('user:1:checkpoint', 'ios_app_open', '1764000000'); }
 * catch (err) { throw translateRedisError(err, 'HSET user:1:checkpoint', redis); }
 */
export function translateRedisError(
  err: unknown,
  what: string,
  client?: RedisClient,
  classify: (err: unknown) => ErrorClassification = classifyRedisError,
): StreamError {
  if (err instanceof StreamError) return err;
  const where = client ? clientSettings.get(client)?.where ?? describeClient(client) : undefined;
  const prefix = `redis ${what}${where ? ` on ${where}` : ''}`;
  const cause = scrub(err);
  const message = `${prefix} failed: ${errorMessage(err)}`;
  const verdict = classify(err);
  if (!verdict.retriable) return new NonRetriableError(message, { cause });
  if (verdict.rule === undefined && replyCode(err) !== undefined) {
    return new RetriableError(`${message} (not a known transient reply; retrying anyway so no good record is dead-lettered)`, { cause });
  }
  return new RetriableError(message, { cause });
}

/**
 * ioredis attaches the failing command (`err.command = { name, args }`) to reply errors. For
 * AUTH and HELLO the arguments hold the password: replace them before the error travels on in
 * `cause` and reaches a log serializer.
 */
function scrub(err: unknown): unknown {
  if (typeof err !== 'object' || err === null) return err;
  const e = err as { command?: { name?: unknown; args?: unknown } };
  const name = typeof e.command?.name === 'string' ? e.command.name.toLowerCase() : '';
  if ((name === 'auth' || name === 'hello') && Array.isArray(e.command?.args)) {
    e.command.args = e.command.args.map(() => '***');
  }
  return err;
}

/**
 * Runs a Redis operation with a hard deadline (the client's `commandTimeoutMs` plus 1 s, or 6 s
 * for clients not made by {@link createRedisClient}) and translates its failure with
 * {@link translateRedisError}. The deadline also covers commands a Cluster client holds in its
 * own offline queue while it has no node to send them to.
 *
 * @example
 * const n = await runBounded(redis, 'HLEN user:1:checkpoint', () => redis.hlen('user:1:checkpoint'));
 */
export function runBounded<T>(client: RedisClient, what: string, op: () => Promise<T>): Promise<T> {
  const limit = (clientSettings.get(client)?.commandTimeoutMs ?? DEFAULT_REDIS_CLIENT_OPTIONS.commandTimeoutMs) + 1_000;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      void recoverAfterFailure(client).then(() => reject(timeoutError(what, limit, client)));
    }, limit);
    let p: Promise<T>;
    try {
      p = op();
    } catch (err) {
      clearTimeout(timer);
      settled = true;
      reject(translateRedisError(err, what, client));
      return;
    }
    p.then(
      (v) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        // Let a cluster client re-read its slot map first, so the caller's retry uses it.
        void recoverAfterFailure(client).then(() => reject(translateRedisError(err, what, client)));
      },
    );
  });
}

/**
 * After a failure on a Cluster client, re-reads the slot map at once (deduplicated by ioredis), so
 * the caller's retry is routed by the current topology: a node that restarted or a slot that
 * moved. No-op for a standalone client.
 */
export function refreshTopology(client: RedisClient): void {
  if (client instanceof Cluster && client.status !== 'end' && client.status !== 'close') client.refreshSlotsCache();
}

function timeoutError(what: string, limit: number, client: RedisClient): RetriableError {
  const where = clientSettings.get(client)?.where ?? describeClient(client);
  return new RetriableError(`redis ${what} on ${where} timed out: no reply within ${limit} ms`);
}
