/**
 * Configuration from the environment, the way the worker binaries read it: a `.env` file in the
 * working directory is loaded first, and the real environment wins over it.
 */
import { config as loadDotenv } from 'dotenv';

/** A missing or malformed mandatory setting. Binaries print its message as one stderr line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Loads `.env` from `dir` (default: the working directory) into `process.env` without
 * overriding variables that are already set. Silent: dotenv's own banner would land on stdout.
 */
export function loadEnvFile(dir: string = process.cwd()): void {
  loadDotenv({ path: `${dir}/.env`, quiet: true, override: false });
}

/**
 * Reads a variable that must be set. `parse` may throw to reject a malformed value; its message
 * becomes part of the error.
 *
 * @example
 * const url = mandatoryVar('RESULTS_REDIS_URL', parseUrl(['redis:', 'rediss:']));
 */
export function mandatoryVar<T = string>(name: string, parse?: (value: string) => T, env: NodeJS.ProcessEnv = process.env): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') {
    throw new ConfigError(name, `${name} is not set (mandatory)`);
  }
  return parseWith(name, raw.trim(), parse);
}

/**
 * Reads a variable that should be set; when it is not, `fallback` is used and `onDefault` is told
 * (the binaries log a warning).
 *
 * @example
 * const logPath = importantVar('LOG_PATH', './lastopens.log', (msg) => logger.warn({}, msg));
 */
export function importantVar<T = string>(
  name: string,
  fallback: T,
  onDefault: (message: string) => void,
  parse?: (value: string) => T,
  env: NodeJS.ProcessEnv = process.env,
): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') {
    onDefault(`${name} is not set; using the default ${JSON.stringify(fallback)}`);
    return fallback;
  }
  return parseWith(name, raw.trim(), parse);
}

/**
 * Reads an optional variable with a default, silently.
 *
 * @example
 * const port = optionalVar('PORT', 8080, parseInteger({ min: 1, max: 65535 }));
 */
export function optionalVar<T = string>(name: string, fallback: T, parse?: (value: string) => T, env: NodeJS.ProcessEnv = process.env): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  return parseWith(name, raw.trim(), parse);
}

function parseWith<T>(name: string, raw: string, parse?: (value: string) => T): T {
  if (!parse) return raw as T;
  try {
    return parse(raw);
  } catch (err) {
    throw new ConfigError(name, `${name} is malformed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * A parser for URLs with one of the given protocols (e.g. `['redis:', 'rediss:']`).
 */
export function parseUrl(protocols: readonly string[]): (value: string) => string {
  return (value) => {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new Error('not a URL');
    }
    if (!protocols.includes(u.protocol)) {
      throw new Error(`expected a ${protocols.map((p) => p.replace(/:$/, '://')).join(' or ')} URL, got ${u.protocol}//`);
    }
    return value;
  };
}

/**
 * A parser for integers within bounds.
 */
export function parseInteger(bounds: { min?: number; max?: number } = {}): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value)) throw new Error(`expected an integer, got ${JSON.stringify(value)}`);
    const n = Number(value);
    if (bounds.min !== undefined && n < bounds.min) throw new Error(`must be >= ${bounds.min}`);
    if (bounds.max !== undefined && n > bounds.max) throw new Error(`must be <= ${bounds.max}`);
    return n;
  };
}

/**
 * A parser for stream names as Kinesis allows them (1-128 of `[a-zA-Z0-9_.-]`).
 */
export function parseStreamName(value: string): string {
  if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(value)) throw new Error('expected 1-128 characters of [a-zA-Z0-9_.-]');
  return value;
}
