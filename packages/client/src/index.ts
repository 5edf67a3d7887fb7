/**
 * `@idem/client`: a `fetch` that retries unsafe requests safely. Each call
 * gets one `Idempotency-Key`, every retry resends it with the same body bytes,
 * and the server's `Retry-After` is honoured.
 *
 * ```ts
 * import { idempotencyInfo, idempotentFetch } from '@idem/client';
 *
 * const response = await idempotentFetch('https://api.example.com/payments', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ amount: 1999 }),
 * });
 * console.log(idempotencyInfo(response)); // { key: '…', attempts: 1, replayed: false }
 * ```
 *
 * @packageDocumentation
 */
export { IdempotentFetchError, type IdempotentFetchErrorCode } from './errors.js';
export {
  createIdempotentFetch,
  type IdempotentFetch,
  type IdempotentRequestInit,
  idempotentFetch,
} from './fetch.js';
export { type IdempotencyInfo, idempotencyInfo } from './info.js';
export type { CallOptions, IdempotentFetchOptions, RetryEvent, RetryOptions } from './options.js';
