/**
 * `@idem/nestjs`: Idempotency-Key for NestJS, on `@nestjs/platform-express`
 * and `@nestjs/platform-fastify`: {@link IdempotencyModule}, the
 * `@Idempotent()` decorator, and the claim as a handler parameter
 * (`@IdempotencyClaim()`). The behaviour is `@idem/core/http`'s, identical
 * in every idem adapter.
 *
 * @packageDocumentation
 */
export type { Claim, Store } from '@idem/core';
export { isFinalStatus, webhooks } from '@idem/core/http';
export { IdempotencyClaim, Idempotent } from './decorators.js';
export { IdempotencyInterceptor } from './interceptor.js';
export { IdempotencyModule, type IdempotencyModuleAsyncOptions } from './module.js';
export type {
  IdempotencyModuleOptions,
  IdempotentOptions,
} from './options.js';
export { IdempotencyRoutes } from './routes.js';
