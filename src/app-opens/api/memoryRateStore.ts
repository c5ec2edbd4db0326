/**
 * The in-memory counter store of the rate limiter: @fastify/rate-limit's own LocalStore (a
 * fixed window per key in an LRU map of `cacheSize` keys), answering each call with a copy of
 * the count. The plugin's store answers with the live entry, and the plugin reads it one tick
 * later: requests of one key that reach the limiter in the same tick (those waiting on the same
 * JWKS fetch, say) all read the last count and are all refused, even the first `max` of them.
 */
import { createRequire } from 'node:module';
import type { FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;
interface PluginStore {
  incr(key: string, cb: Callback, timeWindow: number, max: number): void;
  read?(key: string, cb: Callback, timeWindow: number, max: number): void;
}
type PluginStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, cache: number) => PluginStore;

const PluginLocalStore = createRequire(import.meta.url)('@fastify/rate-limit/store/LocalStore.js') as PluginStoreCtor;

const copying =
  (cb: Callback): Callback =>
  (error, result) =>
    cb(error, result === undefined ? undefined : { current: result.current, ttl: result.ttl });

/**
 * A store constructor for `@fastify/rate-limit`'s `store` option holding at most `cacheSize` keys.
 */
export function memoryRateStore(cacheSize: number): FastifyRateLimitStoreCtor {
  return class MemoryRateStore implements FastifyRateLimitStore {
    private readonly inner: PluginStore;
    // Fixed windows only: the API sets neither `continueExceeding` nor `exponentialBackoff`.
    constructor(_options: FastifyRateLimitOptions) {
      this.inner = new PluginLocalStore(false, false, cacheSize);
    }
    incr(key: string, cb: Callback, timeWindow: number, max: number): void {
      this.inner.incr(key, copying(cb), timeWindow, max);
    }
    read(key: string, cb: Callback, timeWindow: number, max: number): void {
      this.inner.read!(key, copying(cb), timeWindow, max);
    }
    child(): FastifyRateLimitStore {
      return new MemoryRateStore({});
    }
  };
}
