/**
 * bin/app-opens-api: the App Opens HTTP API. `POST /app_opens` (and `/app_opens/batch`)
 * authenticates the caller, validates events, encodes them with the AppOpen Avro codec and hands
 * them to a BatchProducer that writes them to Kinesis, partitioned by userId. See docs/api.md.
 *
 * Environment (a .env file in the working directory is read too; the real environment wins):
 *   STREAM_NAME          mandatory  the Kinesis stream to write to
 *   PORT                 optional   default 8080 (0: any free port, logged at start)
 *   HOST                 optional   default 0.0.0.0
 *   AWS_REGION           optional   the SDK's usual resolution when unset (us-east-1 with KINESIS_ENDPOINT)
 *   KINESIS_ENDPOINT     optional   a local stand-in, e.g. http://127.0.0.1:4567
 *   SHUTDOWN_TIMEOUT_MS  optional   how long SIGTERM waits for requests in flight and buffered events, default 10000
 *   HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS, HTTP_BODY_TIMEOUT_MS, HTTP_KEEP_ALIVE_TIMEOUT_MS
 *                        optional   10000, 30000, 10000, 72000 (see docs/api.md)
 *   LOG_LEVEL            optional   pino level, default info; logs are JSON lines on stdout
 *   AUTH_JWT_SECRET      one of the AUTH_* is mandatory: HS256 secret of users' tokens (>= 32 bytes)
 *   AUTH_JWKS_URL        ... or a JWKS URL (RS256/ES256), cached (AUTH_JWKS_CACHE_MS, AUTH_JWKS_COOLDOWN_MS, AUTH_JWKS_TIMEOUT_MS)
 *   AUTH_API_KEYS        ... and/or services' keys, comma-separated (>= 16 characters each)
 *   AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE  optional  required iss / aud of tokens
 *   AUTH_JWT_MAX_LIFETIME_SECONDS       optional  longest token lifetime (exp - iat, or exp - now), default 86400
 *   AUTH=none            instead of the above: anyone may post for any user (local use; warned at start)
 *   RATE_LIMIT_PER_MINUTE         optional   per user and per IP without a valid credential, default 120 (0: off)
 *   RATE_LIMIT_PER_KEY_PER_MINUTE optional   per API key, default 60000 (0: off)
 *   RATE_LIMIT_REDIS_URL          optional   share the counts between instances through this Redis
 *   RATE_LIMIT_CACHE_SIZE         optional   callers counted at once in memory (without Redis), default 100000
 *   CORS_ORIGINS         optional   comma-separated origins allowed by CORS (or *); default: CORS off
 *   TRUST_PROXY          optional   whose X-Forwarded-For to believe: true, a hop count, or IPs/CIDRs; default none
 *   MAX_BUFFERED_EVENTS  optional   events the producer holds before answering 503, default 20000
 * Exit codes: 0 stopped with every accepted event sent; 1 stopped with events undelivered (each
 * one logged with its data) or a crash; 78 configuration error (one line on stderr naming the variable).
 */
import { ConfigError, loadEnvFile, mandatoryVar, optionalVar, parseInteger, parseStreamName, parseUrl } from '../../config/env.js';
import type { AuthOptions } from '../api/auth.js';
import { parseRedisUrl } from '../../redis/connection.js';
import { parseLogLevel, pinoOptions } from '../../config/logging.js';
import { ExitCode } from '../../core/exitCodes.js';
import { sdkNodeNotice } from '../../config/nodeSupport.js';
import { redactUrl } from '../../config/redact.js';

const AUTH_VARS = ['AUTH_JWT_SECRET', 'AUTH_JWKS_URL', 'AUTH_API_KEYS'] as const;

