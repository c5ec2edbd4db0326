/**
 * The App Opens HTTP API on Fastify: `POST /app_opens`, `POST /app_opens/batch`, `GET /healthz`,
 * `GET /openapi.json`. Callers authenticate (a user's JWT or a service's API key), are rate
 * limited, and their events go to a producer.
 */
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import { ValidationError } from '../../core/errors.js';
import { toAvro, validate, type AppOpen } from '../model/index.js';
import { BufferFullError, ProducerClosedError, RecordLimitError } from '../../producer/errors.js';
import { APP_OPEN_BODY_SCHEMA, describeSchemaFailure, toAppOpen, type AppOpenBody } from './appOpenBody.js';
import { AuthError, KeySetUnavailableError, NO_AUTH, type Authenticator, type Principal } from './auth.js';
import { clientKey } from './clientAddress.js';
import { memoryRateStore } from './memoryRateStore.js';
import { ACCEPTED_SCHEMA, BATCH_BODY_SCHEMA, BATCH_ENVELOPE_SCHEMA, BATCH_RESULT_SCHEMA, ERROR_SCHEMA, HEALTH_SCHEMA } from './schemas.js';

/**
 * What the API needs of a producer: a {@link BatchProducer} with `whenFull: 'reject'`.
 */
export interface EventSink {
  add(data: Uint8Array, partitionKey: string): Promise<void>;
  readonly buffered: number;
}

/**
 * The Redis commands the shared rate limiter uses (an ioredis client, standalone or Cluster).
 */
export interface RateLimitRedis {
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void;
}

/**
 * Rate limits: requests per minute, counted per user (a token's `sub`), per API key, and per
 * client IP for requests without a valid credential (and for everyone with `AUTH=none`).
 */
export interface RateLimitOptions {
  /** Requests per minute per user, and per IP for requests without a valid credential. Default 120. `0`: no limit. */
  perMinute?: number;
  /** Requests per minute per API key. Default 60,000. `0`: no limit. */
  perKeyPerMinute?: number;
  /** Share the counts between instances through this Redis; default: in this process's memory. */
  redis?: RateLimitRedis;
  /** Prefix of the Redis keys. Default `app-opens-rate:`. */
  redisPrefix?: string;
  /**
   * Callers (users, keys, client IPs) the in-memory counter holds at once; beyond it the least
   * recently seen caller's count is forgotten. Default 100,000 (about 25 MB). Unused with `redis`.
   */
  cacheSize?: number;
}

/**
 * HTTP timeouts, ms. A connection that breaks one is answered 408 (or closed) and dropped.
 */
export interface HttpTimeouts {
  /** From a connection's first byte (or its opening, for a new one), until the request's headers are in. Default 10,000. */
  headersMs?: number;
  /** The whole request, headers and body. Default 30,000. */
  requestMs?: number;
  /** Longest silence while a body is being received. Default 10,000. */
  bodyIdleMs?: number;
  /** How long an idle keep-alive connection is kept. Default 72,000 (above a load balancer's 60 s). */
  keepAliveMs?: number;
}

/**
 * Options of {@link buildApp}.
 */
export interface AppOptions {
  /** Where accepted events go. Configure it with `whenFull: 'reject'` so that a full buffer answers 503 at once. */
  producer: EventSink;
  /** Who may call (see `createAuthenticator`), or `'none'` to let anyone post for any user (local use only). Required: there is no default. */
  authenticator: Authenticator | 'none';
  /** Rate limits; default {@link RateLimitOptions}' defaults, in memory. */
  rateLimit?: RateLimitOptions;
  /** Origins allowed by CORS (`'*'` for any). Default: none, CORS off. */
  corsOrigins?: readonly string[];
  /**
   * Which proxies' `X-Forwarded-For` to believe for the client IP: `true` (any: only when every
   * request comes through a proxy that overwrites the header), a hop count, or addresses/CIDRs.
   * Default `false`: the TCP peer is the client.
   */
  trustProxy?: boolean | number | readonly string[];
  /** A pino logger (Fastify's own logging). Default: none. */
  logger?: FastifyBaseLogger;
  /** Largest `POST /app_opens` body, in bytes; larger ones get 413. Default 16,384 (16 KiB). */
  bodyLimit?: number;
  /** Largest `POST /app_opens/batch` body, in bytes. Default 1,048,576 (1 MiB: 500 events of up to 2 KiB). */
  batchBodyLimit?: number;
  /** The current Unix time in seconds, for the default timestamp and the model's rules. Default: the system clock. */
  nowSeconds?: () => number;
  /** HTTP timeouts; default {@link HTTP_TIMEOUT_DEFAULTS}. */
  timeouts?: HttpTimeouts;
}

