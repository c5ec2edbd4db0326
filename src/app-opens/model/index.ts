/**
 * The AppOpen event model and its wire formats (Avro single-object and raw v1). The generic Avro
 * helpers it builds on (fingerprints, exact longs, strict strings) are the framework's: src/avro/.
 */
export type { AppOpen } from './appOpen.js';
export { APP_OPEN_SCHEMA_V1, validate, validationError } from './appOpen.js';
export {
  APP_OPEN_V1_FINGERPRINT,
  appOpenDecoder,
  fromAvro,
  knownAppOpenFingerprints,
  registerAppOpenSchema,
  toAvro,
} from './appOpenAvro.js';
