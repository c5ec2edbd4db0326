/**
 * Keeping secrets out of logs.
 */

const REDIS_SCHEME = /^rediss?(\+cluster)?$/i;

/**
 * Replaces the password (and a lone token in the user part) of a URL with `***`. Anything that
 * does not parse as a URL is returned with every `//user:pass@` shape masked all the same.
 *
 * Redis URLs (`redis`, `rediss`, `redis+cluster`, `rediss+cluster`) are split by hand at the last
 * `@`, the way the Redis client reads them: a cluster URL lists several hosts (which WHATWG URL
 * refuses) and a password may hold an unencoded `/`, `@` or `?`.
 *
 * @example
 * redactUrl('rediss://app:s3cret@cache.example.com:6380/0'); // 'rediss://app:***@cache.example.com:6380/0'
 * redactUrl('redis://app:pa/ss@cache:6379');                  // 'redis://app:***@cache:6379'
 */
export function redactUrl(url: string): string {
  const sep = url.indexOf('://');
  if (sep > 0 && REDIS_SCHEME.test(url.slice(0, sep))) {
    const rest = url.slice(sep + 3);
    const at = rest.lastIndexOf('@');
    if (at < 0) return url;
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    return `${url.slice(0, sep + 3)}${colon >= 0 ? `${userinfo.slice(0, colon)}:***` : '***'}${rest.slice(at)}`;
  }
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    else if (u.username && /^(redis|rediss)/.test(u.protocol)) u.username = '***';
    return u.toString();
  } catch {
    // Greedy up to the last '@': over-redacting beats leaking a password that holds a '/' or '@'.
    return url.replace(/\/\/([^/@:]*):(.*)@/, '//$1:***@');
  }
}