/**
 * The defaults of {@link HttpTimeouts}.
 */
export const HTTP_TIMEOUT_DEFAULTS = { headersMs: 10_000, requestMs: 30_000, bodyIdleMs: 10_000, keepAliveMs: 72_000 } as const;

/**
 * The default {@link AppOptions.bodyLimit}: 16 KiB.
 */
export const DEFAULT_BODY_LIMIT = 16 * 1024;

/**
 * The default {@link AppOptions.batchBodyLimit}: 1 MiB.
 */
export const DEFAULT_BATCH_BODY_LIMIT = 1024 * 1024;

/**
 * The defaults of {@link RateLimitOptions}.
 */
export const RATE_LIMIT_DEFAULTS = { perMinute: 120, perKeyPerMinute: 60_000, redisPrefix: 'app-opens-rate:', cacheSize: 100_000 } as const;

/** The JSON of every error answer. */
interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  field?: string;
}

/** A body `userId` that is not the token's user. */
class UserMismatchError extends Error {
  override name = 'UserMismatchError';
  readonly statusCode = 403;
  readonly field = 'userId';
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

const errorRef = { $ref: 'Error#' } as const;
const errorResponse = (description: string): { description: string; content: { 'application/json': { schema: typeof errorRef } } } => ({
  description,
  content: { 'application/json': { schema: errorRef } },
});

/** The errors every event route may answer, with what each means (the OpenAPI document shows these). */
const COMMON_ERRORS = {
  400: errorResponse('Malformed JSON, or the body breaks the schema or a model rule; `field` names the field at fault'),
  401: errorResponse('No credential, or a bad one (`WWW-Authenticate` says which scheme; an expired token says so)'),
  413: errorResponse('The body is over the limit'),
  415: errorResponse('The body is not application/json'),
  429: errorResponse('Over the rate limit; `Retry-After` gives the seconds to wait'),
  503: errorResponse('The event buffer is full, the service is stopping, or the JWKS is unavailable; `Retry-After` gives the seconds to wait'),
};

/**
 * Builds the API (not listening yet). `POST /app_opens` answers 202 (the event is buffered in the
 * producer, not yet in the stream), 400 naming the field at fault, 401 without a good
 * credential, 403 for another user's `userId`, 413 over the body limit, 415 for a body that is
 * not JSON, 429 over the rate limit, 503 when the producer is full or stopping.
 * `POST /app_opens/batch` answers per event. `GET /openapi.json` is the OpenAPI 3.1 document.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { producer } = options;
  const now = options.nowSeconds ?? ((): number => Date.now() / 1000);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const batchBodyLimit = options.batchBodyLimit ?? DEFAULT_BATCH_BODY_LIMIT;
  if (!(Number.isInteger(bodyLimit) && bodyLimit > 0)) throw new TypeError('Expected `bodyLimit` to be a positive integer.');
  if (!(Number.isInteger(batchBodyLimit) && batchBodyLimit > 0)) throw new TypeError('Expected `batchBodyLimit` to be a positive integer.');
  if (options.authenticator === undefined) throw new TypeError("Expected `authenticator` (use 'none' explicitly to accept anyone).");
  const authenticator = options.authenticator === 'none' ? NO_AUTH : options.authenticator;
  const limits = { ...RATE_LIMIT_DEFAULTS, ...options.rateLimit };
  for (const k of ['perMinute', 'perKeyPerMinute'] as const) {
    if (!(Number.isInteger(limits[k]) && limits[k] >= 0)) throw new TypeError(`Expected \`rateLimit.${k}\` to be a non-negative integer.`);
  }
  if (!(Number.isInteger(limits.cacheSize) && limits.cacheSize > 0)) throw new TypeError('Expected `rateLimit.cacheSize` to be a positive integer.');
  const timeouts = { ...HTTP_TIMEOUT_DEFAULTS, ...options.timeouts };
  for (const k of ['headersMs', 'requestMs', 'bodyIdleMs', 'keepAliveMs'] as const) {
    if (!(Number.isInteger(timeouts[k]) && timeouts[k] > 0)) throw new TypeError(`Expected \`timeouts.${k}\` to be a positive integer.`);
  }
  // Node checks the header and request timeouts only at this interval (30 s by default).
  const checkEveryMs = Math.max(100, Math.min(1_000, Math.floor(Math.min(timeouts.headersMs, timeouts.requestMs) / 4)));
  const trustProxy = options.trustProxy ?? false;

  const app = Fastify({
    ...(options.logger !== undefined ? { loggerInstance: options.logger } : {}),
    // One line per request would dominate the log at thousands of events/s: errors only.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    return503OnClosing: true,
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: checkEveryMs } as never,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Fastify's own handler logs the error at trace with its raw bytes (`rawPacket`): headers,
    // keys and tokens included. This one logs what went wrong, never what was sent.
    clientErrorHandler: answerClientError,
    // Fastify hands a hop count to proxy-addr as documented, though its types omit numbers.
    trustProxy: (Array.isArray(trustProxy) ? [...trustProxy] : trustProxy) as boolean | string[],
    // Validate, never repair: no type coercion, and unknown fields are refused rather than removed.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });

  // JSON only: a text/plain body is 415, not a string that fails the schema.
  app.removeContentTypeParser('text/plain');
  app.addSchema(ERROR_SCHEMA);
  app.addSchema({ $id: 'AppOpen', ...APP_OPEN_BODY_SCHEMA });

  // Each event of a batch is checked alone, with the same rules as the single-event route.
  const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, strict: false });
  const checkEvent = ajv.compile(APP_OPEN_BODY_SCHEMA);
  const checkEnvelope = ajv.compile(BATCH_ENVELOPE_SCHEMA);

  const securitySchemes: Record<string, unknown> = {};
  if (authenticator.schemes.includes('bearer')) {
    securitySchemes.bearerAuth = { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "An end user's token; the user is its `sub`." };
  }
  if (authenticator.schemes.includes('apiKey')) {
    securitySchemes.apiKey = { type: 'apiKey', in: 'header', name: 'x-api-key', description: "A backend service's key; it may post for any user." };
  }
  const security = Object.keys(securitySchemes).map((name) => ({ [name]: [] }));
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'App Opens API',
        version: '1.0.0',
        description: 'Records that a user opened the app. Accepted events are buffered, then written to a Kinesis stream partitioned by user id.',
      },
      components: { securitySchemes: securitySchemes as never },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });

  if (options.corsOrigins !== undefined && options.corsOrigins.length > 0) {
    const origins = [...options.corsOrigins];
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : origins,
      methods: ['GET', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'x-api-key'],
      exposedHeaders: ['retry-after', 'www-authenticate', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
      maxAge: 600,
    });
  }

  // Who is calling, then how fast: one hook per request, before the body is read. A bad
  // credential is counted against the client's IP before it is answered 401.
  const principals = new WeakMap<FastifyRequest, Principal>();
  const rateKey = (request: FastifyRequest): string => {
    const p = principals.get(request);
    if (p === undefined || p.kind === 'anonymous') {
      // One count per IPv4 address or IPv6 /64. An X-Forwarded-For entry that is no address
      // (garbage from the client) is not a fresh count each: the TCP peer's is used instead.
      return `ip:${clientKey(request.ip) ?? clientKey(request.socket.remoteAddress) ?? 'unknown'}`;
    }
    return p.kind === 'user' ? `user:${p.userId}` : `key:${p.keyId}`;
  };
  type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
  let limitUser: Limiter | undefined;
  let limitKey: Limiter | undefined;
  if (limits.perMinute > 0 || limits.perKeyPerMinute > 0) {
    await app.register(rateLimit, {
      global: false,
      ...(limits.redis !== undefined ? { redis: limits.redis as never, nameSpace: limits.redisPrefix } : { store: memoryRateStore(limits.cacheSize) }),
      // Redis unreachable: let requests through (logged) rather than refuse every caller.
      skipOnError: true,
    });
    // Fixed numbers (not a function of the key) spare the limiter an await per request.
    if (limits.perMinute > 0) limitUser = app.createRateLimit({ timeWindow: 60_000, max: limits.perMinute, keyGenerator: rateKey });
    if (limits.perKeyPerMinute > 0) limitKey = app.createRateLimit({ timeWindow: 60_000, max: limits.perKeyPerMinute, keyGenerator: rateKey });
  }
  const guard = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    let refused: AuthError | KeySetUnavailableError | undefined;
    let principal: Principal | undefined;
    try {
      // Node keeps the first of two Authorization headers; a proxy in front may read the last:
      // two readings of one request could be two users, so such a request is refused.
      if (authenticator !== NO_AUTH && countHeader(request.raw.rawHeaders, 'authorization') > 1) {
        throw new AuthError('invalid', 'the request has more than one Authorization header');
      }
      principal = await authenticator.authenticate(request.headers);
      principals.set(request, principal);
    } catch (err) {
      // A JWKS outage is counted like a bad credential: against the client's IP, so that it
      // still meets the limit (429 first) rather than a 503 for every request.
      if (!(err instanceof AuthError) && !(err instanceof KeySetUnavailableError)) throw err;
      refused = err;
    }
    const limiter = principal?.kind === 'service' ? limitKey : limitUser;
    if (limiter !== undefined) {
      const r = await limiter(request);
      if (!r.isAllowed) {
        void reply.header('x-ratelimit-limit', r.max).header('x-ratelimit-remaining', r.remaining).header('x-ratelimit-reset', r.ttlInSeconds);
        if (r.isExceeded) {
          void reply.header('retry-after', r.ttlInSeconds);
          throw Object.assign(new Error(`rate limit exceeded (${r.max} requests per minute); retry in ${r.ttlInSeconds} s`), { name: 'RateLimitError', statusCode: 429 });
        }
      }
    }
    if (refused !== undefined) throw refused;
  };
  const onRequest = [guard];

  // A body that stops arriving: the socket's idle timer runs from the start of the body until
  // the handler (after a response Node sets it to the keep-alive timeout).
  app.addHook('preParsing', async (request) => {
    request.raw.setTimeout(timeouts.bodyIdleMs, () => {
      request.log.debug({ timeoutMs: timeouts.bodyIdleMs }, 'request body stalled; connection closed');
      request.raw.socket.destroy();
    });
  });
  app.addHook('preHandler', async (request) => {
    request.raw.socket.setTimeout(0);
  });

  // Connections and their requests in flight, so that closing can drop idle ones at once
  // (Node's own close waits for a connection that never sent a request) and the rest later.
  const connections = new Map<Socket, number>();
  let closing = false;
  app.server.on('connection', (socket: Socket) => {
    connections.set(socket, 0);
    socket.once('close', () => connections.delete(socket));
  });
  app.server.on('request', (req: FastifyRequest['raw'], res: FastifyReply['raw']) => {
    const socket = req.socket;
    connections.set(socket, (connections.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const inFlight = (connections.get(socket) ?? 1) - 1;
      if (!connections.has(socket)) return;
      connections.set(socket, inFlight);
      if (closing && inFlight === 0) socket.end();
    });
  });
  app.addHook('preClose', async () => {
    closing = true;
    for (const [socket, inFlight] of connections) if (inFlight === 0) socket.destroy();
  });
  closers.set(app, { busyConnections: () => connections.size });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const body = errorBody(error);
    if (body.statusCode >= 500 && body.statusCode !== 503) request.log.error({ err: error }, 'request failed');
    if (body.statusCode === 503) void reply.header('retry-after', String(error instanceof KeySetUnavailableError ? error.retryAfterSeconds : 1));
    if (error instanceof AuthError) void reply.header('www-authenticate', authenticator.challenge(error));
    return reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url}` } satisfies ErrorBody),
  );

  /** The event of `body` from this caller: the user from the token, checked against the body's. */
  const eventOf = (body: AppOpenBody, principal: Principal, nowSeconds: number): AppOpen => {
    let userId = body.userId;
    if (principal.kind === 'user') {
      if (userId === undefined) userId = principal.userId;
      else if (BigInt(userId) !== BigInt(principal.userId)) throw new UserMismatchError("userId is not the token's user (sub)");
    } else if (userId === undefined) {
      throw new ValidationError('userId', `userId is required (${principal.kind === 'service' ? 'an API key posts for any user' : 'AUTH=none'})`);
    }
    const event = toAppOpen({ ...body, userId }, nowSeconds);
    validate(event, nowSeconds);
    return event;
  };
  const principalOf = (request: FastifyRequest): Principal => principals.get(request) as Principal;

