/**
 * `@idem/conformance/http/contract`: the route contract of the HTTP
 * conformance suite, for the app that implements it. Runtime-neutral: no
 * vitest, no `node:` modules and no runtime imports at all (only types), so a
 * test app can import it from anywhere it runs, a Worker bundle included.
 *
 * ```ts
 * import { EVENTS, fixtureBytes, type RouteName } from '@idem/conformance/http/contract';
 * ```
 *
 * @packageDocumentation
 */
// Type-only imports: this module must stay free of runtime dependencies.

import type { HttpIdempotencyOptions, RouteOptions } from '@idem/core/http';
import type { Store } from '@idem/core/store';

/**
 * The routes every test app mounts. Each handler first awaits
 * `app.enter(route)` and uses the count it resolves to; everything else about
 * the route is fixed, so the suite can tell a replay from a second execution
 * without timing anything.
 *
 * | route | methods | what it answers |
 * | --- | --- | --- |
 * | `/echo` | every method the framework routes (at least GET, POST, PUT, PATCH, DELETE) | status `?status` (default 200); headers `content-type` (the request's, or `application/octet-stream`), `x-run: <count>`, `set-cookie: run=<count>`, and `x-multi` twice (`one`, `two`); body: the request body, byte for byte, read the framework's usual way |
 * | `/bytes` | POST | 200, `content-type: application/octet-stream`, body `fixtureBytes(?size)`. With `?chunk=<n>`, the body is streamed in `n`-byte writes without a `Content-Length` |
 * | `/events` | POST | 200, `content-type: text/event-stream`, body {@link EVENTS} written event by event, then ended |
 * | `/empty` | POST | 204, no body |
 * | `/throw` | POST | throws `new Error('boom')` from the handler; with `?async=1` after an `await` (a rejected promise); the framework's default error handling answers |
 * | `/parsed` | POST | a body the app reads itself, the framework's usual way by its content type: JSON parsed (`application/json`), text (`text/plain`), form fields (`application/x-www-form-urlencoded`), anything else as bytes. With {@link READ_FIRST} on the request, the app reads it **before** idem runs (a Hono middleware mounted before idem, Express parsers mounted before idem; Fastify's content-type parsers always do); without it, wherever the app likes. 200, `content-type: application/json`, `x-run: <count>`, body `{"body": …}`: the parsed JSON value, the text, the fields as an object (each name once), or the bytes as an array of numbers |
 * | `/own` | as `/echo` | as `/echo`, under the route's own idem options: {@link HttpTestApp.routeOptions} over the mount's |
 */
export type RouteName = 'echo' | 'bytes' | 'events' | 'empty' | 'throw' | 'parsed' | 'own';

/** The request header that asks `/parsed` to read the body before idem runs (any value). */
export const READ_FIRST = 'x-read-first';

/** The body `/events` writes, one `data:` event per write. */
export const EVENTS: readonly string[] = [
  'data: tick 0\n\n',
  'data: tick 1\n\n',
  'data: tick 2\n\n',
];

/** The deterministic body `/bytes?size=n` answers with: byte `i` is `(i * 31 + 7) & 0xff`. */
export function fixtureBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

/** Reads a request header by name (any case); `undefined` when absent. */
export type HeaderReader = (name: string) => string | undefined;

/**
 * idem's options for one test server, framework-neutral: every function of
 * the request (`scope`, `skip`, a `key` or `fingerprint` function, `ttlMs`
 * and `leaseMs` functions) reads the request's headers through a
 * {@link HeaderReader} instead of taking a framework request, and the
 * factory adapts them, most simply with {@link frameworkOptions}. When
 * `scope` is absent, the factory must leave idem's own default (the
 * `Authorization` header) in place.
 */
export interface HttpAppOptions extends Omit<HttpIdempotencyOptions<HeaderReader>, 'store'> {
  readonly store: Store;
}

/** A route's overrides for `/own`, framework-neutral as {@link HttpAppOptions} are. */
export type HttpAppRouteOptions = RouteOptions<HeaderReader>;

/** The options that are functions of the request, which {@link frameworkOptions} adapts. */
const PER_REQUEST = ['scope', 'skip', 'key', 'fingerprint', 'ttlMs', 'leaseMs'] as const;

/**
 * The suite's options as the framework's: each function of the request
 * (see {@link HttpAppOptions}) is called with `headersOf(request)` instead,
 * the rest is passed on as it is.
 *
 * ```ts
 * app.use(idempotency(frameworkOptions(options, (c: Context) => (name) => c.req.header(name))));
 * ```
 *
 * @param headersOf Reads a header of the framework's request or context.
 */
export function frameworkOptions<Ctx>(
  options: HttpAppOptions,
  headersOf: (ctx: Ctx) => HeaderReader,
): HttpIdempotencyOptions<Ctx>;
export function frameworkOptions<Ctx>(
  options: HttpAppRouteOptions,
  headersOf: (ctx: Ctx) => HeaderReader,
): RouteOptions<Ctx>;
export function frameworkOptions<Ctx>(
  options: HttpAppRouteOptions,
  headersOf: (ctx: Ctx) => HeaderReader,
): RouteOptions<Ctx> {
  const adapted: Record<string, unknown> = { ...options };
  for (const name of PER_REQUEST) {
    const value = adapted[name];
    if (typeof value !== 'function') continue;
    adapted[name] = (ctx: Ctx, ...rest: unknown[]) => value(headersOf(ctx), ...rest);
  }
  return adapted as RouteOptions<Ctx>;
}

/** What the suite hands {@link HttpSuiteOptions.createServer} for one server. */
export interface HttpTestApp {
  /** idem's options for the mount: pass them to the adapter, adapting its functions (see {@link HttpAppOptions}). */
  readonly options: HttpAppOptions;
  /**
   * The overrides of the route `/own`, merged over {@link options} the way
   * the adapter merges a route's own options (Hono and Express
   * `idempotency(options).route(routeOptions)` on that route instead of the
   * mount, Fastify `config: { idempotency: routeOptions }`). Empty when the
   * check sets none; its functions are adapted as the mount's.
   */
  readonly routeOptions: HttpAppRouteOptions;
  /**
   * Every route handler awaits this first, with its route's name. It resolves
   * to how many times that route has run on this server (1 for the first run),
   * and may hold the handler while the suite sends a duplicate.
   */
  enter(route: RouteName): Promise<number>;
}

/** A running test server. */
export interface TestServer {
  /** Its origin, e.g. `http://127.0.0.1:54321`. */
  readonly url: string;
  /** Stop it, closing idle keep-alive connections too (Node: `server.closeAllConnections()`). */
  close(): Promise<void>;
}
