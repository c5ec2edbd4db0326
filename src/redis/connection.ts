/**
 * Redis connections from a URL, with failure settings that make every command fail within a
 * bounded time when Redis is unreachable, and translation of ioredis/Redis errors into the
 * project's error classes.
 *
 * URL forms (user, password and db optional; percent-encode reserved characters in the password):
 * - `redis://[user[:password]@]host[:port][/db]`: standalone, plain TCP (port default 6379).
 * - `rediss://...`: standalone over TLS.
 * - `redis+cluster://[user[:password]@]host1[:port1][,host2[:port2]...]`: Redis Cluster; the
 *   hosts are seeds (one is enough, more survive a seed being down). `rediss+cluster://` for TLS.
 *   A db other than 0 is refused (Redis Cluster has only db 0).
 * - `redis://` with the option `cluster: true` is the same as `redis+cluster://`.
 * - `redis+sentinel://[user[:password]@]host1[:port1][,host2[:port2]...]/<masterName>[/db]`: a
 *   primary found through Redis Sentinel (port default 26379); the hosts are sentinels, the user
 *   and password are the data nodes' (sentinels' own credentials are options). Failover is
 *   followed: see ./sentinel.ts. `rediss+sentinel://` talks TLS to the data nodes and sentinels.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { redactUrl } from '../config/redact.js';
import { NonRetriableError, RetriableError, StreamError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { reconnectOnReadOnly, recoverAfterFailure, watchClusterFailover } from './failover.js';
import { sentinelRedisOptions, type SentinelClientOptions } from './sentinel.js';

/**
 * A standalone or cluster client, as returned by {@link createRedisClient}.
 *
 * @example
 * const redis: RedisClient = createRedisClient(url);
 * if (redis instanceof Cluster) log.info({}, 'cluster mode');
 */
export type RedisClient = Redis | Cluster;

/**
 * Options of {@link createRedisClient}. Every field has a default; see {@link DEFAULT_REDIS_CLIENT_OPTIONS}.
 *
 * @example
 * createRedisClient(url, { commandTimeoutMs: 2_000, tls: { ca: readFileSync('ca.pem') }, logger });
 */
export interface RedisClientOptions extends SentinelClientOptions {
  /** Treat the URL's hosts as Redis Cluster seeds. Default: true for `redis+cluster://` and `rediss+cluster://`, else false. */
  cluster?: boolean;
  /**
   * Upper bound, in ms, on any one command from the moment it is issued, including time spent
   * queued while (re)connecting. Default 5,000. A command that hits it rejects with a
   * {@link RetriableError}; the work must be idempotent (ours is), since Redis may still apply it.
   */
  commandTimeoutMs?: number;
  /** Time allowed to establish a TCP/TLS connection, in ms. Default 5,000. */
  connectTimeoutMs?: number;
  /**
   * Failed reconnection attempts after which commands queued while disconnected are rejected
   * (ioredis `maxRetriesPerRequest`). Default 1: a refused connection fails queued commands after
   * one retry (about 100 ms) instead of after 20, so the caller's backoff and logs take over.
   */
  maxRetriesPerRequest?: number;
  /** Extra TLS options (CA, client certificate, `rejectUnauthorized`, `servername`), used with `rediss://`. */
  tls?: TlsOptions;
  /** Where connection errors are logged (password never included). Default: not logged. */
  logger?: Logger;
  /** `CLIENT SETNAME` value, handy in `CLIENT LIST`. Default: none. */
  connectionName?: string;
  /** Do not connect until the first command (or `connect()`). Default false. */
  lazyConnect?: boolean;
}

/**
 * The defaults of {@link RedisClientOptions}.
 *
 * @example
 * DEFAULT_REDIS_CLIENT_OPTIONS.commandTimeoutMs; // 5000
 */
export const DEFAULT_REDIS_CLIENT_OPTIONS = Object.freeze({
  commandTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
  maxRetriesPerRequest: 1,
  lazyConnect: false,
});

/**
 * A URL taken apart by {@link parseRedisUrl}.
 *
 * @example
 * const { nodes, cluster } = parseRedisUrl('redis+cluster://a:7000,b:7001');
 */
export interface ParsedRedisUrl {
  tls: boolean;
  cluster: boolean;
  nodes: Array<{ host: string; port: number }>;
  username: string | undefined;
  password: string | undefined;
  db: number;
  /** Sentinel URLs only: the master name the sentinels monitor (the hosts are then sentinels). */
  sentinelName?: string;
}

