/**
 * Event models and their wire formats. One model so far: AppOpen.
 */
export type { AppOpen } from './appOpen.js';
export { APP_OPEN_SCHEMA_V1, validate } from './appOpen.js';
export {
  APP_OPEN_V1_FINGERPRINT,
  appOpenDecoder,
  fromAvro,
  knownAppOpenFingerprints,
  registerAppOpenSchema,
  toAvro,
} from './appOpenAvro.js';
export type { AvroSchema } from './schemaFingerprint.js';
export { canonicalFormOf, fingerprintOf, formatFingerprint } from './schemaFingerprint.js';
