/**
 * Redis clients' lifecycle: a connection from a URL (parsed by ./url.ts), with failure settings
 * that make every command fail within a bounded time when Redis is unreachable (the bounded calls
 * and error translation are ./errors.ts), failover followed (./failover.ts, ./sentinel.ts), and a
 * clean close. The URL parser and the error helpers are re-exported here for existing importers.
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
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { reconnectOnReadOnly, watchClusterFailover } from './failover.js';
import { sentinelRedisOptions, type SentinelClientOptions } from './sentinel.js';
import { DEFAULT_REDIS_CLIENT_OPTIONS, clientSettings, type RedisClient } from './settings.js';
import { parseRedisUrl } from './url.js';

export { DEFAULT_REDIS_CLIENT_OPTIONS, type RedisClient } from './settings.js';
export { parseRedisUrl, type ParsedRedisUrl } from './url.js';
export { refreshTopology, replyCode, runBounded, translateRedisError } from './errors.js';

/**
 * Options of {@link createRedisClient}. Every field has a default; see {@link DEFAULT_REDIS_CLIENT_OPTIONS}.
 *
 * @example
 * import { readFileSync } from 'node:fs';
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
  clientSettings.set(client, { commandTimeoutMs: o.commandTimeoutMs, where });
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