/** `AUTH_*`, or `'none'` when AUTH=none; refuses to go on without either. Values are never echoed. */
function readAuth(): AuthOptions | 'none' {
  const set = AUTH_VARS.filter((v) => (process.env[v] ?? '').trim() !== '');
  const mode = optionalVar<string | undefined>('AUTH', undefined);
  if (mode !== undefined && mode !== 'none') throw new ConfigError('AUTH', `AUTH is malformed: the only value is "none" (set ${AUTH_VARS.join(', ')} instead)`);
  if (mode === 'none') {
    if (set.length > 0) throw new ConfigError('AUTH', `AUTH=none conflicts with ${set.join(', ')}: unset one or the other`);
    return 'none';
  }
  if (set.length === 0) {
    throw new ConfigError('AUTH_JWT_SECRET', `no authentication configured: set ${AUTH_VARS.join(', ')} (at least one), or AUTH=none to accept anyone (local use only)`);
  }
  return {
    jwtSecret: optionalVar<string | undefined>('AUTH_JWT_SECRET', undefined, (v) => {
      if (Buffer.byteLength(v) < 32) throw new Error('must be at least 32 bytes');
      return v;
    }),
    jwksUrl: optionalVar<string | undefined>('AUTH_JWKS_URL', undefined, parseUrl(['https:', 'http:'])),
    issuer: optionalVar<string | undefined>('AUTH_JWT_ISSUER', undefined),
    audience: optionalVar<string | undefined>('AUTH_JWT_AUDIENCE', undefined),
    apiKeys: optionalVar<string[]>('AUTH_API_KEYS', [], (v) => {
      const keys = v.split(',').map((k) => k.trim()).filter((k) => k !== '');
      if (keys.length === 0) throw new Error('expected comma-separated keys, found none');
      if (keys.some((k) => k.length < 16)) throw new Error('every key must be at least 16 characters');
      return keys;
    }),
    jwksCacheMs: optionalVar('AUTH_JWKS_CACHE_MS', 600_000, parseInteger({ min: 0 })),
    jwksCooldownMs: optionalVar('AUTH_JWKS_COOLDOWN_MS', 30_000, parseInteger({ min: 0 })),
    jwksTimeoutMs: optionalVar('AUTH_JWKS_TIMEOUT_MS', 5_000, parseInteger({ min: 1 })),
    maxTokenLifetimeSeconds: optionalVar('AUTH_JWT_MAX_LIFETIME_SECONDS', 86_400, parseInteger({ min: 1 })),
  };
}

/** TRUST_PROXY: `true`/`false`, a hop count, or a comma-separated list of addresses and CIDRs. */
function parseTrustProxy(v: string): boolean | number | string[] {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^\d+$/.test(v)) return Number(v);
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.some((s) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(s) && !['loopback', 'linklocal', 'uniquelocal'].includes(s))) {
    throw new Error('expected true, false, a hop count, or comma-separated IP addresses / CIDRs');
  }
  return list;
}

function readConfig() {
  loadEnvFile();
  return {
    streamName: mandatoryVar('STREAM_NAME', parseStreamName),
    port: optionalVar('PORT', 8080, parseInteger({ min: 0, max: 65535 })),
    host: optionalVar('HOST', '0.0.0.0'),
    region: optionalVar<string | undefined>('AWS_REGION', undefined),
    endpoint: optionalVar<string | undefined>('KINESIS_ENDPOINT', undefined, parseUrl(['http:', 'https:'])),
    shutdownTimeoutMs: optionalVar('SHUTDOWN_TIMEOUT_MS', 10_000, parseInteger({ min: 0 })),
    logLevel: optionalVar('LOG_LEVEL', 'info', parseLogLevel),
    auth: readAuth(),
    rateLimitPerMinute: optionalVar('RATE_LIMIT_PER_MINUTE', 120, parseInteger({ min: 0 })),
    rateLimitPerKeyPerMinute: optionalVar('RATE_LIMIT_PER_KEY_PER_MINUTE', 60_000, parseInteger({ min: 0 })),
    rateLimitCacheSize: optionalVar('RATE_LIMIT_CACHE_SIZE', 100_000, parseInteger({ min: 1 })),
    timeouts: {
      headersMs: optionalVar('HTTP_HEADERS_TIMEOUT_MS', 10_000, parseInteger({ min: 1 })),
      requestMs: optionalVar('HTTP_REQUEST_TIMEOUT_MS', 30_000, parseInteger({ min: 1 })),
      bodyIdleMs: optionalVar('HTTP_BODY_TIMEOUT_MS', 10_000, parseInteger({ min: 1 })),
      keepAliveMs: optionalVar('HTTP_KEEP_ALIVE_TIMEOUT_MS', 72_000, parseInteger({ min: 1 })),
    },
    // parseRedisUrl, not WHATWG URL: a cluster URL lists several seeds; its errors redact the password.
    rateLimitRedisUrl: optionalVar<string | undefined>('RATE_LIMIT_REDIS_URL', undefined, (v) => {
      parseRedisUrl(v);
      return v;
    }),
    corsOrigins: optionalVar<string[]>('CORS_ORIGINS', [], (v) => v.split(',').map((s) => s.trim()).filter((s) => s !== '')),
    trustProxy: optionalVar<boolean | number | string[]>('TRUST_PROXY', false, parseTrustProxy),
    maxBufferedEvents: optionalVar('MAX_BUFFERED_EVENTS', 20_000, parseInteger({ min: 1 })),
  };
}

