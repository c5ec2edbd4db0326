/**
 * Who is calling the App Opens API: an end user's app with a Bearer JWT (HS256 secret or a JWKS
 * URL), or a backend service with an `x-api-key`. The answer is a {@link Principal}, or an
 * {@link AuthError} that the API turns into a 401 with a `WWW-Authenticate` header.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { INT64_MAX } from '../../avro/exactLong.js';
import { createKeySet, KeySetUnavailableError } from './keySet.js';

export { KeySetUnavailableError } from './keySet.js';

/**
 * How callers authenticate. At least one of `jwtSecret`, `jwksUrl`, `apiKeys` must be given.
 */
export interface AuthOptions {
  /** HS256 secret of end users' tokens (at least 32 bytes). */
  jwtSecret?: string;
  /** URL of a JWKS (RS256/ES256 public keys) for end users' tokens. */
  jwksUrl?: string;
  /** Required `iss` of tokens, when set. */
  issuer?: string;
  /** Required `aud` of tokens, when set. */
  audience?: string;
  /** Keys of backend services (sent as `x-api-key`); they may post for any user. */
  apiKeys?: readonly string[];
  /** How long fetched JWKS keys are used before they are fetched again, ms. Default 600,000 (10 min). */
  jwksCacheMs?: number;
  /** Least time between two JWKS fetches (a token with an unknown `kid` triggers one), ms. Default 30,000. */
  jwksCooldownMs?: number;
  /** Timeout of one JWKS fetch, ms. Default 5,000. */
  jwksTimeoutMs?: number;
  /** Leeway for `exp`/`nbf`/`iat`, seconds. Default 30. */
  clockToleranceSeconds?: number;
  /**
   * Longest accepted token lifetime, seconds: `exp` minus `iat` (minus now when the token has no
   * `iat`) must not exceed it, so no token is good for longer than this. Default 86,400 (24 h).
   */
  maxTokenLifetimeSeconds?: number;
  /** Told of every failed JWKS fetch (for a log line). */
  onKeySetError?: (error: Error) => void;
}

/**
 * The defaults of {@link AuthOptions}.
 */
export const AUTH_DEFAULTS = {
  jwksCacheMs: 600_000,
  jwksCooldownMs: 30_000,
  jwksTimeoutMs: 5_000,
  clockToleranceSeconds: 30,
  maxTokenLifetimeSeconds: 86_400,
} as const;

/**
 * The authenticated caller: an end user (the token's `sub`, a decimal user id), a backend service
 * (identified by a digest of its key, never the key), or anyone (`AUTH=none`).
 */
export type Principal = { kind: 'user'; userId: string } | { kind: 'service'; keyId: string } | { kind: 'anonymous' };

/**
 * A missing or bad credential: answered 401 with `WWW-Authenticate`. `code` is `missing`,
 * `expired` or `invalid`; the message says what is wrong without echoing the credential.
 */
