/**
 * The one place that decides whether an error is worth retrying, scoped by domain.
 *
 * Each domain (the generic rules of {@link isRetriable}, Redis replies, whole Kinesis requests of
 * the producer, KCL checkpoint replies) is an ordered list of rules and a default. The code that
 * knows a domain registers its table where the domain lives (src/redis/errors.ts,
 * src/producer/requestErrors.ts, src/kcl/checkpointErrors.ts); everyone asks
 * {@link classifyError}. The same error may get different answers in different domains on
 * purpose: a `ResourceNotFoundException` refusing a producer's request drops its records, while
 * the same error thrown by a processor stalls the shard.
 *
 * This file imports nothing, so every layer can register into it.
 */

/** A domain's name, e.g. `'generic'`, `'redis-reply'`, `'kinesis-request'`, `'kcl-checkpoint'`. */
export type ErrorDomain = string;

/**
 * The domain of `isRetriable`: errors thrown by processors, sinks and retried operations.
 */
export const GENERIC_ERRORS: ErrorDomain = 'generic';

/**
 * What a rule (or a domain's default) says about an error.
 */
export interface ErrorVerdict {
  /** True when trying the same work again later may succeed. */
  readonly retriable: boolean;
  /** At most this many attempts in all (the first included); absent: the caller's own limit. */
  readonly maxAttempts?: number;
}

/**
 * One rule of a domain: returns a verdict for the errors it knows, `undefined` for the others
 * (the next rule is asked). Build table rules with {@link tableRule}.
 *
 * @example
 * const quota: ErrorRule = { name: 'quota', classify: (err) => (stringFieldOf(err, 'code') === 'EDQUOT' ? NON_RETRIABLE : undefined) };
 */
export interface ErrorRule {
  /** Names the rule in a classification (`rule`), e.g. `'name'`, `'reply code'`. */
  readonly name: string;
  /** The verdict on `err`, or `undefined` when this rule does not know it. */
  classify(err: unknown): RuleVerdict | undefined;
}

/**
 * A rule's verdict, with the key it matched on when it has one (reported as `rule`).
 */
export interface RuleVerdict extends ErrorVerdict {
  /** The key that matched (a name, a code), appended to the rule's name in the classification. */
  readonly key?: string;
}

/**
 * The answer of {@link classifyError}: the verdict, and which rule gave it.
 */
export interface ErrorClassification extends ErrorVerdict {
  /** The rule that decided, as `<rule name> <key>` (e.g. `'reply code OOM'`); undefined: the domain's default. */
  readonly rule: string | undefined;
}

interface Domain {
  readonly fallback: ErrorVerdict;
  /** Consulted first to last; later registrations are put in front. */
  rules: readonly ErrorRule[];
}

const domains = new Map<ErrorDomain, Domain>();

/**
 * Declares a domain with its default verdict (for errors no rule knows) and its first rules.
 * Declaring a domain twice is a programmer error (two modules would fight over its default).
 *
 * @example
 * registerErrorDomain('kcl-checkpoint', { fallback: { retriable: false }, rules: [tableRule('name', (e) => stringFieldOf(e, 'name'), { ThrottlingException: { retriable: true } })] });
 */
export function registerErrorDomain(domain: ErrorDomain, definition: { fallback: ErrorVerdict; rules?: readonly ErrorRule[] }): void {
  if (typeof domain !== 'string' || domain === '') throw new TypeError('Expected `domain` to be a non-empty string.');
  if (domains.has(domain)) throw new TypeError(`Error domain \`${domain}\` is already registered.`);
  checkVerdict(definition.fallback, 'fallback');
  for (const rule of definition.rules ?? []) checkRule(rule);
  domains.set(domain, { fallback: definition.fallback, rules: [...(definition.rules ?? [])] });
}

/**
 * Adds rules to a declared domain, in front of the ones already there: a registered rule wins
 * over the domain's own tables and its default. Returns a function that removes them again (tests,
 * or a plugin being unloaded).
 *
 * @example
 * const unregister = registerErrorRules('generic', [tableRule('name', (e) => stringFieldOf(e, 'name'), { QuotaExceeded: { retriable: false } })]);
 * isRetriable({ name: 'QuotaExceeded' }); // false
 * unregister();
 */
export function registerErrorRules(domain: ErrorDomain, rules: readonly ErrorRule[]): () => void {
  const d = domainOf(domain);
  for (const rule of rules) checkRule(rule);
  const added = [...rules];
  d.rules = [...added, ...d.rules];
  return () => {
    d.rules = d.rules.filter((r) => !added.includes(r));
  };
}