const SCHEMES: Record<string, { tls: boolean; cluster: boolean; sentinel?: boolean }> = {
  'redis:': { tls: false, cluster: false },
  'rediss:': { tls: true, cluster: false },
  'redis+cluster:': { tls: false, cluster: true },
  'rediss+cluster:': { tls: true, cluster: true },
  'redis+sentinel:': { tls: false, cluster: false, sentinel: true },
  'rediss+sentinel:': { tls: true, cluster: false, sentinel: true },
};

const SCHEME_LIST = 'redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://';

/**
 * Takes a Redis URL apart (see the module comment for the forms). Errors name the problem and
 * show the URL with its password redacted.
 *
 * @example
 * parseRedisUrl('rediss://app:s3cret@cache.internal:6380/2');
 * // { tls: true, cluster: false, nodes: [{ host: 'cache.internal', port: 6380 }], username: 'app', password: 's3cret', db: 2 }
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const bad = (why: string): TypeError => new TypeError(`Invalid Redis URL ${redactUrl(url)}: ${why}`);
  const sep = url.indexOf('://');
  if (sep < 0) throw bad(`expected a ${SCHEME_LIST} URL`);
  const scheme = SCHEMES[url.slice(0, sep + 1).toLowerCase()];
  if (!scheme) throw bad(`expected a ${SCHEME_LIST} URL`);
  const rest = url.slice(sep + 3);
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  let hostPart = at >= 0 ? rest.slice(at + 1) : rest;
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    throw bad(`query parameters are not supported (${hostPart.slice(q + 1).split('=')[0] ?? ''}); use the options instead`);
  }
  let db = 0;
  let sentinelName: string | undefined;
  const slash = hostPart.indexOf('/');
  if (scheme.sentinel) {
    // host:port[,host:port...]/<masterName>[/db]
    const path = slash >= 0 ? hostPart.slice(slash + 1).split('/') : [];
    hostPart = slash >= 0 ? hostPart.slice(0, slash) : hostPart;
    sentinelName = path[0] === undefined ? '' : safeDecode(path[0]);
    if (sentinelName === undefined || sentinelName === '') throw bad('a sentinel URL needs the master name after the hosts (…/mymaster)');
    if (path.length > 2) throw bad(`unexpected "/${path.slice(2).join('/')}" after the database`);
    if (path[1] !== undefined && path[1] !== '') {
      if (!/^\d{1,5}$/.test(path[1])) throw bad(`the database must be a number, got "${path[1]}"`);
      db = Number(path[1]);
    }
  } else if (slash >= 0) {
    const dbText = hostPart.slice(slash + 1);
    hostPart = hostPart.slice(0, slash);
    if (dbText !== '') {
      if (!/^\d{1,5}$/.test(dbText)) throw bad(`the database must be a number, got "${dbText}"`);
      db = Number(dbText);
    }
  }
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const rawUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    const rawPass = colon >= 0 ? userinfo.slice(colon + 1) : undefined;
    try {
      username = rawUser === '' ? undefined : decodeURIComponent(rawUser);
      password = rawPass === undefined || rawPass === '' ? undefined : decodeURIComponent(rawPass);
    } catch {
      throw bad('the user or password is not properly percent-encoded');
    }
    // `redis://secret@host` (no colon) is how many tools write a password without a user.
    if (colon < 0 && username !== undefined) {
      password = username;
      username = undefined;
    }
  }
  if (hostPart === '') throw bad('no host');
  const defaultPort = scheme.sentinel ? 26379 : 6379;
  const nodes = hostPart.split(',').map((h) => parseHostPort(h, bad, defaultPort));
  if (nodes.length > 1 && !scheme.cluster && !scheme.sentinel) {
    throw bad('several hosts are only allowed with redis+cluster://, rediss+cluster:// or the sentinel schemes');
  }
  return { tls: scheme.tls, cluster: scheme.cluster, nodes, username, password, db, ...(sentinelName === undefined ? {} : { sentinelName }) };
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function parseHostPort(text: string, bad: (why: string) => TypeError, defaultPort = 6379): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw bad(`unclosed IPv6 address "${text}"`);
    host = text.slice(1, end);
    const after = text.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) throw bad(`unexpected "${after}" after "${host}"`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    host = colon >= 0 ? text.slice(0, colon) : text;
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
  }
  if (host === '') throw bad(`empty host in "${text}"`);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw bad(`the port must be 1-65535, got "${portText}"`);
    }
    port = Number(portText);
  }
  return { host, port };
}

interface ResolvedOptions {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  maxRetriesPerRequest: number;
  lazyConnect: boolean;
  cluster: boolean | undefined;
  tls: TlsOptions | undefined;
  logger: Logger | undefined;
  connectionName: string | undefined;
  sentinel: SentinelClientOptions;
}

function resolveOptions(options: RedisClientOptions): ResolvedOptions {
  const d = DEFAULT_REDIS_CLIENT_OPTIONS;
  const r: ResolvedOptions = {
    commandTimeoutMs: options.commandTimeoutMs ?? d.commandTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? d.maxRetriesPerRequest,
    lazyConnect: options.lazyConnect ?? d.lazyConnect,
    cluster: options.cluster,
    tls: options.tls,
    logger: options.logger,
    connectionName: options.connectionName,
    sentinel: { sentinelUsername: options.sentinelUsername, sentinelPassword: options.sentinelPassword },
  };
  if (!(Number.isInteger(r.commandTimeoutMs) && r.commandTimeoutMs > 0)) {
    throw new TypeError('Expected `commandTimeoutMs` to be a positive integer.');
  }
  if (!(Number.isInteger(r.connectTimeoutMs) && r.connectTimeoutMs > 0)) {
    throw new TypeError('Expected `connectTimeoutMs` to be a positive integer.');
  }
  if (!(Number.isInteger(r.maxRetriesPerRequest) && r.maxRetriesPerRequest >= 0)) {
    throw new TypeError('Expected `maxRetriesPerRequest` to be a non-negative integer.');
  }
  if (r.cluster !== undefined && typeof r.cluster !== 'boolean') throw new TypeError('Expected `cluster` to be a boolean.');
  return r;
}

/** How often a Cluster client re-reads the slot map (CLUSTER SLOTS), in ms. */
const CLUSTER_REFRESH_INTERVAL_MS = 2_000;

