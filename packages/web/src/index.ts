import { type Claim, ConfigurationError } from '@idem/core';
import {
  captureBody,
  createHttpIdempotency,
  type HttpIdempotency,
  type HttpIdempotencyOptions,
  type HttpRequest,
  type HttpRoute,
  nestedMiddlewareError,
  type RouteOptions,
  settleWebResponse,
  webResponse,
} from '@idem/core/http';

/**
 * Any Fetch handler: a Web `Request` in, a `Response` out, with whatever else
 * the platform passes after the request (Next.js's `{ params }`, Bun's
 * `server`, Deno's `info`, a Worker's `env` and `ctx`).
 */
// biome-ignore lint/suspicious/noExplicitAny: the rest is the platform's, passed through untouched.
export type FetchHandler = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/** Hands a promise to the platform, which keeps the process alive until it settles. */
export type WaitUntil = (promise: Promise<unknown>) => void;

/**
 * Options of the Fetch adapter: every policy of `@idem/core/http`, with
 * `scope` and the other functions of the request receiving the `Request`
 * the handler gets.
 *
 * @example
 * ```ts
 * const idem = idempotency({ store: memoryStore(), scope: (request) => request.headers.get('x-account-id') ?? '' });
 * ```
 */
export interface WebIdempotencyOptions extends HttpIdempotencyOptions<Request> {
  /**
   * Where background work goes (a completion the store could not take at
   * once, retried after the response): the platform's `waitUntil`, looked up
   * per request from the handler's arguments. Next.js: `() => after` (from
   * `next/server`); Vercel: `() => waitUntil` (from `@vercel/functions`).
   *
   * @default The `waitUntil` of the first argument after the request that has one (a Worker's `ctx`); otherwise none, and the work runs on its own.
   */
  readonly waitUntil?: (request: Request, ...rest: unknown[]) => WaitUntil | undefined;
}

/** Route-level options: every route option of `@idem/core/http`, with the `Request`. */
export type WebRouteOptions = RouteOptions<Request>;

/** Wraps Fetch handlers; {@link Idempotent.route} for handlers with options of their own. */
export interface Idempotent {
  /** The handler, made safe to retry under the mount's options; same type, same arguments. */
  <H extends FetchHandler>(handler: H): H;
  /**
   * A wrapper with these options over the mount's, sharing its store and
   * engine; checked once, here:
   *
   * ```ts
   * const idem = idempotency({ store, scope: (request) => accountOf(request) });
   * export const POST = idem.route({ ttlMs: 3_600_000 })(handler);
   * ```
   */
  route(overrides: WebRouteOptions): <H extends FetchHandler>(handler: H) => H;
}

/** The claim of each request whose handler runs under idem. */
const claims = new WeakMap<Request, Claim>();

/**
 * The claim the handler runs under, for the request idem handed it
 * (`undefined` when idem passed the request through). Hand it to a
 * transactional store to commit the handler's writes with the record.
 */
export function claimOf(request: Request): Claim | undefined {
  return claims.get(request);
}

/**
 * Makes Fetch handlers safe to retry: for POST and PATCH (by default), the
 * first request with an `Idempotency-Key` runs the handler, every retry gets
 * the stored response with `Idempotent-Replayed: true`. Web APIs only: it
 * runs wherever a handler takes a `Request` and returns a `Response`
 * (Next.js route handlers, Bun.serve, Deno.serve, Elysia, h3, Workers). The
 * behaviour is `@idem/core/http`'s, identical in every idem adapter.
 *
 * @example
 * ```ts
 * const idem = idempotency({ store, scope: (request) => request.headers.get('x-account-id') ?? '' });
 * export const POST = idem(async (request: Request) => Response.json(await charge(await request.json()), { status: 201 }));
 * ```
 */
export function idempotency(options: WebIdempotencyOptions): Idempotent {
  const { waitUntil = defaultWaitUntil, ...rest } = options;
  const http = createHttpIdempotency<Request>(rest);
  const wrapper =
    (route: HttpRoute<Request>) =>
    <H extends FetchHandler>(handler: H): H =>
      wrap(http, route, waitUntil, handler);
  return Object.assign(wrapper(http.base), {
    route: (overrides: WebRouteOptions) => wrapper(http.route(overrides, 'idempotency.route()')),
  });
}

function defaultWaitUntil(_request: Request, ...rest: unknown[]): WaitUntil | undefined {
  for (const arg of rest) {
    const f = (arg as { waitUntil?: unknown } | null)?.waitUntil;
    if (typeof f === 'function') return (promise) => f.call(arg, promise);
  }
  return undefined;
}

function wrap<H extends FetchHandler>(
  http: HttpIdempotency<Request>,
  route: HttpRoute<Request>,
  waitUntil: NonNullable<WebIdempotencyOptions['waitUntil']>,
  handler: H,
): H {
  const limit = http.maxResponseBytes;
  return async function idempotent(request: Request, ...rest: unknown[]): Promise<Response> {
    if (claims.has(request)) throw nestedMiddlewareError();
    const decision = await http.handle(facts(request), request, waitUntil(request, ...rest), route);
    if (decision.kind === 'pass') return handler(request, ...rest);
    if (decision.kind === 'respond') return webResponse(decision.response);
    claims.set(request, decision.claim);
    let response: unknown;
    try {
      response = await handler(request, ...rest);
    } catch (error) {
      await settleWebResponse(decision, { threw: true }, limit);
      throw error;
    } finally {
      claims.delete(request);
    }
    if (!(response instanceof Response)) {
      await settleWebResponse(decision, { threw: true }, limit);
      throw new ConfigurationError(
        `idem: the handler resolved to ${response === null ? 'null' : typeof response}, not a Response. Return a Response (for example Response.json(data)).`,
      );
    }
    return (await settleWebResponse(decision, { response }, limit)) ?? response;
  } as H;
}

/**
 * What core reads of a Web `Request`. The body is read from a clone, so the
 * handler still reads the request as it came (its own `json()`, a
 * framework's parser), and reading stops as soon as it outgrows the limit.
 */
function facts(request: Request): HttpRequest {
  const url = request.url;
  const q = url.indexOf('?');
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return {
    method: request.method,
    path:
      start === -1 || (q !== -1 && start > q) ? '/' : url.slice(start, q === -1 ? undefined : q),
    query: q === -1 ? '' : url.slice(q + 1),
    header: (name) => request.headers.get(name),
    async body(limit) {
      if (request.bodyUsed) {
        throw new ConfigurationError(
          'idem: the request body was read before idempotency() ran, and a Request keeps no copy. Wrap the handler that reads it (or read request.clone()) so idem sees the body as sent.',
        );
      }
      if (request.body === null) return new Uint8Array(0);
      const captured = await captureBody(request.clone().body, limit);
      if (captured.bytes !== null) return captured.bytes;
      // Over the limit: the request is answered 413 and its handler never
      // runs, so the rest of the upload is dropped on both sides of the
      // clone. Not awaited: Bun never settles the cancel of a request body
      // copied with `new Request(url, request)` (Elysia's mount), and the
      // answer must not wait on it.
      Promise.all([captured.stream.cancel(), request.body.cancel()]).catch(() => {});
      return undefined;
    },
  };
}

export type { Claim, Store } from '@idem/core';
export { isFinalStatus, webhooks } from '@idem/core/http';
