/**
 * Where a last open lives in Redis: the hash `user:<userId>:checkpoint`, field
 * `<platform>_app_open`. Every path that names a key (the script calls, the RESP bytes of the
 * standalone path, the WRONGTYPE reports, the replica wait's slots) builds it from here.
 */

/**
 * What comes before the user id in a checkpoint key.
 */
export const LAST_OPEN_KEY_PREFIX = 'user:';

/**
 * What comes after the user id in a checkpoint key.
 */
export const LAST_OPEN_KEY_SUFFIX = ':checkpoint';

/**
 * The key of the user whose id is written `digits` (decimal, as `bigint.toString()` or
 * `String(safeInteger)` write it): for callers that hold the digits already.
 */
export function lastOpenKeyOfDigits(digits: string): string {
  return LAST_OPEN_KEY_PREFIX + digits + LAST_OPEN_KEY_SUFFIX;
}

/**
 * The Redis key of a user's checkpoint hash. Exact for any int64 userId.
 *
 * @example
 * lastOpenKey(9007199254740993n); // 'user:9007199254740993:checkpoint'
 */
export function lastOpenKey(userId: bigint): string {
  return lastOpenKeyOfDigits(userId.toString());
}

const fieldCache = new Map<string, string>();

/**
 * The hash field holding a platform's last open.
 */
export function lastOpenField(platform: string): string {
  let f = fieldCache.get(platform);
  if (f === undefined) {
    f = `${platform}_app_open`;
    if (fieldCache.size < 10_000) fieldCache.set(platform, f);
  }
  return f;
}