export class AuthError extends Error {
  override name = 'AuthError';
  readonly statusCode = 401;
  constructor(
    readonly code: 'missing' | 'expired' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Checks the credentials of one request.
 */
export interface Authenticator {
  authenticate(headers: Readonly<Record<string, string | string[] | undefined>>): Promise<Principal>;
  /** The `WWW-Authenticate` challenges of a 401 answer for `error`. */
  challenge(error: AuthError): string;
  /** Which schemes are on: `bearer` (JWT) and/or `apiKey`. */
  readonly schemes: ReadonlyArray<'bearer' | 'apiKey'>;
}

const REALM = 'app-opens';
/** A user id: the decimal form of a positive int64, as the model requires. */
const USER_ID = /^[1-9][0-9]{0,18}$/;

/** `AUTH=none`: everyone is {@link Principal} `anonymous`. Only for local use. */
export const NO_AUTH: Authenticator = {
  authenticate: () => Promise.resolve({ kind: 'anonymous' }),
  challenge: () => '',
  schemes: [],
};

/**
 * Builds the {@link Authenticator} for `options`; throws a TypeError naming the option that is
 * wrong (no scheme configured, a short HS256 secret, an empty API key, a bad JWKS URL).
 */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const apiKeys = options.apiKeys ?? [];
  if (options.jwtSecret === undefined && options.jwksUrl === undefined && apiKeys.length === 0) {
    throw new TypeError('Expected at least one of `jwtSecret`, `jwksUrl`, `apiKeys`.');
  }
  if (options.jwtSecret !== undefined && Buffer.byteLength(options.jwtSecret) < 32) {
    throw new TypeError('Expected `jwtSecret` to be at least 32 bytes (HS256 needs a key as long as its hash).');
  }
  if (apiKeys.some((k) => k.length < 16)) throw new TypeError('Expected every API key to be at least 16 characters.');
  const secret = options.jwtSecret !== undefined ? new TextEncoder().encode(options.jwtSecret) : undefined;
  let jwks: JWTVerifyGetKey | undefined;
  if (options.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.jwksUrl);
    } catch {
      throw new TypeError('Expected `jwksUrl` to be an http(s) URL.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('Expected `jwksUrl` to be an http(s) URL.');
    jwks = createKeySet({
      url,
      cacheMs: options.jwksCacheMs ?? AUTH_DEFAULTS.jwksCacheMs,
      cooldownMs: options.jwksCooldownMs ?? AUTH_DEFAULTS.jwksCooldownMs,
      timeoutMs: options.jwksTimeoutMs ?? AUTH_DEFAULTS.jwksTimeoutMs,
      ...(options.onKeySetError !== undefined ? { onFetchError: options.onKeySetError } : {}),
    });
  }
  const maxLifetime = options.maxTokenLifetimeSeconds ?? AUTH_DEFAULTS.maxTokenLifetimeSeconds;
  if (!(Number.isInteger(maxLifetime) && maxLifetime > 0)) throw new TypeError('Expected `maxTokenLifetimeSeconds` to be a positive integer.');
  // Keys are compared as SHA-256 digests, each against every configured key without stopping
  // early: the time taken says nothing about how much of a key matched, nor which key.
  const keyDigests = apiKeys.map((k) => digest(k));
  const clockTolerance = options.clockToleranceSeconds ?? AUTH_DEFAULTS.clockToleranceSeconds;
  const verifyOptions = {
    clockTolerance,
    requiredClaims: ['exp', 'sub'],
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
  };
  const acceptedAlgs = [...(secret !== undefined ? ['HS256'] : []), ...(jwks !== undefined ? ['RS256', 'ES256'] : [])].join(', ');
  const schemes: Array<'bearer' | 'apiKey'> = [];
  if (secret !== undefined || jwks !== undefined) schemes.push('bearer');
  if (keyDigests.length > 0) schemes.push('apiKey');

  /**
   * The checks jose leaves to the caller, on the claims of a token whose signature is good.
   * Nothing of the token goes into a message: messages reach the `WWW-Authenticate` header.
   */
  function checkClaims(payload: JWTPayload): string {
    // RFC 7519 makes `sub` a string. A JSON number has been through a double (above 2^53 it is
    // already another user's id), an array would be stringified: only a string of digits passes.
    const sub: unknown = payload.sub;
    if (typeof sub !== 'string' || !USER_ID.test(sub) || BigInt(sub) > INT64_MAX) throw new AuthError('invalid', 'the token subject (sub) is not a user id');
    // JSON's 1e999 parses as Infinity, which jose takes for a date: every time claim must be finite.
    for (const claim of ['exp', 'iat', 'nbf'] as const) {
      const v: unknown = payload[claim];
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v))) throw new AuthError('invalid', `the token's ${claim} claim is not a finite number`);
    }
    const now = Date.now() / 1000;
    const { exp, iat } = payload as { exp: number; iat?: number };
    if (iat !== undefined && iat > now + clockTolerance) throw new AuthError('invalid', "the token's iat claim is in the future");
    if (exp - (iat ?? now) > maxLifetime) throw new AuthError('invalid', `the token lives longer than the ${maxLifetime} s accepted`);
    return sub;
  }

  /**
   * `jwtVerify` against the JWKS. When several keys fit the token (one `kid` on two keys during a
   * rotation, or a token without `kid` and a set of several keys, both allowed by RFC 7517), jose
   * leaves trying them to the caller: each is tried in turn, at most {@link MAX_CANDIDATE_KEYS}
   * (a token without `kid` must not cost one signature check per key of a large set).
   */
  async function verifyWithKeySet(token: string, getKey: JWTVerifyGetKey): Promise<{ payload: JWTPayload }> {
    const options = { ...verifyOptions, algorithms: ['RS256', 'ES256'] };
    try {
      return await jwtVerify(token, getKey, options);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) throw err;
      let tried = 0;
      for await (const key of err) {
        if (++tried > MAX_CANDIDATE_KEYS) break;
        try {
          return await jwtVerify(token, key, options);
        } catch (inner) {
          if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new joseErrors.JWSSignatureVerificationFailed();
    }
  }

  async function verifyToken(token: string): Promise<Principal> {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError('invalid', 'the bearer token is not a JWT');
    }
    try {
      let payload;
      if (alg === 'HS256' && secret !== undefined) {
        ({ payload } = await jwtVerify(token, secret, { ...verifyOptions, algorithms: ['HS256'] }));
      } else if ((alg === 'RS256' || alg === 'ES256') && jwks !== undefined) {
        ({ payload } = await verifyWithKeySet(token, jwks));
      } else {
        throw new AuthError('invalid', `the token's signing algorithm (alg) is not accepted: use ${acceptedAlgs}`);
      }
      return { kind: 'user', userId: checkClaims(payload) };
    } catch (err) {
      if (err instanceof AuthError || err instanceof KeySetUnavailableError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AuthError('expired', 'the token has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        // jose names the claim itself; still, only known names reach the header.
        const claim = CLAIMS.includes(err.claim) ? err.claim : 'a';
        throw new AuthError('invalid', `the token's ${claim} claim is not accepted`);
      }
      if (err instanceof joseErrors.JWKSNoMatchingKey) throw new AuthError('invalid', 'no key of the JWKS matches the token');
      throw new AuthError('invalid', 'the token signature or format is not valid');
    }
  }

  return {
    schemes,
    async authenticate(headers) {
      const key = headers['x-api-key'];
      if (key !== undefined) {
        if (keyDigests.length === 0) throw new AuthError('invalid', 'API keys are not accepted here');
        const d = digest(Array.isArray(key) ? key.join(',') : key);
        let match = -1;
        for (let i = 0; i < keyDigests.length; i++) if (timingSafeEqual(d, keyDigests[i]!) && match < 0) match = i;
        if (match < 0) throw new AuthError('invalid', 'the API key is not valid');
        return { kind: 'service', keyId: keyDigests[match]!.subarray(0, 8).toString('hex') };
      }
      const authorization = headers.authorization;
      if (typeof authorization !== 'string' || authorization === '') throw new AuthError('missing', 'a credential is required (Authorization: Bearer <JWT> or x-api-key)');
      const m = /^Bearer +([^ ]+) *$/i.exec(authorization);
      if (m === null) throw new AuthError('invalid', 'the Authorization header must be "Bearer <JWT>"');
      if (secret === undefined && jwks === undefined) throw new AuthError('invalid', 'bearer tokens are not accepted here');
      return verifyToken(m[1]!);
    },
    challenge(error) {
      const out: string[] = [];
      if (schemes.includes('bearer')) {
        // RFC 6750: no error code when the request carried no credential at all.
        out.push(
          error.code === 'missing'
            ? `Bearer realm="${REALM}"`
            : `Bearer realm="${REALM}", error="invalid_token", error_description="${quotable(error.message)}"`,
        );
      }
      if (schemes.includes('apiKey')) out.push(`ApiKey realm="${REALM}", header="x-api-key"`);
      return out.join(', ');
    },
  };
}

/** Most keys of the JWKS tried for one token when several fit it (no `kid`, or a `kid` used twice). */
const MAX_CANDIDATE_KEYS = 4;

/** The claims whose name may appear in a message. */
const CLAIMS = ['iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'jti'];

/**
 * `text` with only the characters RFC 6750 section 3 allows in `error_description`
 * (%x20-21 / %x23-5B / %x5D-7E: printable ASCII without `"` and `\`): the header stays valid
 * whatever a message holds.
 */
function quotable(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
