import type { Claim } from '@idem/core';
import {
  createHttpIdempotency,
  type HttpIdempotency,
  type HttpIdempotencyOptions,
  type HttpRoute,
  nestedMiddlewareError,
  type RouteOptions,
} from '@idem/core/http';
import type { Context } from 'aws-lambda';
import { invocationLeaseUntil } from '../lease.js';
import { leaseMarginOf } from '../options.js';
import { formatOf, type LambdaHttpEvent, requestOf } from './event.js';
import { type LambdaHttpResult, resultOf, settleResult } from './result.js';

export type { EventFormat, LambdaHttpEvent } from './event.js';
export type { LambdaHttpResult } from './result.js';

/**
 * An HTTP handler: an API Gateway, Function URL or ALB event and the
 * invocation's context in, its result out.
 */
export type LambdaHttpHandler<E extends LambdaHttpEvent = LambdaHttpEvent> = (
  event: E,
  context: Context,
  // biome-ignore lint/suspicious/noExplicitAny: the rest is the runtime's (a callback, Middy's signal), passed through untouched.
  ...rest: any[]
) => LambdaHttpResult | Promise<LambdaHttpResult>;

/**
 * Options of the Lambda HTTP wrapper: every policy of `@idem/core/http`,
 * with `scope` and the other functions of the request receiving the event,
 * and how long past the invocation's deadline its lease may hold.
 *
 * @example
 * ```ts
 * const idem = idempotency<APIGatewayProxyEventV2>({
 *   store,
 *   scope: (event) => event.requestContext.accountId,
 * });
 * ```
 */
export interface LambdaIdempotencyOptions<E extends LambdaHttpEvent = LambdaHttpEvent>
  extends HttpIdempotencyOptions<E> {
  /**
   * How long after the invocation's deadline (its `getRemainingTimeInMillis()`)
   * the lease may still hold, in milliseconds. Lambda stops a timed-out
   * invocation at its deadline, so renewing past it would only keep the
   * next delivery waiting: the key is taken over this long after the
   * cut-off, not a lease later. Covers the clock skew between the function
   * and the store.
   * @default 1000
   */
  readonly leaseMarginMs?: number;
}

/** Route-level options: every route option of `@idem/core/http`, with the event. */
export type LambdaRouteOptions<E extends LambdaHttpEvent = LambdaHttpEvent> = RouteOptions<E>;

/** The event a handler takes: its first parameter's type, or `E` when it declares none. */
export type EventOf<H, E extends LambdaHttpEvent = LambdaHttpEvent> = H extends (
  event: infer X,
  // biome-ignore lint/suspicious/noExplicitAny: any rest, as the handler declares it.
  ...rest: any[]
) => unknown
  ? unknown extends X
    ? E
    : X
  : E;

/**
 * A handler as idem returns it: the event the handler takes and the
 * invocation's context (whatever the handler itself declares), its result
 * as a promise. A replay or a problem is the structured result of the
 * event's format: for payload 1.0 and ALB handlers, the type they return
 * already; for payload 2.0, also when the handler returns a bare value (the
 * `200` JSON answer Lambda makes of it).
 */
export type IdempotentHandler<H, E extends LambdaHttpEvent = LambdaHttpEvent> = (
  event: EventOf<H, E>,
  context: Context,
  // biome-ignore lint/suspicious/noExplicitAny: the rest is the runtime's, passed through untouched.
  ...rest: any[]
  // biome-ignore lint/suspicious/noExplicitAny: any handler's result.
) => Promise<Awaited<H extends (...args: any[]) => infer R ? R : never>>;

/** Wraps Lambda HTTP handlers; {@link LambdaIdempotent.route} for handlers with options of their own. */
export interface LambdaIdempotent<E extends LambdaHttpEvent = LambdaHttpEvent> {
  /** The handler, made safe to retry: see {@link IdempotentHandler}. */
  <H extends LambdaHttpHandler<E>>(handler: H): IdempotentHandler<H, E>;
  /**
   * A wrapper with these options over the mount's, sharing its store and
   * engine; checked once, here:
   *
   * ```ts
   * const idem = idempotency({ store });
   * export const handler = idem.route({ ttlMs: 3_600_000 })(async () => ({ statusCode: 201, body: '' }));
   * ```
   */
  route(
    overrides: LambdaRouteOptions<E>,
  ): <H extends LambdaHttpHandler<E>>(handler: H) => IdempotentHandler<H, E>;
}

