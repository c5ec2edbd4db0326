/**
 * The identity provider's JWKS, fetched and cached for token checks. At most one fetch is in
 * flight, and fetches start at most once per cooldown, whatever happens: a set that cannot be
 * fetched (refused connection, timeout, a status other than 200, not a JWKS) is not fetched again
 * before the cooldown ends, so an outage neither floods the provider nor costs a fetch per request.
 */
import { createLocalJWKSet, errors as joseErrors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters, type JWTVerifyGetKey } from 'jose';

/**
 * The JWKS could not be fetched or read, so a token cannot be checked now: answered 503 with
 * `Retry-After` (the caller's credential may well be good).
 */
export class KeySetUnavailableError extends Error {
  override name = 'KeySetUnavailableError';
  readonly statusCode = 503;
  constructor(
    message: string,
    /** Seconds until the next fetch may be tried (the `Retry-After` of the answer), at least 1. */
    readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Options of {@link createKeySet}.
 */
export interface KeySetOptions {
  url: URL;
  /** How long a fetched set is used before it is fetched again, ms. */
  cacheMs: number;
  /** Least time between the starts of two fetches, ms (after a failure too). */
  cooldownMs: number;
  /** Timeout of one fetch (connection, headers and body), ms. */
  timeoutMs: number;
  /** Largest JWKS body read, bytes. Default 262,144 (256 KiB). */
  maxBytes?: number;
  /** Told of every failed fetch (for a log line); never throws back. */
  onFetchError?: (error: Error) => void;
}

/**
 * A key getter for jose's `jwtVerify` backed by the JWKS at `options.url`. An unknown `kid`
 * fetches the set again once the cooldown allows it. When a refresh fails, the keys fetched
 * before stay in use; with none, the getter throws {@link KeySetUnavailableError}.
 */
export function createKeySet(options: KeySetOptions): JWTVerifyGetKey {
  const { url, cacheMs, cooldownMs, timeoutMs } = options;
  const maxBytes = options.maxBytes ?? 256 * 1024;
  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = 0;
  let lastStart = -Infinity;
  let pending: Promise<void> | undefined;

  const secondsUntilNextFetch = (now: number): number => Math.max(1, Math.ceil((lastStart + cooldownMs - now) / 1000));

  /** Fetches the set unless a fetch is running (then waits for it) or the cooldown forbids it. */
  async function refresh(): Promise<void> {
    if (pending !== undefined) return pending;
    const now = Date.now();
    if (now < lastStart + cooldownMs) return;
    lastStart = now;
    pending = fetchSet(url, timeoutMs, maxBytes)
      .then((set) => {
        local = createLocalJWKSet(set);
        fetchedAt = Date.now();
      })
      .catch((err: unknown) => {
        try {
          options.onFetchError?.(err as Error);
        } catch {
          // a logging callback must not change the answer
        }
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  const unavailable = (): KeySetUnavailableError =>
    new KeySetUnavailableError('the token cannot be verified now: the key set is unavailable', secondsUntilNextFetch(Date.now()));

  return async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (local === undefined || Date.now() - fetchedAt >= cacheMs) await refresh();
    if (local === undefined) throw unavailable();
    try {
      return await local(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      const before = local;
      await refresh();
      if (local === before) throw err;
      return local(header, token);
    }
  };
}

/**
 * The URL to fetch and its headers. Credentials in the URL (`https://user:pass@host/jwks`) are
 * sent as HTTP Basic: Node's fetch refuses such a URL outright, with an error whose message holds
 * the whole URL, password included, and that message is logged.
 */
function fetchTarget(url: URL): { target: URL; headers: Record<string, string> } {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (url.username === '' && url.password === '') return { target: url, headers };
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s; // a stray '%' is taken as written
    }
  };
  const userinfo = `${decode(url.username)}:${decode(url.password)}`;
  headers.authorization = `Basic ${Buffer.from(userinfo, 'utf8').toString('base64')}`;
  const target = new URL(url.href);
  target.username = '';
  target.password = '';
  return { target, headers };
}

/** One GET of the set: 200 with a JSON body of at most `maxBytes`, no redirect, within `timeoutMs`. */
async function fetchSet(url: URL, timeoutMs: number, maxBytes: number): Promise<JSONWebKeySet> {
  const { target, headers } = fetchTarget(url);
  const res = await fetch(target, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`the JWKS answered HTTP ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > maxBytes) throw new Error(`the JWKS is larger than ${maxBytes} bytes`);
    chunks.push(chunk as Uint8Array);
  }
  const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JSONWebKeySet;
  // Shape checked here, so that a bad set is a failed fetch (cooldown), not a 401 per token.
  if (typeof json !== 'object' || json === null || !Array.isArray(json.keys)) throw new Error('the JWKS is not a JSON Web Key Set');
  return json;
}
