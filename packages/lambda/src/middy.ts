/**
 * `@idem/lambda/middy`: idem as a Middy middleware, for HTTP handlers
 * (API Gateway REST and HTTP APIs, Function URLs, ALB).
 *
 * @packageDocumentation
 */
import { type HttpExecution, nestedMiddlewareError } from '@idem/core/http';
import type { MiddlewareObj, Request } from '@middy/core';
import type { Context } from 'aws-lambda';
import { type EventFormat, formatOf, type LambdaHttpEvent, requestOf } from './http/event.js';
import { claims, type LambdaIdempotencyOptions, lambdaHttp } from './http/index.js';
import { type LambdaHttpResult, resultOf, settleResult } from './http/result.js';
import { invocationLeaseUntil } from './lease.js';

export type { LambdaHttpEvent, LambdaHttpResult, LambdaIdempotencyOptions };

/** What the middleware's `before` left for its `after` or `onError`, per Middy request. */
interface Running {
  readonly execution: HttpExecution;
  readonly format: EventFormat;
  readonly event: object;
}

/**
 * idem as a Middy middleware, with the options of `idempotency()` from
 * `@idem/lambda`. `before` decides: a replay or a problem (`409`, `422`,
 * `400`, `503`, ...) ends the chain there as Middy's early response, in the
 * event's format, and the handler does not run; otherwise the handler runs
 * under a claim. `after` stores the final result (after every middleware
 * used later has shaped it), `onError` releases the key so a retry runs
 * again.
 *
 * Use it first: its `before` then sees the body as Lambda delivered it
 * (a body parser used before it has replaced the string, and idem refuses
 * to guess the bytes), and its `after` runs last, so what it stores is what
 * the client got. When Middy's early timeout fires (its
 * `timeoutEarlyInMillis`), the key is not released: the handler may still
 * be running, so the claim holds until the invocation's deadline plus
 * `leaseMarginMs`, as when Lambda stops a timed-out invocation.
 *
 * @example
 * ```ts
 * export const handler = middy(async (event: APIGatewayProxyEvent & { body: { amount: number } }) => ({
 *   statusCode: 201,
 *   body: JSON.stringify(await charge(event.body)),
 * }))
 *   .use(idempotencyMiddleware({ store }))
 *   .use(httpJsonBodyParser());
 * ```
 */
export function idempotencyMiddleware<E extends LambdaHttpEvent = LambdaHttpEvent>(
  options: LambdaIdempotencyOptions<E>,
): MiddlewareObj<E, LambdaHttpResult, Error, Context> {
  const { http, leaseMarginMs } = lambdaHttp(options, 'idem: idempotencyMiddleware()');
  const limit = http.maxResponseBytes;
  const running = new WeakMap<object, Running>();

  /** This request's execution, no longer tracked (nor its event's claim); `undefined` when idem did not claim it. */
  const forget = (request: Request<E, LambdaHttpResult, Error, Context>) => {
    const state = running.get(request);
    if (!state) return undefined;
    running.delete(request);
    claims.delete(state.event);
    return state;
  };

  return {
    name: 'idempotency',
    async before(request) {
      const { event, context } = request;
      if (claims.has(event)) throw nestedMiddlewareError();
      const format = formatOf(event);
      const facts = requestOf(event, format, invocationLeaseUntil(context, leaseMarginMs));
      const decision = await http.handle(facts, event);
      if (decision.kind === 'pass') return undefined;
      // Middy's early response: the handler and every later middleware are skipped.
      if (decision.kind === 'respond') return resultOf(decision.response, format);
      running.set(request, { execution: decision, format, event });
      claims.set(event, decision.claim);
      return undefined;
    },
    async after(request) {
      const state = forget(request);
      if (!state) return;
      const instead = await settleResult(state.execution, request.response, state.format, limit);
      if (instead) request.response = resultOf(instead, state.format);
    },
    async onError(request) {
      const state = forget(request);
      // Middy's early timeout answers just before the deadline while the
      // handler still runs, and Lambda then keeps (freezes) the process
      // instead of killing it: the handler may go on in a later invocation.
      // Releasing here would let a retry run it a second time beside it; the
      // lease instead ends at the invocation's deadline plus leaseMarginMs.
      if (state && !isMiddyTimeout(request.error)) await state.execution.release();
    },
  };
}

/** Middy's own early-timeout error (its `timeoutEarlyResponse` default). */
function isMiddyTimeout(error: unknown): boolean {
  const e = error as { name?: unknown; cause?: { package?: unknown } } | null | undefined;
  return e?.name === 'TimeoutError' && e.cause?.package === '@middy/core';
}