  app.post<{ Body: AppOpenBody }>(
    '/app_opens',
    {
      onRequest,
      schema: {
        summary: 'Record one app open',
        description: 'Buffers one event for the stream. With a user token, `userId` may be left out (it is the token `sub`).',
        body: APP_OPEN_BODY_SCHEMA,
        security,
        response: {
          202: { description: 'Accepted: buffered in the producer, not yet in the stream', ...ACCEPTED_SCHEMA },
          ...COMMON_ERRORS,
          403: errorResponse("`userId` is not the token's user"),
        },
      },
    },
    async (request, reply) => {
      const nowSeconds = now();
      const event = eventOf(request.body, principalOf(request), nowSeconds);
      await producer.add(toAvro(event), event.userId.toString());
      return reply.code(202).send({ status: 'accepted' });
    },
  );

  app.post<{ Body: { events: unknown[] } }>(
    '/app_opens/batch',
    {
      onRequest,
      bodyLimit: batchBodyLimit,
      // The route's schema documents each event; the route itself checks only the envelope and
      // answers every event in its place (one bad event must not refuse the others).
      validatorCompiler: () => checkEnvelope,
      schema: {
        summary: `Record up to ${BATCH_BODY_SCHEMA.properties.events.maxItems} app opens`,
        description:
          'Each event is checked and buffered on its own, in order; the answer has one result per event. ' +
          'Send again only the events rejected with `retriable: true` (503); fix the others first. A batch counts as one request for the rate limit.',
        body: BATCH_BODY_SCHEMA,
        security,
        response: {
          202: { description: 'Every event accepted', ...BATCH_RESULT_SCHEMA },
          207: { description: 'Some or all events rejected: see each result', ...BATCH_RESULT_SCHEMA },
          ...COMMON_ERRORS,
          400: errorResponse('Malformed JSON, or not {"events": [...]} with 1 to 500 events; `field` is `events` or `body`'),
          503: errorResponse('The service is stopping, or the JWKS is unavailable (a full buffer is answered per event instead); `Retry-After` gives the seconds to wait'),
        },
      },
    },
    async (request, reply) => {
      const nowSeconds = now();
      const principal = principalOf(request);
      const events = request.body.events;
      const results: BatchResult[] = new Array<BatchResult>(events.length);
      const pending: Array<Promise<void>> = [];
      for (let index = 0; index < events.length; index++) {
        const body = events[index];
        if (!checkEvent(body)) {
          const { field, message } = describeSchemaFailure(checkEvent.errors![0]!);
          results[index] = { index, status: 'rejected', statusCode: 400, field, message, retriable: false };
          continue;
        }
        let event: AppOpen;
        try {
          event = eventOf(body as AppOpenBody, principal, nowSeconds);
        } catch (err) {
          results[index] = rejected(index, err as Error);
          continue;
        }
        results[index] = { index, status: 'accepted' };
        pending.push(
          producer.add(toAvro(event), event.userId.toString()).catch((err: unknown) => {
            results[index] = rejected(index, err as Error);
          }),
        );
      }
      await Promise.all(pending);
      let accepted = 0;
      for (const r of results) if (r.status === 'accepted') accepted++;
      return reply.code(accepted === events.length ? 202 : 207).send({ accepted, rejected: events.length - accepted, results });
    },
  );

