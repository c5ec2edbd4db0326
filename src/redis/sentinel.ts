/**
 * Redis Sentinel through ioredis' own support: the client asks the sentinels (in turn, the first
 * that answers) for the current master of `masterName`, checks the node's role on connect, and
 * asks again on every reconnect. A failover is followed because the old master's connection dies
 * (the node is gone) or answers `READONLY` (demoted: see reconnectOnReadOnly in ./failover.ts),
 * and because ioredis watches the sentinels' `+switch-master` announcements (`failoverDetector`).
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { RedisOptions } from 'ioredis';
import type { ParsedRedisUrl } from './url.js';

/** Sentinel-only settings of a client (the sentinels' own credentials). */
export interface SentinelClientOptions {
  /** User the sentinels require (Redis 6 ACL). Default: none. */
  sentinelUsername?: string | undefined;
  /** Password the sentinels require (`requirepass` in sentinel.conf). Default: none. */
  sentinelPassword?: string | undefined;
}

/**
 * The ioredis options for a `redis+sentinel://` or `rediss+sentinel://` URL: the URL's hosts are
 * the sentinels, its user/password and db are the data nodes'. With TLS, the same TLS options
 * are used for sentinels and data nodes.
 */
export function sentinelRedisOptions(parsed: ParsedRedisUrl, tls: TlsOptions | undefined, o: SentinelClientOptions): RedisOptions {
  return {
    sentinels: parsed.nodes.map((n) => ({ host: n.host, port: n.port })),
    name: parsed.sentinelName ?? '',
    db: parsed.db,
    role: 'master',
    failoverDetector: true,
    ...(o.sentinelUsername === undefined ? {} : { sentinelUsername: o.sentinelUsername }),
    ...(o.sentinelPassword === undefined ? {} : { sentinelPassword: o.sentinelPassword }),
    ...(tls === undefined ? {} : { tls, enableTLSForSentinelMode: true, sentinelTLS: tls }),
  };
}
