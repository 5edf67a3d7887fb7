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
import type { Store } from '@idem/core';
import type { HttpIdempotencyOptions } from '@idem/core/http';

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
 */
export type RouteName = 'echo' | 'bytes' | 'events' | 'empty' | 'throw' | 'parsed';

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
 * idem's options for one test server, framework-neutral: `scope` reads
 * request headers instead of a framework request, and the factory adapts it,
 * e.g. for Express `scope: (req) => options.scope((name) => req.get(name))`.
 * When `scope` is absent, the factory must leave idem's own default (the
 * `Authorization` header) in place.
 */
export interface HttpAppOptions extends Omit<HttpIdempotencyOptions<unknown>, 'scope' | 'store'> {
  readonly store: Store;
  readonly scope?: (header: HeaderReader) => string;
}

/** What the suite hands {@link HttpSuiteOptions.createServer} for one server. */
export interface HttpTestApp {
  /** idem's options: pass them to the adapter, adapting `scope` (see {@link HttpAppOptions}). */
  readonly options: HttpAppOptions;
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