  app.get('/healthz', { schema: { summary: 'Liveness, and how many events are buffered', response: { 200: HEALTH_SCHEMA } } }, async () => ({
    status: 'ok',
    buffered: producer.buffered,
  }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

/** How many times the header `name` (lower case) occurs in Node's `rawHeaders` (name, value, name, value...). */
function countHeader(rawHeaders: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name) n++;
  return n;
}

/** What {@link closeApp} needs of each app built here. */
const closers = new WeakMap<FastifyInstance, { busyConnections: () => number }>();

/**
 * Closes an app built by {@link buildApp} within `timeoutMs`: stops accepting connections, closes
 * idle ones at once (kept-alive, or open without a request), lets requests in flight finish, and
 * when `timeoutMs` is over destroys the connections still open (their requests were not accepted:
 * nothing was buffered for them). Resolves with how many connections were cut that way.
 */
export async function closeApp(app: FastifyInstance, timeoutMs: number): Promise<{ forced: number }> {
  const closed = app.close();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
  });
  const first = await Promise.race([closed.then(() => 'closed' as const), late]);
  clearTimeout(timer);
  if (first === 'closed') return { forced: 0 };
  const forced = closers.get(app)?.busyConnections() ?? 0;
  app.server.closeAllConnections();
  await closed;
  return { forced };
}