/** Per-client settings the tasks read back (the command bound used by {@link runBounded}). */
const settings = new WeakMap<object, { commandTimeoutMs: number; where: string }>();

/** Reconnect forever, quickly at first and at most every 2 s: Redis coming back must be noticed. */
const reconnectDelay = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2_000);

/**
 * Creates an ioredis client (standalone `Redis` or `Cluster`) from a URL.
 *
 * Failure settings, so that a caller's retry/backoff sees failures instead of commands waiting
 * forever: commands issued while disconnected wait in ioredis' offline queue, but are rejected
 * after `maxRetriesPerRequest` failed reconnects (default 1) or `commandTimeoutMs` (default 5 s),
 * whichever comes first; the client itself keeps reconnecting in the background (every 2 s at
 * most). Connection errors go to `options.logger` (at most one line per 5 s, password never
 * included) instead of ioredis' default console output.
 *
 * @example
 * const redis = createRedisClient(process.env.RESULTS_REDIS_URL!, { logger });
 * const cluster = createRedisClient('rediss+cluster://:s3cret@node1:6379,node2:6379');
 * await closeRedisClient(redis);
 */
export function createRedisClient(url: string, options: RedisClientOptions = {}): RedisClient {
  const o = resolveOptions(options);
  const parsed = parseRedisUrl(url);
  const cluster = o.cluster ?? parsed.cluster;
  const where = redactUrl(url);
  if (cluster && parsed.db !== 0) throw new TypeError(`Invalid Redis URL ${where}: Redis Cluster has only database 0`);
  if (cluster && parsed.sentinelName !== undefined) throw new TypeError(`Invalid Redis URL ${where}: a sentinel URL cannot be a cluster`);
  const tls: TlsOptions | undefined = parsed.tls ? { ...o.tls } : undefined;
  const common = {
    username: parsed.username,
    password: parsed.password,
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs,
    maxRetriesPerRequest: o.maxRetriesPerRequest,
    ...(o.connectionName === undefined ? {} : { connectionName: o.connectionName }),
    ...(tls === undefined ? {} : { tls }),
  };
  let client: RedisClient;
  if (cluster) {
    const clusterOptions: ClusterOptions = {
      redisOptions: common,
      enableOfflineQueue: true,
      lazyConnect: o.lazyConnect,
      clusterRetryStrategy: reconnectDelay,
      // ioredis 6 does not refresh the slot map periodically by default: a node that went down
      // and came back would stay unknown (its slots answered with MOVED by the others) until a
      // single command's MOVED happened to refresh it. Pipelines spanning slots never do that.
      slotsRefreshInterval: CLUSTER_REFRESH_INTERVAL_MS,
      // Keep host names as given so TLS certificates match them.
      ...(tls === undefined ? {} : { dnsLookup: (address, callback) => callback(null, address) }),
    };
    client = new Cluster(parsed.nodes, clusterOptions);
    watchClusterFailover(client, { logger: o.logger, where, seeds: parsed.nodes });
  } else if (parsed.sentinelName !== undefined) {
    client = new Redis({
      ...common,
      ...sentinelRedisOptions(parsed, tls, o.sentinel),
      enableOfflineQueue: true,
      lazyConnect: o.lazyConnect,
      retryStrategy: reconnectDelay,
      sentinelRetryStrategy: reconnectDelay,
      reconnectOnError: reconnectOnReadOnly,
    });
  } else {
    const node = parsed.nodes[0] ?? { host: '127.0.0.1', port: 6379 };
    const redisOptions: RedisOptions = {
      ...common,
      host: node.host,
      port: node.port,
      db: parsed.db,
      enableOfflineQueue: true,
      lazyConnect: o.lazyConnect,
      retryStrategy: reconnectDelay,
      // A primary endpoint that now reaches a replica (DNS moved, demoted node): reconnect.
      reconnectOnError: reconnectOnReadOnly,
    };
    client = new Redis(redisOptions);
  }
  settings.set(client, { commandTimeoutMs: o.commandTimeoutMs, where });
  attachErrorLogger(client, where, o.logger);
  return client;
}

