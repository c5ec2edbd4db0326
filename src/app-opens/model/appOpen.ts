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
 */
export const MAX_FUTURE_SECONDS = 24 * 60 * 60;

/**
 * The platform rule: it becomes part of the Redis field `<platform>_app_open`.
 */
export const PLATFORM_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Platforms that matched {@link PLATFORM_PATTERN} already: a stream carries a handful, so the
 * pattern runs once per platform instead of once per event. Bounded; past the bound the pattern
 * simply runs every time.
 */
const acceptedPlatforms = new Set<string>();
const ACCEPTED_PLATFORMS_MAX = 1_000;

function isValidPlatform(platform: unknown): boolean {
  if (typeof platform !== 'string') return false;
  if (acceptedPlatforms.has(platform)) return true;
  if (!PLATFORM_PATTERN.test(platform)) return false;
  if (acceptedPlatforms.size < ACCEPTED_PLATFORMS_MAX) acceptedPlatforms.add(platform);
  return true;
}

/**
 * The model's rules, without throwing: the {@link ValidationError} {@link validate} would throw
 * (its `field` names the first offending field), or `undefined` for a valid event. Cheap enough
 * to run once per event of a large batch: pass the batch's clock reading as `nowSeconds` rather
 * than reading the clock per event.
 *
 * @param nowSeconds the current Unix time in seconds (default: the system clock).
 * @throws TypeError when `nowSeconds` is not a finite number (a caller's bug, not a bad event).
 * @example
 * const now = Date.now() / 1000;
 * const failed = events.flatMap((e, index) => {
 *   const error = validationError(e, now);
 *   return error ? [{ index, error }] : [];
 * });
 */
export function validationError(event: AppOpen, nowSeconds: number = Date.now() / 1000): ValidationError | undefined {
  if (!Number.isFinite(nowSeconds)) throw new TypeError(`nowSeconds must be a finite number, got ${String(nowSeconds)}`);
  const { userId, timestamp, platform } = event;
  if (typeof userId !== 'bigint') return new ValidationError('userId', `userId must be a bigint, got ${typeof userId}`);
  if (userId <= 0n) return new ValidationError('userId', `userId must be > 0, got ${userId}`);
  if (userId > INT64_MAX) return new ValidationError('userId', `userId must fit in a signed 64-bit integer, got ${userId}`);
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp)) {
    return new ValidationError('timestamp', `timestamp must be an integer number of Unix seconds, got ${String(timestamp)}`);
  }
  if (timestamp <= 0) return new ValidationError('timestamp', `timestamp must be > 0, got ${timestamp}`);
  if (timestamp > nowSeconds + MAX_FUTURE_SECONDS) {
    return new ValidationError(
      'timestamp',
      `timestamp ${timestamp} is more than 24 hours in the future (now is ${Math.floor(nowSeconds)})`,
    );
  }
  if (!isValidPlatform(platform)) {
    return new ValidationError('platform', `platform must match ^[a-z][a-z0-9_]{0,31}$, got ${JSON.stringify(platform)}`);
  }
  if (event.appVersion !== null && typeof event.appVersion !== 'string') {
    return new ValidationError('appVersion', `appVersion must be a string or null, got ${typeof event.appVersion}`);
  }
  if (event.deviceId !== null && typeof event.deviceId !== 'string') {
    return new ValidationError('deviceId', `deviceId must be a string or null, got ${typeof event.deviceId}`);
  }
  return undefined;
}

/**
 * Checks an event against the model's rules and throws a {@link ValidationError} whose `field`
 * names the first offending field: `userId` > 0 (and an int64); `timestamp` a safe integer > 0
 * and at most 24 hours after `nowSeconds`; `platform` matching `^[a-z][a-z0-9_]{0,31}$`;
 * `appVersion`/`deviceId` a string or null. {@link validationError} returns the same error instead.
 *
 * @param nowSeconds the current Unix time in seconds (default: the system clock).
 * @example
 * validate(event); // throws ValidationError('platform', ...) for platform 'iOS'
 * validate(event, 1764000000); // with a fixed clock, in tests
 */
export function validate(event: AppOpen, nowSeconds: number = Date.now() / 1000): void {
  const error = validationError(event, nowSeconds);
  if (error) throw error;
}
