/**
 * The body of `POST /app_opens`: its JSON schema (checked by the HTTP framework) and its
 * conversion into an {@link AppOpen} (checked by the model's own rules).
 */
import { ValidationError } from '../../core/errors.js';
import { hasLoneSurrogate } from '../../avro/strictString.js';
import type { AppOpen } from '../model/index.js';

/**
 * The request body as the JSON schema admits it.
 */
export interface AppOpenBody {
  /**
   * A JSON integer up to 2^53 - 1, or a decimal string for any int64 (ids beyond 2^53 must be
   * strings to stay exact). Optional for end users (taken from the token's `sub`), required for
   * services and with `AUTH=none`.
   */
  userId?: number | string;
  platform: string;
  /** Unix seconds; defaults to the time the request was received. */
  timestamp?: number;
  appVersion?: string | null;
  deviceId?: string | null;
}

/**
 * JSON schema of {@link AppOpenBody} (shared as `AppOpen` by the API). Unknown fields are refused. A numeric `userId` must be a
 * safe integer: a larger JSON number has already been rounded by the parser, so it is refused and
 * the string form is asked for instead. Semantic rules (userId > 0, platform pattern, timestamp
 * not in the future) are the model's, applied after.
 */
export const APP_OPEN_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['platform'],
  properties: {
    userId: {
      description: 'The user. Optional with a user token (taken from its sub; a different one is 403); required with an API key.',
      anyOf: [
        { type: 'integer', maximum: Number.MAX_SAFE_INTEGER },
        { type: 'string', pattern: '^-?[0-9]{1,20}$' },
      ],
    },
    platform: { type: 'string', maxLength: 64, description: 'Lower-case, ^[a-z][a-z0-9_]{0,31}$' },
    timestamp: { type: 'integer', description: 'Unix seconds; default: when the request was received; at most 24 h ahead' },
    appVersion: { type: ['string', 'null'], maxLength: 256 },
    deviceId: { type: ['string', 'null'], maxLength: 256 },
  },
  examples: [
    { platform: 'ios', timestamp: 1764000000, appVersion: '7.1.0' },
    { userId: '9223372036854775807', platform: 'android', timestamp: 1764000000, appVersion: '7.1.0', deviceId: null },
  ],
} as const;

/** What a schema validator reports about one failure (ajv's error object, the part used here). */
export interface SchemaFailure {
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * Turns the first schema failure of an event into the field at fault and a message. `path` is
 * the JSON pointer of the event inside the body (`''` for the single-event body).
 */
export function describeSchemaFailure(v: SchemaFailure, path = ''): { field: string; message: string } {
  const params = v.params as { missingProperty?: string; additionalProperty?: string };
  if (params.missingProperty !== undefined) return { field: params.missingProperty, message: `${params.missingProperty} is required` };
  if (params.additionalProperty !== undefined) return { field: params.additionalProperty, message: `unknown field ${JSON.stringify(params.additionalProperty)}` };
  const field = v.instancePath.slice(path.length).split('/')[1];
  if (field === undefined || field === '') return { field: 'body', message: `${path === '' ? 'body' : 'event'} ${v.message ?? 'is invalid'}: expected a JSON object` };
  if (field === 'userId') {
    return { field, message: 'userId must be an integer up to 2^53 - 1, or a decimal string (send ids beyond 2^53 as strings to keep them exact)' };
  }
  return { field, message: `${field} ${v.message ?? 'is invalid'}` };
}

/**
 * Builds the event from a body that passed the schema. Refuses strings with lone surrogates
 * (they would reach the stream silently replaced by U+FFFD); does not apply the model's rules:
 * call the model's `validate` next.
 */
export function toAppOpen(body: AppOpenBody & { userId: number | string }, nowSeconds: number): AppOpen {
  for (const field of ['platform', 'appVersion', 'deviceId'] as const) {
    const v = body[field];
    if (typeof v === 'string' && hasLoneSurrogate(v)) throw new ValidationError(field, `${field} is not valid Unicode (it holds a lone surrogate)`);
  }
  return {
    userId: BigInt(body.userId),
    platform: body.platform,
    timestamp: body.timestamp ?? Math.floor(nowSeconds),
    appVersion: body.appVersion ?? null,
    deviceId: body.deviceId ?? null,
  };
}
