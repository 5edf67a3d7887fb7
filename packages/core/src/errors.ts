/** Stable machine-readable codes carried by every idem error. */
export type IdempotencyErrorCode =
  | 'FINGERPRINT_MISMATCH'
  | 'REQUEST_IN_FLIGHT'
  | 'STORE_UNAVAILABLE'
  | 'RESPONSE_TOO_LARGE'
  | 'RESPONSE_NOT_STORED'
  | 'ROLLED_BACK'
  | 'CONFIGURATION';

/**
 * Marks idem's errors whichever copy of `@idem/core` made them: a CommonJS
 * and an ESM build loaded side by side, or two versions in node_modules, each
 * have their own classes, so `instanceof` fails across them. `Symbol.for`
 * yields the same symbol in every copy.
 */
const BRAND = Symbol.for('idem.error');

/** Base class of every error idem throws; `code` is stable across releases. */
export class IdempotencyError extends Error {
  /** Stable code to branch on instead of the message. */
  readonly code: IdempotencyErrorCode;

  constructor(code: IdempotencyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    // Not enumerable: logs and JSON show the error, not the brand.
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * Whether `error` is an idem error (with `code`, when given), made by any copy
 * of `@idem/core`. Match errors with this, never with `instanceof`.
 *
 * @example
 * ```ts
 * try {
 *   await idem.run(message.id, () => send(message));
 * } catch (error) {
 *   if (isIdempotencyError(error, 'REQUEST_IN_FLIGHT')) return requeue(message);
 *   throw error;
 * }
 * ```
 */
export function isIdempotencyError<C extends IdempotencyErrorCode = IdempotencyErrorCode>(
  error: unknown,
  code?: C,
): error is IdempotencyErrorOf<C> {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { readonly [BRAND]?: unknown; readonly code?: unknown };
  return e[BRAND] === true && (code === undefined ? typeof e.code === 'string' : e.code === code);
}

/** The error class of each code, so `isIdempotencyError(e, 'REQUEST_IN_FLIGHT')` narrows to its fields. */
export interface IdempotencyErrorsByCode {
  FINGERPRINT_MISMATCH: FingerprintMismatchError;
  REQUEST_IN_FLIGHT: RequestInFlightError;
  STORE_UNAVAILABLE: StoreUnavailableError;
  RESPONSE_TOO_LARGE: ResponseTooLargeError;
  RESPONSE_NOT_STORED: ResponseNotStoredError;
  ROLLED_BACK: RolledBackError;
  CONFIGURATION: ConfigurationError;
}

/** The error of a code (or any idem error, for the union of codes). */
export type IdempotencyErrorOf<C extends IdempotencyErrorCode> = IdempotencyErrorsByCode[C];

/** The key was already used for a different request (method, path, query or body). */
export class FingerprintMismatchError extends IdempotencyError {
  constructor() {
    super(
      'FINGERPRINT_MISMATCH',
      'This idempotency key was already used with a different request (method, path, query or body). Use a new key for a new request.',
    );
  }
}

/** Another execution of the same key is still running. */
export class RequestInFlightError extends IdempotencyError {
  /** Seconds after which a retry is sensible. */
  readonly retryAfterSeconds: number;
  /**
   * When the first execution's lease runs out unless its owner renews it
   * (epoch ms, the store's clock): a consumer whose broker can delay a
   * redelivery may wait until then for a crashed owner.
   */
  readonly leaseExpiresAt: number | undefined;

  constructor(retryAfterSeconds: number, leaseExpiresAt?: number) {
    super(
      'REQUEST_IN_FLIGHT',
      `A request with this idempotency key is still being processed. Retry after ${retryAfterSeconds} s to receive its result.`,
    );
    this.retryAfterSeconds = retryAfterSeconds;
    this.leaseExpiresAt = leaseExpiresAt;
  }
}

/**
 * The store failed, or did not answer within `storeTimeoutMs`. From a claim
 * (`operation: 'claim'`): the operation was not run. From a transactional
 * completion (`operation: 'complete'`): the operation ran, but whether its
 * transaction committed is not known yet; a retry with the same key replays
 * its result if it did, or runs it once if it did not.
 */
export class StoreUnavailableError extends IdempotencyError {
  /** The store operation that failed: `'claim'` or `'complete'`. */
  readonly operation: string;
  /**
   * Seconds after which a retry is sensible (`Retry-After`): until the
   * breaker's next probe when it refused the claim, 1 otherwise.
   */
  readonly retryAfterSeconds: number;

  constructor(operation: string, cause: unknown, retryAfterSeconds = 1) {
    super(
      'STORE_UNAVAILABLE',
      operation === 'complete'
        ? "The idempotency store did not confirm the operation's transaction in time, so its outcome is not known yet. Retry with the same key: the retry gets the result if it committed, or runs the operation once if it did not."
        : `The idempotency store failed during ${operation}; the operation was not run. Check the store's connection, or set failOpen: true to run operations unprotected while it is down.`,
      { cause },
    );
    this.operation = operation;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Thrown by a store's `complete` when a response exceeds what it can keep.
 * The engine then records that the operation ran without keeping its result.
 */
export class ResponseTooLargeError extends IdempotencyError {
  /** The size that was refused, in bytes. */
  readonly size: number;
  /** The largest size the store keeps, in bytes. */
  readonly limit: number;

  constructor(size: number, limit: number) {
    super(
      'RESPONSE_TOO_LARGE',
      `The response is ${size} bytes, over the store's limit of ${limit} bytes. Return a smaller response or use a store with a larger limit.`,
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A replay found that the original operation ran but its response (the result,
 * as stored for replay) could not be stored.
 */
export class ResponseNotStoredError extends IdempotencyError {
  /** The status the original execution answered with. */
  readonly originalStatus: number;

  constructor(originalStatus: number) {
    super(
      'RESPONSE_NOT_STORED',
      `The operation for this idempotency key already ran (status ${originalStatus}), but its response was too large to store, so it cannot be replayed. It will not run again; use a new key to repeat it on purpose.`,
    );
    this.originalStatus = originalStatus;
  }
}

/**
 * Thrown by a store's `complete` when the record was to be committed together
 * with the operation's own writes (one database transaction) and that
 * transaction failed: neither the writes nor the record were kept. The
 * operation's result must not be reported as a success; a retry with the same
 * key runs it again, once.
 */
export class RolledBackError extends IdempotencyError {
  constructor(cause: unknown) {
    super(
      'ROLLED_BACK',
      "The operation's writes and its idempotency record were rolled back together because the transaction could not commit; nothing took effect. Retry with the same key.",
      { cause },
    );
  }
}

/**
 * The options passed to idem are not usable, or a store is not set up (a
 * missing table): the message names the fix, `cause` carries the backend's error.
 */
export class ConfigurationError extends IdempotencyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIGURATION', message, options);
  }
}
