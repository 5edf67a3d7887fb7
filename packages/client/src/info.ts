/** What a call made through the client did, read with {@link idempotencyInfo}. */
export interface IdempotencyInfo {
  /** The idempotency key sent on every attempt: yours, or the one the client minted. */
  readonly key: string;
  /** Requests sent for the call, this response's included: 1 means no retry. */
  readonly attempts: number;
  /**
   * The server answered with a stored response (`Idempotent-Replayed: true`):
   * the operation ran earlier, on an attempt whose answer was lost or late.
   */
  readonly replayed: boolean;
}

// Symbol.for, not a module-level WeakMap or a private symbol: a response made
// by one copy of the package (ESM) is read correctly by another (CommonJS).
const INFO = Symbol.for('@idem/client.info');

/**
 * The key, attempt count and replay flag of a response returned by an
 * idempotent fetch; `undefined` for any other response (a method the client
 * does not cover, a plain `fetch`, or a `response.clone()`).
 *
 * ```ts
 * const response = await idempotentFetch(url, { method: 'POST', body });
 * const { key, attempts, replayed } = idempotencyInfo(response)!;
 * ```
 */
export function idempotencyInfo(response: Response): IdempotencyInfo | undefined {
  return (response as unknown as Record<symbol, IdempotencyInfo | undefined> | undefined)?.[INFO];
}

/** Record `info` on the response the caller gets. */
export function attachInfo(response: Response, info: IdempotencyInfo): Response {
  try {
    Object.defineProperty(response, INFO, { value: Object.freeze(info) });
  } catch {
    // A frozen response from a custom `fetch`: it is still the answer.
  }
  return response;
}
