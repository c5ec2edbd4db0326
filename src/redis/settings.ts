/**
 * What every Redis module of the framework knows of a client: its type, the default bounds, and
 * the settings {@link createRedisClient} recorded for it (its command bound and its redacted
 * address, read back by the error and bounded-call code in ./errors.ts).
 */
import { Cluster, Redis } from 'ioredis';

/**
 * A standalone or cluster client, as returned by {@link createRedisClient}.
 */
export type RedisClient = Redis | Cluster;

/**
 * The defaults of {@link RedisClientOptions}.
 */
export const DEFAULT_REDIS_CLIENT_OPTIONS = Object.freeze({
  commandTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
  maxRetriesPerRequest: 1,
  lazyConnect: false,
});

/** Per-client settings recorded at creation (the command bound used by runBounded, the address for messages). */
export const clientSettings = new WeakMap<object, { commandTimeoutMs: number; where: string }>();

/** A short description of a client not made by {@link createRedisClient}: host:port only. */
export function describeClient(client: RedisClient): string {
  if (client instanceof Cluster) return 'redis cluster';
  const { host, port } = client.options;
  return `${host ?? '?'}:${port ?? '?'}`;
}

