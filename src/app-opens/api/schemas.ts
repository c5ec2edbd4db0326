/**
 * JSON schemas of the API's answers and of the batch body. Routes declare them, Fastify
 * validates and serializes with them, and @fastify/swagger builds `GET /openapi.json` from them:
 * the document cannot drift from what the routes do.
 */

/** The most events one `POST /app_opens/batch` may carry. */
export const MAX_BATCH_EVENTS = 500;

/**
 * Every error answer (`$id` `Error`): the status again, its reason, a message, and for a 400 the
 * field at fault.
 */
export const ERROR_SCHEMA = {
  $id: 'Error',
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string', description: 'The field at fault (400 only)' },
  },
  examples: [{ statusCode: 400, error: 'Bad Request', message: 'platform must match ^[a-z][a-z0-9_]{0,31}$', field: 'platform' }],
} as const;

/**
 * `202` of `POST /app_opens`.
 */
export const ACCEPTED_SCHEMA = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string', enum: ['accepted'] } },
  examples: [{ status: 'accepted' }],
} as const;

/**
 * The body of `POST /app_opens/batch`: `{"events": [AppOpen, ...]}`, 1 to 500 events. The route
 * checks only this envelope as a whole; each event is checked on its own and answered in its
 * place in the results (see {@link BATCH_RESULT_SCHEMA}).
 */
export const BATCH_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['events'],
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
      description: 'Each item is checked on its own: one bad event does not refuse the others.',
      items: { $ref: 'AppOpen#' },
    },
  },
  examples: [
    {
      events: [
        { userId: '42', platform: 'ios', timestamp: 1764000000, appVersion: '7.1.0' },
        { userId: '42', platform: 'iOS', timestamp: 1764000005 },
      ],
    },
  ],
} as const;

/** The same envelope without the item schema: what the batch route validates as a whole. */
export const BATCH_ENVELOPE_SCHEMA = {
  ...BATCH_BODY_SCHEMA,
  properties: { events: { type: 'array', minItems: 1, maxItems: MAX_BATCH_EVENTS } },
} as const;

/**
 * The answer of `POST /app_opens/batch` (202 when every event was accepted, 207 otherwise):
 * counts, and one result per event in the order sent. A rejected event carries the status it
 * would have had alone, the field at fault (400) and `retriable` (true for 503: send it again
 * later; false: fix it first).
 */
export const BATCH_RESULT_SCHEMA = {
  type: 'object',
  required: ['accepted', 'rejected', 'results'],
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'status'],
        properties: {
          index: { type: 'integer' },
          status: { type: 'string', enum: ['accepted', 'rejected'] },
          statusCode: { type: 'integer', enum: [400, 403, 413, 503] },
          field: { type: 'string' },
          message: { type: 'string' },
          retriable: { type: 'boolean' },
        },
      },
    },
  },
  examples: [
    {
      accepted: 1,
      rejected: 1,
      results: [
        { index: 0, status: 'accepted' },
        { index: 1, status: 'rejected', statusCode: 400, field: 'platform', message: 'platform must match ^[a-z][a-z0-9_]{0,31}$', retriable: false },
      ],
    },
  ],
} as const;

/**
 * `200` of `GET /healthz`.
 */
export const HEALTH_SCHEMA = {
  type: 'object',
  required: ['status', 'buffered'],
  properties: { status: { type: 'string', enum: ['ok'] }, buffered: { type: 'integer', description: 'events held by the producer' } },
  examples: [{ status: 'ok', buffered: 12 }],
} as const;
