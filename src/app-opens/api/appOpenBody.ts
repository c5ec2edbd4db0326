/**
 * The body of `POST /app_opens`: its JSON schema (checked by the HTTP framework) and its
 * conversion into an {@link AppOpen} (checked by the model's own rules).
 */
import { ValidationError } from '../../core/errors.js';
import type { AppOpen } from '../model/index.js';

/** A UTF-16 surrogate that is not part of a pair: JSON can carry it, UTF-8 (and Avro) cannot. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The request body as the JSON schema admits it.
 *
 * @example
 * const body: AppOpenBody = { userId: '9223372036854775807', platform: 'ios' };
 */
export interface AppOpenBody {
  /** A JSON integer up to 2^53 - 1, or a decimal string for any int64 (ids beyond 2^53 must be strings to stay exact). */
  userId: number | string;
  platform: string;
  /** Unix seconds; defaults to the time the request was received. */
  timestamp?: number;
  appVersion?: string | null;
  deviceId?: string | null;
}

/**
 * JSON schema of {@link AppOpenBody}. Unknown fields are refused. A numeric `userId` must be a
 * safe integer: a larger JSON number has already been rounded by the parser, so it is refused and
 * the string form is asked for instead. Semantic rules (userId > 0, platform pattern, timestamp
 * not in the future) are the model's, applied after.
 *
 * @example
 * app.post('/app_opens', { schema: { body: APP_OPEN_BODY_SCHEMA } }, handler);
 */
export const APP_OPEN_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'platform'],
  properties: {
    userId: {
      anyOf: [
        { type: 'integer', maximum: Number.MAX_SAFE_INTEGER },
        { type: 'string', pattern: '^-?[0-9]{1,20}$' },
      ],
    },
    platform: { type: 'string', maxLength: 64 },
    timestamp: { type: 'integer' },
    appVersion: { type: ['string', 'null'], maxLength: 256 },
    deviceId: { type: ['string', 'null'], maxLength: 256 },
  },
} as const;

/**
 * Builds the event from a body that passed the schema. Refuses strings with lone surrogates
 * (they would reach the stream silently replaced by U+FFFD); does not apply the model's rules:
 * call the model's `validate` next.
 *
 * @example
 * toAppOpen({ userId: '9223372036854775807', platform: 'ios' }, 1764000000).userId; // 9223372036854775807n
 */
export function toAppOpen(body: AppOpenBody, nowSeconds: number): AppOpen {
  for (const field of ['platform', 'appVersion', 'deviceId'] as const) {
    const v = body[field];
    if (typeof v === 'string' && LONE_SURROGATE.test(v)) throw new ValidationError(field, `${field} is not valid Unicode (it holds a lone surrogate)`);
  }
  return {
    userId: BigInt(body.userId),
    platform: body.platform,
    timestamp: body.timestamp ?? Math.floor(nowSeconds),
    appVersion: body.appVersion ?? null,
    deviceId: body.deviceId ?? null,
  };
}