/**
 * Fastify's `clientErrorHandler`: a request the HTTP parser refused (400), too large headers
 * (431), or a header or request timeout (408). Logged at debug by its code and message only:
 * Fastify's default handler logs the raw bytes received, credentials and all.
 */
function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, label] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
  this.log.debug({ err: { code: err.code, message: err.message }, statusCode: status }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify({ statusCode: status, error: label, message: status === 408 ? 'the request took too long' : status === 431 ? 'the request headers are too large' : 'the request is not valid HTTP' });
    socket.write(`HTTP/1.1 ${status} ${label}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy();
}

interface BatchResult {
  index: number;
  status: 'accepted' | 'rejected';
  statusCode?: number;
  field?: string;
  message?: string;
  retriable?: boolean;
}

function rejected(index: number, error: Error): BatchResult {
  const body = errorBody(error as FastifyError);
  if (body.statusCode >= 500 && body.statusCode !== 503) throw error;
  return { index, status: 'rejected', statusCode: body.statusCode, ...(body.field !== undefined ? { field: body.field } : {}), message: body.message, retriable: body.statusCode === 503 };
}

function errorBody(error: FastifyError & { field?: unknown }): ErrorBody {
  const reply = (statusCode: number, message: string, field?: string): ErrorBody => ({
    statusCode,
    error: REASONS[statusCode] ?? 'Error',
    message,
    ...(field !== undefined ? { field } : {}),
  });
  if (error.validation !== undefined && error.validation.length > 0) {
    const { field, message } = describeSchemaFailure(error.validation[0]!);
    return reply(400, message, field);
  }
  switch (error.name) {
    case 'ValidationError':
      return reply(400, error.message, typeof error.field === 'string' ? error.field : undefined);
    case 'UserMismatchError':
      return reply(403, error.message, 'userId');
    case 'AuthError':
      return reply(401, error.message);
    case 'RateLimitError':
      return reply(429, error.message);
    case 'KeySetUnavailableError':
      return reply(503, error.message);
    case BufferFullError.name:
      return reply(503, 'the event buffer is full; retry shortly');
    case ProducerClosedError.name:
      return reply(503, 'the service is shutting down; retry on another instance');
    case RecordLimitError.name:
      return reply(413, error.message);
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return reply(status, error.message);
  return reply(status, 'internal error');
}
