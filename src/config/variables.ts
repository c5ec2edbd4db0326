/**
 * Environment variables as data: a worker's settings are a table of {@link EnvVar}s (name,
 * presence, default, parser, meaning), read through {@link readEnvVar} and documented by
 * {@link envVarTable}, so the code that reads a variable and the table that documents it cannot
 * disagree.
 */
import { posix } from 'node:path';
import { importantVar, mandatoryVar, optionalVar } from './env.js';

/**
 * One environment variable: how it is read and how it is documented.
 */
export interface EnvVar<T> {
  readonly name: string;
  /** `mandatory`: unset is a ConfigError; `important`: unset is a warning and the default; `optional`: unset is the default. */
  readonly presence: 'mandatory' | 'important' | 'optional';
  /** The value when unset (ignored for `mandatory`). */
  readonly fallback?: T;
  /** The default as the docs show it. Default: `fallback` as text, or none when it is undefined. */
  readonly defaultText?: string;
  /** Turns the raw text into the value; throwing makes a ConfigError naming the variable. Default: the text. */
  readonly parse?: (raw: string) => T;
  /** What it does, one line of Markdown (links relative to the repository root). */
  readonly meaning: string;
}

/**
 * Declares a variable (frozen, typed by its fallback and parser).
 */
export function envVar<T = string>(spec: EnvVar<T>): EnvVar<T> {
  return Object.freeze({ ...spec });
}

/**
 * Reads a variable as its table entry says. `fallback` overrides the entry's default (a default
 * that depends on the worker's name); `onDefault` is told when an `important` one is unset.
 */
export function readEnvVar<T>(v: EnvVar<T>, env: NodeJS.ProcessEnv = process.env, options: { fallback?: T; onDefault?: (message: string) => void } = {}): T {
  const fallback = 'fallback' in options ? (options.fallback as T) : (v.fallback as T);
  if (v.presence === 'mandatory') return mandatoryVar(v.name, v.parse, env);
  if (v.presence === 'important') return importantVar(v.name, fallback, options.onDefault ?? (() => undefined), v.parse, env);
  return optionalVar(v.name, fallback, v.parse, env);
}

/** The default of a variable as the docs show it ('' for none). */
export function envVarDefault(v: EnvVar<unknown>): string {
  if (v.defaultText !== undefined) return v.defaultText;
  if (v.presence === 'mandatory' || v.fallback === undefined) return '';
  return `\`${String(v.fallback)}\``;
}

/**
 * The Markdown table documenting `vars` (variable, presence, default, meaning), one row each, in
 * the given order. The docs embed it between markers and a test checks it is current. `dir` is
 * the folder of the document it goes into (default the repository root): the meanings' relative
 * links are rewritten to work from there.
 */
export function envVarTable(vars: readonly EnvVar<unknown>[], dir = '.'): string {
  const relink = (text: string): string =>
    text.replace(/\[([^\]]*)\]\(([^)#:]+)(#[^)]*)?\)/g, (_, label: string, target: string, anchor: string | undefined) => {
      const to = posix.relative(dir, target);
      return `[${label === target ? to : label}](${to}${anchor ?? ''})`;
    });
  const rows = vars.map((v) => `| \`${v.name}\` | ${v.presence} | ${envVarDefault(v)} | ${relink(v.meaning)} |`);
  return ['| variable | | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
