/** Stable machine-readable codes carried by every {@link IdempotentFetchError}. */
export type IdempotentFetchErrorCode =
  /** An option of `createIdempotentFetch` (or of one call) is invalid; nothing was sent. */
  | 'CONFIGURATION'
  /** The idempotency key given for the call is not a valid key; nothing was sent. */
  | 'KEY_INVALID'
  /** The request body could not be read whole, so it could not be resent; nothing was sent. */
  | 'BODY_UNREADABLE'
  /** The request body is larger than `maxBodyBytes`; nothing was sent. */
  | 'BODY_TOO_LARGE'
  /** Every attempt failed without a response (network error or attempt timeout). */
  | 'ATTEMPTS_EXHAUSTED'
  /** The overall deadline ran out before a response came back. */
  | 'DEADLINE_EXCEEDED';

/**
 * The one error class `@idem/client` throws. Match it by `code` (or `name`),
 * not `instanceof`: two copies of the package (ESM and CommonJS) each have
 * their own class.
 *
 * When `code` is `ATTEMPTS_EXHAUSTED` or `DEADLINE_EXCEEDED` the request may
 * have run on the server: send it again with the same `key` (see
 * `idempotency.key`) to receive its result instead of running it twice.
 */
export class IdempotentFetchError extends Error {
  /** Stable code to branch on instead of the message. */
  readonly code: IdempotentFetchErrorCode;
  /** The idempotency key of the call, once it was known (`undefined` for configuration errors). */
  readonly key: string | undefined;
  /** Requests sent before the call gave up (0 when nothing was sent). */
  readonly attempts: number;

  constructor(
    code: IdempotentFetchErrorCode,
    message: string,
    details: { key?: string | undefined; attempts?: number; cause?: unknown } = {},
  ) {
    super(message, 'cause' in details ? { cause: details.cause } : undefined);
    this.name = 'IdempotentFetchError';
    this.code = code;
    this.key = details.key;
    this.attempts = details.attempts ?? 0;
  }
}