/** The claim of each event whose handler runs under idem (the wrapper's or the Middy middleware's). */
export const claims: WeakMap<object, Claim> = new WeakMap();

/**
 * The claim the handler runs under, for the event idem handed it
 * (`undefined` when idem passed the event through). Hand it to a
 * transactional store to commit the handler's writes with the record.
 */
export function claimOf(event: LambdaHttpEvent): Claim | undefined {
  return claims.get(event);
}

/** The pieces the wrapper and the Middy middleware share: the HTTP layer and the lease margin. */
export interface LambdaHttp<E extends LambdaHttpEvent> {
  readonly http: HttpIdempotency<E>;
  readonly leaseMarginMs: number;
}

/** Check the options once and build the HTTP layer; `where` names the entry point in errors. */
export function lambdaHttp<E extends LambdaHttpEvent>(
  options: LambdaIdempotencyOptions<E>,
  where: string,
): LambdaHttp<E> {
  const { leaseMarginMs, ...rest } = options;
  return {
    leaseMarginMs: leaseMarginOf(leaseMarginMs, where),
    http: createHttpIdempotency<E>(rest),
  };
}

/**
 * Makes API Gateway (REST and HTTP APIs), Function URL and ALB handlers
 * safe to retry: for POST and PATCH (by default), the first request with an
 * `Idempotency-Key` runs the handler, every retry gets its result back with
 * `Idempotent-Replayed: true`, in the event's own format. The answers are
 * `@idem/core/http`'s, the same as every idem HTTP adapter's (`409` with
 * `Retry-After` for a duplicate in flight, `422` for a reused key, ...). The
 * event's format is told per event, so one wrapper serves them all. The
 * lease follows the invocation: renewed while the handler runs, never past
 * its deadline plus `leaseMarginMs`.
 *
 * @example
 * ```ts
 * const idem = idempotency({ store, scope: (event) => event.headers['x-account-id'] ?? '' });
 * export const handler = idem(async (event: APIGatewayProxyEvent) => ({
 *   statusCode: 201,
 *   body: JSON.stringify(await charge(JSON.parse(event.body ?? '{}'))),
 * }));
 * ```
 */
export function idempotency<E extends LambdaHttpEvent = LambdaHttpEvent>(
  options: LambdaIdempotencyOptions<E>,
): LambdaIdempotent<E> {
  const lambda = lambdaHttp(options, 'idem: idempotency()');
  const wrapper =
    (route: HttpRoute<E>) =>
    <H extends LambdaHttpHandler<E>>(handler: H): IdempotentHandler<H, E> =>
      wrap(lambda, route, handler);
  return Object.assign(wrapper(lambda.http.base), {
    route: (overrides: LambdaRouteOptions<E>) =>
      wrapper(lambda.http.route(overrides, 'idempotency.route()')),
  });
}

function wrap<E extends LambdaHttpEvent, H extends LambdaHttpHandler<E>>(
  { http, leaseMarginMs }: LambdaHttp<E>,
  route: HttpRoute<E>,
  handler: H,
): IdempotentHandler<H, E> {
  const limit = http.maxResponseBytes;
  return async function idempotent(event: E, context: Context, ...rest: unknown[]) {
    if (claims.has(event)) throw nestedMiddlewareError();
    const format = formatOf(event);
    const request = requestOf(event, format, invocationLeaseUntil(context, leaseMarginMs));
    // No waitUntil: Lambda freezes the process once the handler returns, so
    // nothing is left to run after the result.
    const decision = await http.handle(request, event, undefined, route);
    if (decision.kind === 'pass') return handler(event, context, ...rest);
    if (decision.kind === 'respond') return resultOf(decision.response, format);
    claims.set(event, decision.claim);
    let result: LambdaHttpResult;
    try {
      result = await handler(event, context, ...rest);
    } catch (error) {
      await decision.release();
      throw error;
    } finally {
      claims.delete(event);
    }
    const instead = await settleResult(decision, result, format, limit);
    return instead ? resultOf(instead, format) : result;
  } as unknown as IdempotentHandler<H, E>;
}