let config: ReturnType<typeof readConfig>;
try {
  config = readConfig();
} catch (err) {
  process.stderr.write(`app-opens-api: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(ExitCode.CONFIG_ERROR);
}

// Loaded only once the configuration is known to be good: a config error prints one line, and
// nothing else (the AWS SDK's Node-version warning is turned into a log line: see sdkNodeNotice).
const { default: pino } = await import('pino');
const { BatchProducer, createKinesisClient } = await import('../../producer/index.js');
const { buildApp, closeApp } = await import('../api/app.js');
const { createAuthenticator } = await import('../api/auth.js');

const logger = pino(
  pinoOptions({
    level: config.logLevel,
    base: { pid: process.pid, app: 'app-opens-api', stream: config.streamName },
    // rawPacket: the bytes of a request the HTTP parser refused, headers and all.
    extraRedactPaths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'credentials', 'err.rawPacket', '*.rawPacket'],
  }),
);

const nodeNotice = sdkNodeNotice();
if (nodeNotice) logger.warn({ node: process.version }, nodeNotice);
const client = createKinesisClient({ region: config.region, endpoint: config.endpoint });
const producer = new BatchProducer({
  client,
  streamName: config.streamName,
  whenFull: 'reject',
  maxBufferedRecords: config.maxBufferedEvents,
  logger,
  onDropped: (record, error) => {
    // The event itself is logged so that it can be replayed: nothing is lost silently.
    logger.error(
      { userId: record.partitionKey, data: Buffer.from(record.data).toString('base64'), err: { name: error.name, message: error.message } },
      'event not delivered',
    );
  },
  onStats: (stats) => logger.info({ producer: stats }, 'producer stats'),
});
if (config.auth === 'none') logger.warn('AUTH=none: anyone can post app opens for any user; never run this way where the internet can reach it');
if (config.auth !== 'none' && config.auth.jwksUrl !== undefined) {
  const jwks = new URL(config.auth.jwksUrl);
  const loopback = jwks.hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(jwks.hostname) || jwks.hostname === '[::1]';
  if (jwks.protocol === 'http:' && !loopback) {
    logger.warn({ jwksUrl: redactUrl(config.auth.jwksUrl) }, 'AUTH_JWKS_URL is plain http: whoever sits on the path can serve their own keys and sign tokens for any user; use https');
  }
}
let redis: import('../../redis/connection.js').RedisClient | undefined;
if (config.rateLimitRedisUrl !== undefined) {
  const { createRedisClient } = await import('../../redis/connection.js');
  // Short timeouts: a slow Redis must not hold requests; on error the request goes through (logged).
  redis = createRedisClient(config.rateLimitRedisUrl, { logger, commandTimeoutMs: 500, connectTimeoutMs: 2_000, connectionName: 'app-opens-api-rate-limit' });
}
// The options are checked again by the authenticator itself: one stderr line for those too.
let authenticator: import('../api/auth.js').Authenticator | 'none';
try {
  const jwksUrl = config.auth !== 'none' && config.auth.jwksUrl !== undefined ? redactUrl(config.auth.jwksUrl) : undefined;
  authenticator =
    config.auth === 'none'
      ? 'none'
      : createAuthenticator({
          ...config.auth,
          onKeySetError: (err) => logger.warn({ jwksUrl, err: { name: err.name, message: err.message } }, 'JWKS fetch failed; tokens are answered 503 until a fetch succeeds'),
        });
} catch (err) {
  process.stderr.write(`app-opens-api: authentication is misconfigured: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(ExitCode.CONFIG_ERROR);
}
const app = await buildApp({
  producer,
  logger,
  authenticator,
  rateLimit: {
    perMinute: config.rateLimitPerMinute,
    perKeyPerMinute: config.rateLimitPerKeyPerMinute,
    cacheSize: config.rateLimitCacheSize,
    ...(redis !== undefined ? { redis } : {}),
  },
  corsOrigins: config.corsOrigins,
  trustProxy: config.trustProxy,
  timeouts: config.timeouts,
});

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) {
    logger.warn({ signal }, 'already stopping: the signal is ignored; the shutdown ends within SHUTDOWN_TIMEOUT_MS');
    return;
  }
  shuttingDown = true;
  logger.info({ signal, buffered: producer.buffered, timeoutMs: config.shutdownTimeoutMs }, 'stopping: no new requests; sending buffered events');
  // One budget for both steps. The producer keeps sending while requests in flight finish; idle
  // connections are closed at once, and those still open when the budget is spent are cut.
  const deadline = Date.now() + config.shutdownTimeoutMs;
  try {
    const { forced } = await closeApp(app, config.shutdownTimeoutMs);
    if (forced > 0) logger.warn({ connections: forced }, 'connections still open at the shutdown timeout were closed (their requests were not accepted)');
  } catch (err) {
    logger.error({ err }, 'closing the HTTP server failed');
  }
  const result = await producer.stop(Math.max(0, deadline - Date.now()));
  if (redis !== undefined) {
    const { closeRedisClient } = await import('../../redis/connection.js');
    await closeRedisClient(redis);
  }
  const totals = producer.stats();
  if (result.remaining > 0) {
    logger.error({ ...result, totalSent: totals.sent, totalDropped: totals.dropped }, 'stopped with events undelivered (logged above as "event not delivered")');
  } else {
    logger.info({ ...result, totalSent: totals.sent, totalDropped: totals.dropped }, 'stopped');
  }
  client.destroy();
  logger.flush();
  process.exit(result.remaining > 0 || totals.dropped > 0 ? 1 : 0);
}
// `on`, not `once`: a repeated signal (Ctrl-C twice, a supervisor that sends it again) would
// otherwise meet Node's default action and end the process with events still buffered, unlogged.
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

producer.start();
try {
  const address = await app.listen({ port: config.port, host: config.host });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : config.port;
  logger.info(
    {
      address,
      port,
      endpoint: config.endpoint ? redactUrl(config.endpoint) : 'aws',
      region: config.region,
      auth: config.auth === 'none' ? 'none' : { jwt: config.auth.jwtSecret !== undefined, jwks: config.auth.jwksUrl !== undefined, apiKeys: config.auth.apiKeys?.length ?? 0 },
      rateLimit: { perMinute: config.rateLimitPerMinute, perKeyPerMinute: config.rateLimitPerKeyPerMinute, store: redis !== undefined ? redactUrl(config.rateLimitRedisUrl!) : 'memory' },
      cors: config.corsOrigins,
      trustProxy: config.trustProxy,
    },
    'listening',
  );
} catch (err) {
  logger.fatal({ err }, 'cannot listen');
  await producer.stop(0);
  process.exit(1);
}
