import type { Claim } from '@idem/core';
import {
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
  UseInterceptors,
} from '@nestjs/common';
import { IdempotencyInterceptor } from './interceptor.js';
import { IDEMPOTENT, type IdempotentOptions } from './options.js';

/**
 * Make a controller's routes, or one handler, safe to retry: the first
 * request with an `Idempotency-Key` runs the handler, every retry gets the
 * stored response with `Idempotent-Replayed: true`. Options given here are
 * the route's own, over the module's (a handler's over its controller's),
 * as `idempotency.route(options)` is in the other idem adapters.
 * `@Idempotent(false)` leaves a controller or handler out, for modules set
 * up with `allRoutes: true`.
 *
 * @example
 * ```ts
 * @Controller('payments')
 * class PaymentsController {
 *   @Post()
 *   @Idempotent({ keyFormat: 'uuid' })
 *   create(@Body() body: { amount: number }) {
 *     return { id: 'pay_1', amount: body.amount };
 *   }
 * }
 * ```
 */
export function Idempotent(
  options: IdempotentOptions | false = {},
): ClassDecorator & MethodDecorator {
  if (options === false) return SetMetadata(IDEMPOTENT, options);
  // The module's interceptor covers the route; this one, bound to it, only
  // makes a missing IdempotencyModule stop the application (Nest cannot
  // build it without the module's providers) rather than leave the route
  // silently unprotected. A request is taken up once, whichever comes first.
  return applyDecorators(SetMetadata(IDEMPOTENT, options), UseInterceptors(IdempotencyInterceptor));
}

/** The request property idem keeps the claim on, as `@idem/express` and `@idem/fastify` do. */
interface WithClaim {
  idempotency?: Claim;
}

/**
 * The claim the handler runs under, as a handler parameter (`undefined`
 * when idem passed the request through: a method not covered, or no key
 * with `required: false`). Hand it to a transactional store to commit the
 * handler's writes with the record:
 *
 * ```ts
 * @Post()
 * @Idempotent()
 * async create(@IdempotencyClaim() claim: Claim) {
 *   const tx = await store.transaction(claim);
 *   await tx.query('INSERT INTO payments (amount) VALUES ($1)', [1999]);
 *   return { ok: true };
 * }
 * ```
 *
 * The same claim is on the request as `req.idempotency`.
 */
export const IdempotencyClaim: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Claim | undefined =>
    context.switchToHttp().getRequest<WithClaim>().idempotency,
);