/**
 * Classifies `err` in `domain` (default {@link GENERIC_ERRORS}): the first rule that knows it
 * decides, otherwise the domain's default. Throws a TypeError for a domain nobody declared (import
 * the module that owns it: `kinesis-streams/redis` for `'redis-reply'`, `kinesis-streams/producer`
 * for `'kinesis-request'`).
 *
 * @example
 * classifyError(err, 'kinesis-request').retriable; // false for a ResourceNotFoundException
 * classifyError(err).retriable; // true for the same error thrown by a processor
 */
export function classifyError(err: unknown, domain: ErrorDomain = GENERIC_ERRORS): ErrorClassification {
  const d = domainOf(domain);
  for (const rule of d.rules) {
    const verdict = rule.classify(err);
    if (verdict === undefined) continue;
    return {
      retriable: verdict.retriable,
      ...(verdict.maxAttempts === undefined ? {} : { maxAttempts: verdict.maxAttempts }),
      rule: verdict.key === undefined ? rule.name : `${rule.name} ${verdict.key}`,
    };
  }
  return { ...d.fallback, rule: undefined };
}

/**
 * The domains declared so far, for diagnostics.
 */
export function errorDomains(): ErrorDomain[] {
  return [...domains.keys()];
}

/**
 * A rule from a table: `keyOf` reads the error's key (its name, code, reply code...), and the
 * table gives the verdict for that key. Keys missing from the table (or `undefined`) pass to the
 * next rule. Only the table's own keys match (not `toString` and the like).
 *
 * @example
 * const byCode = tableRule('code', (e) => stringFieldOf(e, 'code'), { ECONNRESET: { retriable: true } });
 * byCode.classify({ code: 'ECONNRESET' }); // { retriable: true, key: 'ECONNRESET' }
 */
export function tableRule(name: string, keyOf: (err: unknown) => string | undefined, table: Readonly<Record<string, ErrorVerdict>>): ErrorRule {
  const entries = new Map<string, ErrorVerdict>(Object.entries(table));
  for (const [key, verdict] of entries) checkVerdict(verdict, `${name} ${key}`);
  return {
    name,
    classify(err) {
      const key = keyOf(err);
      if (key === undefined) return undefined;
      const verdict = entries.get(key);
      return verdict === undefined ? undefined : { ...verdict, key };
    },
  };
}

/**
 * Builds the table of {@link tableRule} from lists of keys: every key of `retriable` gets
 * `{ retriable: true }`, every key of `nonRetriable` `{ retriable: false }`.
 *
 * @example
 * verdicts({ retriable: ['OOM', 'BUSY'], nonRetriable: ['WRONGTYPE'] }); // { OOM: { retriable: true }, ... }
 */
export function verdicts(lists: { retriable?: Iterable<string>; nonRetriable?: Iterable<string> }): Record<string, ErrorVerdict> {
  const table: Record<string, ErrorVerdict> = {};
  for (const key of lists.retriable ?? []) table[key] = RETRIABLE;
  for (const key of lists.nonRetriable ?? []) table[key] = NON_RETRIABLE;
  return table;
}

/**
 * The verdict "retry it".
 */
export const RETRIABLE: ErrorVerdict = Object.freeze({ retriable: true });
/**
 * The verdict "no retry can fix it".
 */
export const NON_RETRIABLE: ErrorVerdict = Object.freeze({ retriable: false });

/**
 * A property of a thrown value when it is an object, else `undefined`; for rules' `keyOf`.
 */
export function fieldOf(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * A string property of a thrown value, else `undefined`.
 */
export function stringFieldOf(err: unknown, key: string): string | undefined {
  const v = fieldOf(err, key);
  return typeof v === 'string' ? v : undefined;
}

function domainOf(domain: ErrorDomain): Domain {
  const d = domains.get(domain);
  if (d === undefined) {
    throw new TypeError(`Unknown error domain \`${String(domain)}\`: declare it with registerErrorDomain (known: ${[...domains.keys()].join(', ')}).`);
  }
  return d;
}

function checkVerdict(verdict: ErrorVerdict, what: string): void {
  if (typeof verdict?.retriable !== 'boolean') throw new TypeError(`Expected \`${what}.retriable\` to be a boolean.`);
  const max = verdict.maxAttempts;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) {
    throw new TypeError(`Expected \`${what}.maxAttempts\` to be a positive integer.`);
  }
}

function checkRule(rule: ErrorRule): void {
  if (typeof rule?.name !== 'string' || typeof rule.classify !== 'function') {
    throw new TypeError('Expected each rule to have a `name` string and a `classify` function.');
  }
}