function attachErrorLogger(client: RedisClient, where: string, logger: Logger | undefined): void {
  let last = 0;
  let suppressed = 0;
  // Always listen: without a listener ioredis prints every error to the console (stderr), which
  // the KCL daemon logs as an ERROR line each time.
  client.on('error', (err: unknown) => {
    if (!logger) return;
    const now = Date.now();
    if (now - last < 5_000) {
      suppressed++;
      return;
    }
    last = now;
    logger.warn({ redis: where, err: errorMessage(err), suppressed }, 'redis connection error');
    suppressed = 0;
  });
}

/**
 * Closes a client: QUIT (lets replies in flight arrive), then a hard disconnect if that does not
 * finish within 2 s. Never rejects.
 *
 * @example
 * await closeRedisClient(redis);
 */
export async function closeRedisClient(client: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.quit(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 2_000);
      }),
    ]);
  } catch {
    // already closed or unreachable: disconnect below is enough
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/**
 * Redis reply codes (the first word of an error reply) that a retry can cure: the server is
 * out of memory or loading, a script is busy, the cluster is resharding or failing over, a
 * replica was written to, or persistence is failing.
 */
const TRANSIENT_REPLY_CODES = new Set([
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
]);

/**
 * Reply codes that no retry can cure, because the data in Redis is in the way: a key of the
 * wrong type. Every other reply (authentication, permissions, unknown commands) is treated as
 * retriable: those are configuration problems an operator fixes, and dead-lettering good records
 * meanwhile would lose them. The shard stalls with a log line per retry instead.
 */
const PERMANENT_REPLY_CODES = new Set(['WRONGTYPE']);

/**
 * The first word of a Redis error reply ("OOM", "WRONGTYPE", ...), or undefined when `err` is not
 * a Redis reply error.
 *
 * @example
 * replyCode(new Error('OOM command not allowed')); // 'OOM' (when err.name === 'ReplyError')
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
 *
 * @example
 * try { await redis.hset(key, field, value); }
 * catch (err) { throw translateRedisError(err, 'HSET user:1:checkpoint', redis); }
 */
export function translateRedisError(err: unknown, what: string, client?: RedisClient): StreamError {
  if (err instanceof StreamError) return err;
  const where = client ? settings.get(client)?.where ?? describeClient(client) : undefined;
  const prefix = `redis ${what}${where ? ` on ${where}` : ''}`;
  const cause = scrub(err);
  const code = replyCode(err);
  const message = `${prefix} failed: ${errorMessage(err)}`;
  if (code !== undefined && PERMANENT_REPLY_CODES.has(code)) return new NonRetriableError(message, { cause });
  if (code !== undefined && !TRANSIENT_REPLY_CODES.has(code)) {
    return new RetriableError(`${message} (not a known transient reply; retrying anyway so no good record is dead-lettered)`, { cause });
  }
  return new RetriableError(message, { cause });
}

/** A short description of a client not made by {@link createRedisClient}: host:port only. */
function describeClient(client: RedisClient): string {
  if (client instanceof Cluster) return 'redis cluster';
  const { host, port } = client.options;
  return `${host ?? '?'}:${port ?? '?'}`;
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
  const limit = (settings.get(client)?.commandTimeoutMs ?? DEFAULT_REDIS_CLIENT_OPTIONS.commandTimeoutMs) + 1_000;
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
 *
 * @example
 * if (replies.some(([err]) => err)) refreshTopology(redis);
 */
export function refreshTopology(client: RedisClient): void {
  if (client instanceof Cluster && client.status !== 'end' && client.status !== 'close') client.refreshSlotsCache();
}

function timeoutError(what: string, limit: number, client: RedisClient): RetriableError {
  const where = settings.get(client)?.where ?? describeClient(client);
  return new RetriableError(`redis ${what} on ${where} timed out: no reply within ${limit} ms`);
}
