/**
 * Renders a KCL daemon properties file from a template: keys given as overrides get the new value
 * in place (comments and order kept), keys the template lacks are appended. The daemon ignores
 * unknown keys silently, so overrides are checked against the keys KCL 2.7.2 reads.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { renderProperties } from '../src/daemon/properties.js';

// The key list and the renderer ship with the launcher (src/daemon/properties.ts).
export { KNOWN_KEYS, isKnownKey, propertyKeys, renderProperties } from '../src/daemon/properties.js';

/**
 * Renders `templateFile` with `overrides` into `outFile` (folders created) and returns `outFile`.
 * @example
 * writeProperties('properties/lastopens.local.properties', '.local/lastopens.properties', {
 *   kinesisEndpoint: stack.kinesisEndpoint, dynamoDBEndpoint: stack.dynamoEndpoint,
 * });
 */
export function writeProperties(
  templateFile: string,
  outFile: string,
  overrides: Readonly<Record<string, string | number>>,
): string {
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, renderProperties(readFileSync(templateFile, 'utf8'), overrides));
  return outFile;
}
