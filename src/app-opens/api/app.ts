/**
 * The App Opens HTTP API: `POST /app_opens` and `GET /healthz`, on Fastify.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { toAvro, validate } from '../model/index.js';
import { BufferFullError, ProducerClosedError, RecordLimitError } from '../../producer/errors.js';
import { APP_OPEN_BODY_SCHEMA, toAppOpen, type AppOpenBody } from './appOpenBody.js';

/**
 * What the API needs of a producer: a {@link BatchProducer} with `whenFull: 'reject'`.
 *
 * @example
 * const sink: EventSink = new BatchProducer({ client, streamName, whenFull: 'reject' });
 */
export interface EventSink {
  add(data: Uint8Array, partitionKey: string): Promise<void>;
  readonly buffered: number;
}

/**
 * Options of {@link buildApp}.
 *
 * @example
 * const options: AppOptions = { producer, logger, bodyLimit: DEFAULT_BODY_LIMIT };
 */
export interface AppOptions {
  /** Where accepted events go. Configure it with `whenFull: 'reject'` so that a full buffer answers 503 at once. */
  producer: EventSink;
  /** A pino logger (Fastify's own logging). Default: none. */
  logger?: FastifyBaseLogger;
  /** Largest accepted body, in bytes; larger ones get 413. Default 16,384 (16 KiB). */
  bodyLimit?: number;
  /** The current Unix time in seconds, for the default timestamp and the model's rules. Default: the system clock. */
  nowSeconds?: () => number;
}

/**
 * The default {@link AppOptions.bodyLimit}: 16 KiB.
 *
 * @example
 * buildApp({ producer, bodyLimit: 2 * DEFAULT_BODY_LIMIT });
 */
export const DEFAULT_BODY_LIMIT = 16 * 1024;

/** The JSON of every error answer. */
interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  field?: string;
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 503: 'Service Unavailable' };

/**
 * Builds the API (not listening yet). Answers: 202 accepted (the event is buffered in the
 * producer, not yet in the stream); 400 with `field` naming the offending field; 413 over the
 * body limit; 415 for a body that is not JSON; 503 when the producer is full or stopping.
 *
 * @example
 * const app = buildApp({ producer, logger });
 * await app.listen({ port: 8080, host: '0.0.0.0' });
 */
export function buildApp(options: AppOptions): FastifyInstance {
  const { producer } = options;
  const now = options.nowSeconds ?? ((): number => Date.now() / 1000);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!(Number.isInteger(bodyLimit) && bodyLimit > 0)) throw new TypeError('Expected `bodyLimit` to be a positive integer.');
  const app = Fastify({
    ...(options.logger !== undefined ? { loggerInstance: options.logger } : {}),
    // One line per request would dominate the log at thousands of events/s: errors only.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    return503OnClosing: true,
    // Validate, never repair: no type coercion, and unknown fields are refused rather than removed.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });

  // JSON only: a text/plain body is 415, not a string that fails the schema.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const body = errorBody(error);
    if (body.statusCode >= 500 && body.statusCode !== 503) request.log.error({ err: error }, 'request failed');
    if (body.statusCode === 503) void reply.header('retry-after', '1');
    return reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url}` } satisfies ErrorBody),
  );

  app.post<{ Body: AppOpenBody }>('/app_opens', { schema: { body: APP_OPEN_BODY_SCHEMA } }, async (request, reply) => {
    const nowSeconds = now();
    const event = toAppOpen(request.body, nowSeconds);
    validate(event, nowSeconds);
    await producer.add(toAvro(event), event.userId.toString());
    return reply.code(202).send({ status: 'accepted' });
  });

  app.get('/healthz', async () => ({ status: 'ok', buffered: producer.buffered }));
  return app;
}

function errorBody(error: FastifyError & { field?: unknown }): ErrorBody {
  const reply = (statusCode: number, message: string, field?: string): ErrorBody => ({
    statusCode,
    error: REASONS[statusCode] ?? 'Error',
    message,
    ...(field !== undefined ? { field } : {}),
  });
  if (error.validation !== undefined && error.validation.length > 0) {
    const v = error.validation[0]!;
    const params = v.params as { missingProperty?: string; additionalProperty?: string };
    if (params.missingProperty !== undefined) return reply(400, `${params.missingProperty} is required`, params.missingProperty);
    if (params.additionalProperty !== undefined) return reply(400, `unknown field ${JSON.stringify(params.additionalProperty)}`, params.additionalProperty);
    const field = v.instancePath.split('/')[1];
    if (field === undefined || field === '') return reply(400, `body ${v.message ?? 'is invalid'}: expected a JSON object`, 'body');
    if (field === 'userId') {
      return reply(400, 'userId must be an integer up to 2^53 - 1, or a decimal string (send ids beyond 2^53 as strings to keep them exact)', field);
    }
    return reply(400, `${field} ${v.message ?? 'is invalid'}`, field);
  }
  switch (error.name) {
    case 'ValidationError':
      return reply(400, error.message, typeof error.field === 'string' ? error.field : undefined);
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
