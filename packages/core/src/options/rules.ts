import { ConfigurationError } from '../errors.js';
import { type Rule, rule } from './define.js';

// The rules options share. Each wording lives here once: every option a rule
// checks, in every package, fails with the same words.

const isNumber = (value: unknown): value is number => typeof value === 'number';

/** A positive, finite number of `unit`s. */
export function positive(unit: string): Rule<number> {
  return rule(`a positive, finite number of ${unit}`, (v) => isNumber(v) && v > 0 && v < Infinity);
}

/** Durations: `leaseMs`, `ttlMs`, `waitTimeoutMs`, `storeTimeoutMs`... */
export const positiveMs: Rule<number> = positive('milliseconds');

/**
 * A number of `unit`s, zero or more; `finite` refuses `Infinity`. NaN or a
 * negative number would silently disable a check (`size > NaN` is false).
 */
export function atLeastZero(unit: string, finite = false): Rule<number> {
  return rule(
    `${finite ? 'a finite' : 'a'} number of ${unit}, zero or more`,
    (v) => isNumber(v) && v >= 0 && (!finite || v < Infinity),
  );
}

/** A whole number of `unit`s, `min` or more. */
export function whole(unit: string, min: number): Rule<number> {
  return rule(
    `a whole number of ${unit}, ${min} or more`,
    (v) => Number.isSafeInteger(v) && (v as number) >= min,
  );
}

/** One of a few values. */
export function oneOf<const T extends string>(...values: readonly T[]): Rule<T> {
  return rule(values.map((v) => `'${v}'`).join(' or '), (v) => values.includes(v as T));
}

/** A function; `what` says what it is for, e.g. `of the status, such as (status) => status < 500`. */
export function fn<T>(what: string): Rule<T> {
  return rule(`a function ${what}`, (v) => typeof v === 'function');
}

/** The injectable clock of stores (`now`). */
export const clock: Rule<() => number> = fn('returning epoch milliseconds, such as Date.now');

/** `true` or `false`. */
export const boolean: Rule<boolean> = rule('true or false', (v) => typeof v === 'boolean');

/** Any string, the empty one included. */
export const string: Rule<string> = rule('a string', (v) => typeof v === 'string');

/** A string of one character or more. */
export const nonEmptyString: Rule<string> = rule(
  'a non-empty string',
  (v) => typeof v === 'string' && v !== '',
);

/** An object (not an array), such as an options object or `{}`. */
export const isObject = (v: unknown): v is object =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * For an option its factory checks itself, after the names (a database
 * client, a table name): the resolver only makes it a known name.
 */
export const ownCheck: Rule<unknown> = rule('valid', () => true);

/**
 * The one rule between a lease and a time to live, for the engine's options,
 * a route's and each request's: a result must outlive the lease that
 * produced it, or a slow owner's result would expire before its lease does.
 * @param where Names the entry point, e.g. `'idem: createIdempotency()'`.
 */
export function checkLeaseWithinTtl(where: string, leaseMs: number, ttlMs: number): void {
  if (ttlMs < leaseMs) {
    throw new ConfigurationError(
      `${where}: option "ttlMs" (${ttlMs}) must be at least leaseMs (${leaseMs}): a result must outlive the lease that produced it; raise ttlMs, or lower leaseMs.`,
    );
  }
}
