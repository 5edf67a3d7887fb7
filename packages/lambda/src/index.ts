/**
 * `@idem/lambda`: idempotency for AWS Lambda.
 *
 * @packageDocumentation
 */

export * from './batch/index.js';
export {
  type AnyFunction,
  type FunctionIdempotencyOptions,
  type IdempotentFunction,
  type MakeIdempotentOptions,
  makeIdempotent,
} from './function.js';
export {
  claimOf,
  type EventFormat,
  type EventOf,
  type IdempotentHandler,
  idempotency,
  type LambdaHttpEvent,
  type LambdaHttpHandler,
  type LambdaHttpResult,
  type LambdaIdempotencyOptions,
  type LambdaIdempotent,
  type LambdaRouteOptions,
} from './http/index.js';
export { DEFAULT_LEASE_MARGIN_MS, type InvocationClock, invocationLeaseUntil } from './lease.js';
export { IdempotencyKeyError, isIdempotencyKeyError } from './pointer.js';
