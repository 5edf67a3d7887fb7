import { ConfigurationError } from '@idem/core';

/** Marks this package's key errors whichever copy of it made them (CommonJS and ESM side by side). */
const BRAND = Symbol.for('idem.lambda.keyError');

/**
 * A payload has no usable idempotency key where the `key` option looks: the
 * JSON Pointer leads nowhere (`KEY_MISSING`), or to something that is not a
 * key, such as an object, a boolean or an empty string (`KEY_INVALID`).
 * Nothing ran and nothing was stored. Match it with
 * {@link isIdempotencyKeyError}, never `instanceof`.
 */
export class IdempotencyKeyError extends Error {
  /** `KEY_MISSING`: nothing at the pointer; `KEY_INVALID`: a value that is not a string or a number. */
  readonly code: 'KEY_MISSING' | 'KEY_INVALID';
  /** The JSON Pointer that was followed, or `undefined` when `key` is a function. */
  readonly pointer: string | undefined;

  constructor(code: 'KEY_MISSING' | 'KEY_INVALID', pointer: string | undefined, message: string) {
    super(message);
    this.name = 'IdempotencyKeyError';
    this.code = code;
    this.pointer = pointer;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** Whether `error` is an {@link IdempotencyKeyError}, made by any copy of `@idem/lambda`. */
export function isIdempotencyKeyError(error: unknown): error is IdempotencyKeyError {
  return (
    typeof error === 'object' && error !== null && (error as { [BRAND]?: unknown })[BRAND] === true
  );
}

/** RFC 6901: `''` (the whole document) or `/`-led tokens where `~` only starts `~0` or `~1`. */
const POINTER = /^(?:\/(?:[^~/]|~[01])*)*$/;

/**
 * The reference tokens of a JSON Pointer (RFC 6901), unescaped (`~1` is `/`,
 * `~0` is `~`, in that order). Throws `ConfigurationError` naming `where`
 * for anything else, at construction rather than per call.
 */
export function pointerTokens(pointer: unknown, where: string): readonly string[] {
  if (typeof pointer !== 'string' || !POINTER.test(pointer)) {
    throw new ConfigurationError(
      `${where}: the key must be a JSON Pointer (RFC 6901) such as '/id' or '/detail/orderId' ('~1' for '/' and '~0' for '~' inside a name), or a function of the arguments; got ${JSON.stringify(pointer) ?? String(pointer)}.`,
    );
  }
  // `~01` is `~1` unescaped once, never `/`: `~1` goes first.
  return pointer
    .split('/')
    .slice(1)
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** What a pointer finds: the value, or that nothing is there. */
export type Found = { readonly found: true; readonly value: unknown } | { readonly found: false };

/** The value at `tokens` in `document`: own properties of objects, decimal indexes of arrays. */
export function valueAt(document: unknown, tokens: readonly string[]): Found {
  let node = document;
  for (const token of tokens) {
    if (Array.isArray(node)) {
      if (!/^(?:0|[1-9]\d*)$/.test(token) || Number(token) >= node.length) return { found: false };
      node = node[Number(token)];
    } else if (node !== null && typeof node === 'object' && Object.hasOwn(node, token)) {
      node = (node as Record<string, unknown>)[token];
    } else return { found: false };
  }
  return node === undefined ? { found: false } : { found: true, value: node };
}

/**
 * The idempotency key a value stands for: a non-empty string as it is, a
 * number as its decimal text while it is exact (JSON rounds integers past
 * 2^53, so two ids 1 apart could come out as one key). Anything else throws
 * {@link IdempotencyKeyError} naming where it came from.
 */
export function keyOf(found: Found, pointer: string | undefined, where: string): string {
  const from =
    pointer === undefined ? 'the key function' : `the JSON Pointer ${JSON.stringify(pointer)}`;
  if (!found.found || found.value === null) {
    throw new IdempotencyKeyError(
      'KEY_MISSING',
      pointer,
      `${where}: ${from} found no idempotency key in the payload. Send the key there, or point the key option at where it is.`,
    );
  }
  const { value } = found;
  if (typeof value === 'string' && value !== '') return value;
  if (
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!Number.isInteger(value) || Number.isSafeInteger(value))
  ) {
    return String(value);
  }
  throw new IdempotencyKeyError(
    'KEY_INVALID',
    pointer,
    `${where}: ${from} found ${describe(value)}, not an idempotency key: a key is a non-empty string or an exact number. Point the key option at such a value.`,
  );
}

function describe(value: unknown): string {
  if (typeof value === 'string') return 'an empty string';
  if (typeof value === 'number') return `the number ${value}, past the exact integers`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The key reader of a `key` option: a JSON Pointer into `document`, or the
 * user's function, checked the same way.
 */
export function keyReader<A extends unknown[]>(
  key: string | ((...args: A) => unknown),
  where: string,
  documentOf: (...args: A) => unknown,
): (...args: A) => string {
  if (typeof key === 'function') {
    return (...args) => {
      const value = key(...args);
      return keyOf(
        value === undefined ? { found: false } : { found: true, value },
        undefined,
        where,
      );
    };
  }
  const tokens = pointerTokens(key, where);
  return (...args) => keyOf(valueAt(documentOf(...args), tokens), key, where);
}
