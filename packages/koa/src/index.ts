import type { Claim } from '@idem/core';
import {
  createHttpIdempotency,
  type HttpIdempotency,
  type HttpIdempotencyOptions,
  type HttpRoute,
  nestedMiddlewareError,
  type RouteOptions,
} from '@idem/core/http';
import {
  captureNodeResponse,
  nodeHttpRequest,
  nodeRequestBody,
  type ParsedBody,
  sendNodeResponse,
} from '@idem/core/node';
import type { DefaultContext, DefaultState, Middleware, ParameterizedContext } from 'koa';

/** What the middleware puts on `ctx.state`. */
export interface IdempotencyState {
  /**
   * The claim the handler runs under, set by `@idem/koa` when it runs the
   * handler (absent when idem passed the request through). Hand it to a
   * transactional store to commit the handler's writes with the record.
   */
  idempotency?: Claim;
}

declare module 'koa' {
  // Koa's documented way to type `ctx.state` for every app is merging into this interface.
  interface DefaultState extends IdempotencyState {}
}

/** The Koa context idem's functions (`scope`, `skip`, `key`...) receive. */
export type KoaContext<StateT = DefaultState, ContextT = DefaultContext> = ParameterizedContext<
  StateT,
  ContextT
>;

/**
 * Options of the Koa middleware: every policy of `@idem/core/http`, with
 * `scope` receiving the Koa context.
 *
 * @example
 * ```ts
 * app.use(idempotency({ store: memoryStore(), scope: (ctx) => ctx.state.user.accountId }));
 * ```
 */
export type KoaIdempotencyOptions<
  StateT = DefaultState,
  ContextT = DefaultContext,
> = HttpIdempotencyOptions<KoaContext<StateT, ContextT>>;

/** Route-level options: every route option of `@idem/core/http`, with the Koa context. */
export type KoaRouteOptions<StateT = DefaultState, ContextT = DefaultContext> = RouteOptions<
  KoaContext<StateT, ContextT>
>;

/** The middleware, with {@link IdempotencyMiddleware.route} for routes with options of their own. */
export interface IdempotencyMiddleware<StateT = DefaultState, ContextT = DefaultContext>
  extends Middleware<StateT & IdempotencyState, ContextT> {
  /**
   * A middleware for one router or route, with these options over this one's,
   * sharing its store and engine. Mount it instead of this one there:
   *
   * ```ts
   * const idem = idempotency({ store, scope: (ctx) => ctx.state.user.accountId });
   * payments.use(idem);
   * router.post('/webhooks/stripe', verify, idem.route(webhooks.stripe), handler);
   * ```
   */
  route(
    overrides: KoaRouteOptions<StateT, ContextT>,
  ): Middleware<StateT & IdempotencyState, ContextT>;
}

/**
 * Koa 3 middleware that makes POST and PATCH (by default) safe to retry: the
 * first request with an `Idempotency-Key` runs the handler, every retry gets
 * the stored response with `Idempotent-Replayed: true`. The behaviour is
 * `@idem/core/http`'s, identical in every idem adapter.
 *
 * Mount it after authentication and before the routes it protects. Body
 * parsers may come before or after it (see the README).
 */
export function idempotency<StateT = DefaultState, ContextT = DefaultContext>(
  options: KoaIdempotencyOptions<StateT, ContextT>,
): IdempotencyMiddleware<StateT, ContextT> {
  const http = createHttpIdempotency<KoaContext<StateT, ContextT>>(options);
  return Object.assign(middleware(http, http.base), {
    route: (overrides: KoaRouteOptions<StateT, ContextT>) =>
      middleware(http, http.route(overrides, 'idempotency.route()')),
  });
}

function middleware<StateT, ContextT>(
  http: HttpIdempotency<KoaContext<StateT, ContextT>>,
  route: HttpRoute<KoaContext<StateT, ContextT>>,
): Middleware<StateT & IdempotencyState, ContextT> {
  // A handler whose client left is waited for one lease: its request's (see captureNodeResponse).
  const capture = { limit: http.maxResponseBytes };
  return async function idempotencyMiddleware(ctx, next) {
    if (ctx.state.idempotency) throw nestedMiddlewareError();
    // originalUrl: ctx.url loses the path a mounted app (koa-mount) sits on.
    // A body parser before idem (@koa/bodyparser) leaves its work on ctx.request.
    const request = nodeHttpRequest(ctx.req, ctx.originalUrl, (limit) =>
      nodeRequestBody(ctx.req, limit, ctx.request as ParsedBody),
    );
    const decision = await http.handle(request, ctx, undefined, route);
    if (decision.kind === 'pass') return next();
    if (decision.kind === 'respond') {
      // The stored bytes go out as they are; Koa's own answer is skipped (and
      // middleware that sets headers afterwards finds them sent, as Koa allows).
      ctx.respond = false;
      sendNodeResponse(ctx.res, decision.response);
      return;
    }
    ctx.state.idempotency = decision.claim;
    // Captured where Koa writes, after every middleware and its body
    // serialization (string, Buffer, stream, JSON): what the client gets.
    captureNodeResponse(ctx.res, decision, capture);
    // Koa skips the body once the client left (ctx.writable turns false), but
    // the handler ran and the client's retry must get its answer replayed: the
    // capture holds the response, so it stays writable until it is ended.
    Object.defineProperty(ctx, 'writable', { get: () => !ctx.res.writableEnded });
    try {
      await next();
    } catch (error) {
      // Koa's error handling answers; whatever it answers, the key is free for the retry.
      await decision.release();
      throw error;
    }
  };
}

export type { Claim, Store } from '@idem/core';
export { isFinalStatus, webhooks } from '@idem/core/http';
export { RequestBodyError, type RequestBodyErrorCode } from '@idem/core/node';
