/**
 * Keeping secrets out of logs: the one URL redaction every caller uses (binaries, the Lambda
 * module, the Redis client's error messages, scripts).
 */

/** Schemes whose URLs are split by hand, the way the Redis client reads them (src/redis). */
const REDIS_SCHEME = /^rediss?(\+(cluster|sentinel))?$/i;

/** `head` + userinfo (everything before the last `@` of `rest`) with the secret part masked. */
function maskUserinfo(head: string, rest: string): string {
  const at = rest.lastIndexOf('@');
  if (at < 0) return head + rest;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  // `user:password` keeps the user; a lone `token@` is a secret in the user position: hide it.
  return `${head}${colon >= 0 ? `${userinfo.slice(0, colon)}:***` : '***'}${rest.slice(at)}`;
}

/**
 * The URL with its password (or a lone token in the user part) replaced by `***`, for logs and
 * error messages. Never throws.
 *
 * - Redis URLs (`redis`, `rediss`, with `+cluster` or `+sentinel`) are split at the last `@`, the
 *   way the Redis client reads them: a cluster or sentinel URL lists several hosts (which WHATWG
 *   URL refuses) and a password may hold an unencoded `/`, `@`, `:`, `?` or `#`.
 * - Other URLs go through WHATWG URL; one it cannot parse is split at the last `@` like a Redis URL.
 * - A string with no scheme keeps only what follows its last `@`.
 *
 * Over-redacting beats leaking: when in doubt, everything before the last `@` is hidden.
 *
 * @example
 * redactUrl('rediss://app:s3cret@cache.example.com:6380/0'); // 'rediss://app:***@cache.example.com:6380/0'
 * redactUrl('redis://app:pa/ss@cache:6379');                  // 'redis://app:***@cache:6379'
 * redactUrl('https://user:s3cret@example.com/x');             // 'https://user:***@example.com/x'
 */
export function redactUrl(url: string): string {
  const sep = url.indexOf('://');
  if (sep < 0) return url.includes('@') ? `***@${url.slice(url.lastIndexOf('@') + 1)}` : url;
  const head = url.slice(0, sep + 3);
  const rest = url.slice(sep + 3);
  if (REDIS_SCHEME.test(url.slice(0, sep))) return maskUserinfo(head, rest);
  try {
    const u = new URL(url);
    if (!u.password && !u.username) return url; // nothing secret: as given (no added '/')
    if (u.password) u.password = '***';
    else if (u.username) u.username = '***';
    return u.toString();
  } catch {
    return maskUserinfo(head, rest);
  }
}
