import { ConfigurationError } from '../errors.js';
import { closest } from './suggest.js';

/**
 * What one option's value must be. Each rule has one wording, used by every
 * option it checks, everywhere: it completes "must be ...", and names the fix.
 */
export interface Rule<T> {
  /** What a valid value is, in words: `a positive, finite number of milliseconds`. */
  readonly expects: string;
  /** Whether a value that was given (not `undefined`) is valid. */
  readonly test: (value: unknown) => boolean;
  /** Only carries `T` for the types; never set. */
  readonly type?: T;
}

/** An option: its rule, and the value in force when it is left out (`undefined`: none). */
export interface Option<T, D extends T | undefined = T | undefined> {
  readonly rule: Rule<T>;
  readonly default: D;
  /** Leaving it out breaks its rule too (`store`, a store's client). */
  readonly required?: boolean;
}

/** A rule from its wording and its test. */
export function rule<T>(expects: string, test: (value: unknown) => boolean): Rule<T> {
  return { expects, test };
}

/** An option with its default; leave `fallback` out for an option with none. */
export function option<T, D extends T | undefined = undefined>(
  checked: Rule<T>,
  fallback?: D,
): Option<T, D> {
  return { rule: checked, default: fallback as D };
}

/** An option that must be given: leaving it out fails its rule, with its wording. */
export function required<T>(checked: Rule<T>): Option<T, T> {
  return { rule: checked, default: undefined as T, required: true };
}

/** Every option of a factory by name. */
export type OptionSpecs = Readonly<Record<string, Option<unknown, unknown>>>;

/** The options as resolved: each given value, or its default. */
export type ResolvedOf<S extends OptionSpecs> = {
  readonly [K in keyof S]: S[K] extends Option<infer T, infer D> ? T | D : never;
};

/** Resolves one factory's options; see {@link defineOptions}. */
export type OptionsResolver<S extends OptionSpecs> = (
  options: unknown,
  where: string,
  path?: string,
) => ResolvedOf<S>;

/** How a value looks in an error message: short, and never a whole object. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/**
 * The one error of an option whose value breaks its rule:
 * `idem: createIdempotency(): option "leaseMs" must be a positive, finite
 * number of milliseconds, got 0.`
 * @param where Names the entry point: `'idem: createIdempotency()'`, `'redisStore()'`.
 */
export function optionError(
  where: string,
  name: string,
  expects: string,
  value: unknown,
): ConfigurationError {
  return new ConfigurationError(
    `${where}: option ${JSON.stringify(name)} must be ${expects}, got ${show(value)}.`,
  );
}

/** `value` when it passes `checked`, else the option's {@link optionError}. */
export function checkOption<T>(where: string, name: string, checked: Rule<T>, value: unknown): T {
  if (!checked.test(value)) throw optionError(where, name, checked.expects, value);
  return value as T;
}

/**
 * Refuse what is not an options object, then option names nobody reads:
 * from JavaScript a typo (`stor`, `leaseMS`, `tabel`) would otherwise leave
 * the default in force without a word. The error suggests the closest known
 * name: `unknown option "stor" (did you mean "store"?)`.
 * @param where Names the entry point in the message, e.g. `'postgresStore()'`.
 * @param path Prefix of nested option names, e.g. `'cache.'`.
 */
export function refuseUnknownNames(
  options: unknown,
  known: readonly string[],
  where: string,
  path = '',
): void {
  const list = known.map((name) => path + name).join(', ');
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const what = path ? `option ${JSON.stringify(path.slice(0, -1))} must be` : 'pass';
    throw new ConfigurationError(
      `${where}: ${what} an options object ({ ${list} }), got ${show(options)}.`,
    );
  }
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const near = closest(name, known);
    throw new ConfigurationError(
      `${where}: unknown option ${JSON.stringify(path + name)}${near === undefined ? '' : ` (did you mean ${JSON.stringify(path + near)}?)`}; the options are ${list}.`,
    );
  }
}

/**
 * Declare a factory's options once (each one's rule and default) and get
 * its resolver: it refuses a non-object and unknown names first, then each
 * given value that breaks its rule, then applies the defaults and runs
 * `check` (rules between options, such as ttlMs at least leaseMs). Every
 * error is a `ConfigurationError` naming the entry point, the option and
 * the fix.
 *
 * @example
 * ```ts
 * const resolve = defineOptions({ table: option(identifier, 'idem'), now: option(clock) });
 * const { table, now } = resolve(options, 'myStore()');
 * ```
 */
export function defineOptions<S extends OptionSpecs>(
  specs: S,
  check?: (resolved: ResolvedOf<S>, where: string) => void,
): OptionsResolver<S> {
  const names = Object.keys(specs);
  return (options, where, path = '') => {
    refuseUnknownNames(options, names, where, path);
    const given = options as Record<string, unknown>;
    const resolved: Record<string, unknown> = {};
    for (const name of names) {
      const { rule: checked, default: fallback, required: needed } = specs[name]!;
      const value = given[name];
      resolved[name] =
        value === undefined && !needed ? fallback : checkOption(where, path + name, checked, value);
    }
    check?.(resolved as ResolvedOf<S>, where);
    return resolved as ResolvedOf<S>;
  };
}
