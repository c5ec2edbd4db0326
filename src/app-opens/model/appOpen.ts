/**
 * The AppOpen event: its shape, its Avro schema (version 1) and its validation rules.
 * Encoding and decoding live in appOpenAvro.ts.
 */
import { ValidationError } from '../../core/errors.js';
import { INT64_MAX } from '../../avro/exactLong.js';

/**
 * One opening of the app by a user on a platform.
 *
 * @example
 * const event: AppOpen = { timestamp: 1764000000, userId: 42n, platform: 'ios', appVersion: '7.1.0', deviceId: null };
 */
export interface AppOpen {
  /** Unix seconds. Always a safe integer: a decoded long beyond 2^53 is an error, never rounded. */
  timestamp: number;
  /** The user's id, an exact int64 (ids beyond 2^53 round-trip unchanged). */
  userId: bigint;
  /** Lowercase platform tag, e.g. `ios`, `android`; part of a Redis field name. */
  platform: string;
  appVersion: string | null;
  deviceId: string | null;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) deepFreeze(child as object);
  return Object.freeze(value);
}

/**
 * The AppOpen Avro schema, version 1, exactly as other producers and consumers use it (frozen).
 * Its CRC-64-AVRO fingerprint is `APP_OPEN_V1_FINGERPRINT`.
 *
 * @example
 * JSON.stringify(APP_OPEN_SCHEMA_V1); // the .avsc text
 */
export const APP_OPEN_SCHEMA_V1: object = deepFreeze({
  type: 'record',
  name: 'AppOpen',
  namespace: 'com.timehop.streams',
  fields: [
    { name: 'timestamp', type: 'long' },
    { name: 'userId', type: 'long' },
    { name: 'platform', type: 'string' },
    { name: 'appVersion', type: ['null', 'string'], default: null },
    { name: 'deviceId', type: ['null', 'string'], default: null },
  ],
});

/**
 * How far in the future a timestamp may be (clock skew between devices and us): 24 hours.
 *
 * @example
 * validate(event, nowSeconds); // accepts timestamps up to nowSeconds + MAX_FUTURE_SECONDS
 */
export const MAX_FUTURE_SECONDS = 24 * 60 * 60;

/**
 * The platform rule: it becomes part of the Redis field `<platform>_app_open`.
 *
 * @example
 * PLATFORM_PATTERN.test('android_tv'); // true
 */
export const PLATFORM_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Checks an event against the model's rules and throws a {@link ValidationError} whose `field`
 * names the first offending field: `userId` > 0 (and an int64); `timestamp` a safe integer > 0
 * and at most 24 hours after `nowSeconds`; `platform` matching `^[a-z][a-z0-9_]{0,31}$`;
 * `appVersion`/`deviceId` a string or null.
 *
 * @param nowSeconds the current Unix time in seconds (default: the system clock).
 * @example
 * validate(event); // throws ValidationError('platform', ...) for platform 'iOS'
 * validate(event, 1764000000); // with a fixed clock, in tests
 */
export function validate(event: AppOpen, nowSeconds: number = Date.now() / 1000): void {
  if (!Number.isFinite(nowSeconds)) throw new TypeError(`nowSeconds must be a finite number, got ${String(nowSeconds)}`);
  const { userId, timestamp, platform } = event;
  if (typeof userId !== 'bigint') throw new ValidationError('userId', `userId must be a bigint, got ${typeof userId}`);
  if (userId <= 0n) throw new ValidationError('userId', `userId must be > 0, got ${userId}`);
  if (userId > INT64_MAX) throw new ValidationError('userId', `userId must fit in a signed 64-bit integer, got ${userId}`);
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp)) {
    throw new ValidationError('timestamp', `timestamp must be an integer number of Unix seconds, got ${String(timestamp)}`);
  }
  if (timestamp <= 0) throw new ValidationError('timestamp', `timestamp must be > 0, got ${timestamp}`);
  if (timestamp > nowSeconds + MAX_FUTURE_SECONDS) {
    throw new ValidationError(
      'timestamp',
      `timestamp ${timestamp} is more than 24 hours in the future (now is ${Math.floor(nowSeconds)})`,
    );
  }
  if (typeof platform !== 'string' || !PLATFORM_PATTERN.test(platform)) {
    throw new ValidationError('platform', `platform must match ^[a-z][a-z0-9_]{0,31}$, got ${JSON.stringify(platform)}`);
  }
  if (event.appVersion !== null && typeof event.appVersion !== 'string') {
    throw new ValidationError('appVersion', `appVersion must be a string or null, got ${typeof event.appVersion}`);
  }
  if (event.deviceId !== null && typeof event.deviceId !== 'string') {
    throw new ValidationError('deviceId', `deviceId must be a string or null, got ${typeof event.deviceId}`);
  }
}
