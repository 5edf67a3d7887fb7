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
  sendNodeResponse,
} from '@idem/core/node';
import type { Request, RequestHandler } from 'express';

declare global {
  // Express's documented way to add request properties is merging into this namespace.
  namespace Express {
    interface Request {
      /**
       * The claim the handler runs under, set by `@idem/express` when it runs
       * the handler (absent when idem passed the request through). Hand it to
       * a transactional store to commit the handler's writes with the record.
       */
      idempotency?: Claim;
    }
  }
}

/**
 * Options of the Express middleware: every policy of `@idem/core/http`, with
 * `scope` receiving the Express request.
 *
 * @example
 * ```ts
 * app.use(idempotency({ store: memoryStore(), scope: (req) => req.user.accountId }));
 * ```
 */
export type ExpressIdempotencyOptions = HttpIdempotencyOptions<Request>;

/** Route-level options: every route option of `@idem/core/http`, with the Express request. */
export type ExpressRouteOptions = RouteOptions<Request>;

/** The middleware, with {@link IdempotencyMiddleware.route} for routes with options of their own. */
export interface IdempotencyMiddleware extends RequestHandler {
  /**
   * A middleware for one router or route, with these options over this one's,
   * sharing its store and engine. Mount it instead of this one there:
   *
   * ```ts
   * const idem = idempotency({ store, scope: (req) => req.user.accountId });
   * app.use('/payments', idem);
   * app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), idem.route(webhooks.stripe), handler);
   * ```
   */
  route(overrides: ExpressRouteOptions): RequestHandler;
}

/**
 * Express (4 and 5) middleware that makes POST and PATCH (by default) safe to
 * retry: the first request with an `Idempotency-Key` runs the handler, every
 * retry gets the stored response with `Idempotent-Replayed: true`. The
 * behaviour is `@idem/core/http`'s, identical in every idem adapter.
 *
 * Mount it after authentication and before the routes it protects. Body
 * parsers may come before or after it (see the README).
 */
export function idempotency(options: ExpressIdempotencyOptions): IdempotencyMiddleware {
  const http = createHttpIdempotency<Request>(options);
  return Object.assign(middleware(http, http.base), {
    route: (overrides: ExpressRouteOptions) =>
      middleware(http, http.route(overrides, 'idempotency.route()')),
  });
}

function middleware(http: HttpIdempotency<Request>, route: HttpRoute<Request>): RequestHandler {
  // A handler whose client left is waited for one lease: its request's (see captureNodeResponse).
  const capture = { limit: http.maxResponseBytes };
  return function idempotencyMiddleware(req, res, next) {
    if (req.idempotency) return next(nestedMiddlewareError());
    // originalUrl: req.url loses the path the middleware is mounted on.
    const request = nodeHttpRequest(req, req.originalUrl, (limit) => nodeRequestBody(req, limit));
    http
      .handle(request, req, undefined, route)
      .then((decision) => {
        if (decision.kind === 'pass') return next();
        if (decision.kind === 'respond') return sendNodeResponse(res, decision.response);
        req.idempotency = decision.claim;
        // Errors (thrown, rejected, next(err)) reach the response through
        // Express's error handling: a 5xx releases the key like any other 5xx.
        captureNodeResponse(res, decision, capture);
        next();
      })
      .catch(next);
  };
}

export type { Claim, Store } from '@idem/core';
export { isFinalStatus, webhooks } from '@idem/core/http';
export { keepRawBody, RequestBodyError, type RequestBodyErrorCode } from '@idem/core/node';
