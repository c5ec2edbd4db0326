/**
 * Worker logging: pino, to a file (or stderr when asked), never to stdout.
 */
import pino, { type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import { LogDestination, openLogFile, type LogDrops } from './logDestination.js';

export type { LogDrops };

/** Where and how a worker logs. */
export interface LogOptions {
  /** A file path (created with its folders), or `stderr` / `-` for standard error. */
  destination: string;
  /** pino level name. Default `info`. */
  level?: string;
  /** Fields on every line (stream name, worker name...). */
  base?: Record<string, unknown>;
  /** Who writes, in the stderr lines about dropped log lines. Default `kcl worker`. */
  name?: string;
  /** At most one stderr line about dropped log lines per this many ms. Default 60,000. */
  dropReportIntervalMs?: number;
}

/** A logger and the means to get its last lines onto disk before exiting. */
export interface WorkerLogger {
  logger: PinoLogger;
  /** Writes out everything buffered, synchronously; safe to call more than once and at exit. Never throws. */
  flushSync(): void;
  /** Log lines dropped so far because the destination failed (a full disk...), and the last error. */
  drops(): LogDrops;
}

/** Keys whose values never reach a log line. */
export const REDACTED_PATHS = ['password', '*.password', 'secret', '*.secret', 'authorization', '*.authorization'];

/**
 * The level names `LOG_LEVEL` accepts, every binary alike (pino's levels, and `silent`).
 */
export const LOG_LEVELS: readonly string[] = Object.freeze(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * A parser for `LOG_LEVEL` (for `optionalVar`): one of {@link LOG_LEVELS}, else it throws, and
 * `optionalVar` names the variable (`LOG_LEVEL is malformed: expected one of fatal, error, ...`).
 *
 * @example
 * const logLevel = optionalVar('LOG_LEVEL', 'info', parseLogLevel);
 */
export function parseLogLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`);
  return value;
}

/**
 * What differs between the project's loggers; everything else is {@link pinoOptions}'s.
 */
export interface PinoSettings {
  /** pino level name. Default `info`. */
  level?: string | undefined;
  /** Fields on every line, as given (add `pid: process.pid` to have it). */
  base: Record<string, unknown>;
  /** Paths redacted besides {@link REDACTED_PATHS} (e.g. a request's API key header). */
  extraRedactPaths?: readonly string[];
  /** Applies the duplicate-key guard (no key twice in a line; child bindings too with createPinoLogger). Default false. */
  dedupeKeys?: boolean;
}

/**
 * The pino options every logger of the project uses, in one place: JSON lines with an ISO `time`,
 * `level` as a word, `msg`, the `base` fields, and {@link REDACTED_PATHS} (plus
 * `extraRedactPaths`) censored as `***`; with `dedupeKeys`, the duplicate-key guard.
 * Used by {@link createWorkerLogger}, the Lambda logger and the HTTP API's logger.
 */
export function pinoOptions(settings: PinoSettings): LoggerOptions {
  return {
    level: settings.level ?? 'info',
    base: settings.base,
    redact: { paths: [...REDACTED_PATHS, ...(settings.extraRedactPaths ?? [])], censor: '***' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    ...(settings.dedupeKeys === true
      ? {
          // No line repeats a bound key (see dedupeMixin); createPinoLogger guards child bindings too.
          mixin: dedupeMixin(reservedBindings(settings.base)),
          mixinMergeStrategy: (line: object, fromMixin: object) => (fromMixin === UNCHANGED ? line : fromMixin),
        }
      : {}),
  };
}

/**
 * A pino logger with {@link pinoOptions}. With `dedupeKeys`, no line carries a key twice: a line's
 * field repeating a bound key (see dedupeMixin), and a child logger binding a key its parent
 * already binds (the child's value is kept, once). pino writes bindings as text and has no call
 * that replaces them, so the bindings live in a child of a root that has none: a child rebinding
 * a key is made from that root with the merged bindings (and the parent's level). Only pino's
 * public API is used (`child`, `bindings`, `setBindings`, `level`).
 */
export function createPinoLogger(settings: PinoSettings, destination: DestinationStream): PinoLogger {
  if (settings.dedupeKeys !== true) return pino(pinoOptions(settings), destination);
  const root = pino({ ...pinoOptions(settings), base: null }, destination);
  const pinoChild = root.child as unknown as (this: PinoLogger, bindings: Bindings, options?: ChildLoggerOptions) => PinoLogger;
  const pinoSetBindings = root.setBindings;
  const reserved = reservedBindings(settings.base);
  const reservedHere = (logger: PinoLogger): ReadonlyMap<string, string> => reservedOf.get(logger) ?? reserved;
  /** What `bindings()` will not show of a logger made with `bindings`: its `pid` and `hostname`. */
  const reservedAfter = (from: ReadonlyMap<string, string>, bindings: Bindings): ReadonlyMap<string, string> => {
    const own = HIDDEN_KEYS.filter((k) => bindings[k] !== undefined);
    return own.length === 0 ? from : new Map([...from, ...own.map((k): [string, string] => [k, JSON.stringify(bindings[k])])]);
  };
  function child(this: PinoLogger, bindings: Bindings, options?: ChildLoggerOptions): PinoLogger {
    const bound = this.bindings();
    const hidden = reservedHere(this);
    const clash = Object.keys(bindings).some((key) => Object.hasOwn(bound, key) || hidden.has(key));
    const made = clash
      ? pinoChild.call(root, { ...Object.fromEntries([...hidden].map(([k, v]) => [k, JSON.parse(v) as unknown])), ...bound, ...bindings }, { level: this.level, ...options })
      : pinoChild.call(this, bindings, options);
    const next = reservedAfter(hidden, bindings);
    if (next !== reserved) reservedOf.set(made, next);
    return made;
  }
  function setBindings(this: PinoLogger, bindings: Bindings): void {
    pinoSetBindings.call(this, bindings);
    const next = reservedAfter(reservedHere(this), bindings);
    if (next !== reserved) reservedOf.set(this, next);
    boundKeyCache.delete(this); // the next line reads the bindings again
  }
  root.child = child as unknown as typeof root.child;
  root.setBindings = setBindings;
  return pinoChild.call(root, settings.base);
}

/** Keys pino writes itself on every line, before the bindings. */
const LINE_KEYS = ['level', 'time'];
/** The keys pino's `bindings()` leaves out of what it returns, though they are bound. */
const HIDDEN_KEYS = ['pid', 'hostname'];
/** The hidden keys `base` binds, each with its value as JSON text. */
function reservedBindings(base: Record<string, unknown>): ReadonlyMap<string, string> {
  return new Map(HIDDEN_KEYS.filter((k) => base[k] !== undefined).map((k): [string, string] => [k, JSON.stringify(base[k])]));
}
/** The hidden keys of loggers that bound their own (a child or setBindings with `pid` or `hostname`). */
const reservedOf = new WeakMap<object, ReadonlyMap<string, string>>();
/** Bound keys per logger (pino's bindings change only through setBindings, which createPinoLogger's loggers report). */
const boundKeyCache = new WeakMap<object, ReadonlyMap<string, string>>();

/** A logger's bound keys (and `level`, `time`), each with its value as JSON text. */
function boundKeys(logger: PinoLogger, reserved: ReadonlyMap<string, string>): ReadonlyMap<string, string> {
  const cached = boundKeyCache.get(logger);
  if (cached !== undefined) return cached;
  const keys = new Map([
    ...LINE_KEYS.map((k): [string, string] => [k, '']),
    ...reserved,
    ...Object.entries(logger.bindings()).map(([k, v]): [string, string] => [k, JSON.stringify(v)]),
  ]);
  boundKeyCache.set(logger, keys);
  return keys;
}

const UNCHANGED: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * The duplicate-key guard, as a pino mixin: a line's field that repeats a bound one (or `level` /
 * `time`) would make a second key in the JSON, which strict log pipelines reject. Equal values are
 * dropped from the line; a different value is kept as `<key>_line`. Lines without a clash (all of
 * the framework's own) are passed through untouched.
 */
function dedupeMixin(reserved: ReadonlyMap<string, string>) {
  return (line: object, _level: number, logger: PinoLogger): Record<string, unknown> => {
    const bound = boundKeys(logger, reservedOf.get(logger) ?? reserved);
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(line)) {
      if (!bound.has(key)) continue;
      out ??= { ...line };
      const value = out[key];
      delete out[key];
      if (LINE_KEYS.includes(key) || JSON.stringify(value) !== bound.get(key)) out[`${key}_line`] = value;
    }
    return out ?? UNCHANGED;
  };
}

/**
 * Creates the logger a worker uses. Lines are JSON with `time`, `level`, `msg` and the `base`
 * fields. The file is opened (with its folders) at once, and a path that cannot be opened throws
 * here. Afterwards logging never throws and never blocks: lines are written asynchronously, a
 * line that cannot be written (a full disk, an I/O error, a destination that stopped answering) is
 * dropped and counted ({@link WorkerLogger.drops}), with one stderr line at the first failure, at
 * most one per `dropReportIntervalMs` while it lasts, and one when writes work again. What is
 * buffered is written out at exit by {@link WorkerLogger.flushSync}.
 *
 * @example
 * const { logger, flushSync } = createWorkerLogger({ destination: '/var/log/lastopens.log', base: { stream: 'app-opens' } });
 * logger.info({ shardId: 'shardId-000000000000' }, 'started');
 * process.on('exit', flushSync);
 */
export function createWorkerLogger(options: LogOptions): WorkerLogger {
  const toStderr = options.destination === 'stderr' || options.destination === '-';
  const settings = {
    label: `${options.name ?? 'kcl worker'} (pid ${process.pid})`,
    ...(options.dropReportIntervalMs === undefined ? {} : { reportIntervalMs: options.dropReportIntervalMs }),
  };
  // Opened here, synchronously: a path that cannot be opened throws now, at start-up.
  const dest = toStderr ? new LogDestination(2, settings) : new LogDestination(openLogFile(options.destination), settings, options.destination);
  const logger = createPinoLogger({ level: options.level, base: { pid: process.pid, ...options.base }, dedupeKeys: true }, dest);
  return { logger, flushSync: () => dest.flushSync(), drops: () => dest.drops() };
}
