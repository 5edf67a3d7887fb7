import type { HttpIdempotencyOptions, RouteOptions } from '@idem/core/http';

/**
 * Options of {@link IdempotencyModule.forRoot}: every policy of
 * `@idem/core/http`, with `scope` (and every other function of the request)
 * receiving the request as the platform hands it to Nest: Express's
 * `Request` on `@nestjs/platform-express`, `FastifyRequest` on
 * `@nestjs/platform-fastify`. Guards have run by then, so `req.user` is set.
 *
 * `Req` is `any` unless you name it (`forRoot<Request>({...})`), as
 * `@Req()` is in Nest.
 *
 * @example
 * ```ts
 * IdempotencyModule.forRoot({ store: memoryStore(), scope: (req) => req.user.accountId });
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: the request is the platform's, as Nest's own @Req() is typed.
export interface IdempotencyModuleOptions<Req = any> extends HttpIdempotencyOptions<Req> {
  /**
   * Cover every route of the application, not only those marked
   * `@Idempotent()`; `@Idempotent(false)` leaves a controller or handler out.
   * Only covered methods (POST and PATCH unless `methods` says otherwise)
   * are ever claimed.
   *
   * @default false
   */
  readonly allRoutes?: boolean;
}

/**
 * Route-level options of `@Idempotent(options)`: every route option of
 * `@idem/core/http`, over the module's, with the platform's request.
 */
// biome-ignore lint/suspicious/noExplicitAny: as IdempotencyModuleOptions.
export type IdempotentOptions<Req = any> = RouteOptions<Req>;

/** The options provider's token: what `forRoot` is given, or what `forRootAsync`'s factory returns. */
export const IDEMPOTENCY_OPTIONS: unique symbol = Symbol.for('idem.nestjs.options');

/** Metadata key of `@Idempotent()` on controllers and handlers. */
export const IDEMPOTENT: unique symbol = Symbol.for('idem.nestjs.idempotent');
