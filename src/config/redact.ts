/**
 * Keeping secrets out of logs.
 */

/**
 * Replaces the password (and a lone token in the user part) of a URL with `***`. Anything that
 * does not parse as a URL is returned with every `//user:pass@` shape masked all the same.
 *
 * @example
 * redactUrl('rediss://app:s3cret@cache.example.com:6380/0'); // 'rediss://app:***@cache.example.com:6380/0'
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    else if (u.username && /^(redis|rediss)/.test(u.protocol)) u.username = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):([^/@]*)@/g, '//$1:***@');
  }
}
