import { type Claim, ConfigurationError } from '@idem/core';
import {
  captureBody,
  createHttpIdempotency,
  encodeFormData,
  type HttpIdempotency,
  type HttpIdempotencyOptions,
  type HttpRoute,
  nestedMiddlewareError,
  type RouteOptions,
  settleWebResponse,
  type WebSettlement,
  webResponse,
} from '@idem/core/http';
import type { Context, Env, MiddlewareHandler } from 'hono';
import { peek } from './peek.js';

/**
 * The context variables the middleware sets: `c.get('idempotency')` is the
 * claim the handler runs under. Hand it to a transactional store to commit the
 * handler's writes with the record.
 */
export interface IdempotencyVariables {
  /** `undefined` when idem passed the request through (a method it does not cover, or no key when keys are optional). */
  idempotency: Claim | undefined;
}

/**
 * The Hono `Env` the middleware adds to yours; include it in your app's `Env`
 * (`{ Variables: IdempotencyVariables & { … } }`) to type `c.get('idempotency')`.
 */
export interface IdempotencyEnv {
  Variables: IdempotencyVariables;
}

/**
 * Options of the Hono middleware: every policy of `@idem/core/http`, with
 * `scope` receiving the Hono context.
 *
 * @example
 * ```ts
 * app.use('/payments/*', idempotency({ store: memoryStore(), scope: (c) => c.get('accountId') }))
 * ```
 */
export type HonoIdempotencyOptions<E extends Env = Env> = HttpIdempotencyOptions<Context<E>>;

/**
 * Hands background work (completion retries) to the runtime's `waitUntil`.
 * Looked up only when needed: Hono's `executionCtx` getter throws (building a
 * stack trace) on runtimes without one, which cost every request on Node.
 */
function waitUntilOf(c: Context): (p: Promise<unknown>) => void {
  return (p) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      // No execution context (Node, Bun): the promise runs on its own.
    }
  };
}

const TEXTUAL = /json|^text\/|x-www-form-urlencoded/i;
const decoder = new TextDecoder();

/**
 * Hono answers `c.req.json()` or `c.req.text()` after idem read the body as
 * bytes by wrapping them in a new Response, a costly detour on every request
 * that runs the handler. Caching the text spares it, for bodies a handler reads
 * as text; other bodies keep Hono's own path.
 */
function cacheText(c: Context, bytes: Uint8Array): void {
  const cache = (c.req as { bodyCache?: Record<string, unknown> }).bodyCache;
  const type = c.req.header('content-type');
  if (!cache || 'text' in cache || !type || !TEXTUAL.test(type) || bytes.byteLength > 1 << 20) {
    return;
  }
  cache.text = Promise.resolve(decoder.decode(bytes));
}

/** Route-level options: every route option of `@idem/core/http`, with the Hono context. */
export type HonoRouteOptions<E extends Env = Env> = RouteOptions<Context<E>>;

/** The middleware, with {@link IdempotencyMiddleware.route} for routes with options of their own. */
export interface IdempotencyMiddleware<E extends Env = Env>
  extends MiddlewareHandler<E & IdempotencyEnv> {
  /**
   * A middleware for one route or group, with these options over this one's,
   * sharing its store and engine. Mount it instead of this one on that route:
   *
   * ```ts
   * const idem = idempotency({ store, scope: (c) => c.get('accountId') });
   * app.use('/payments/*', idem);
   * app.post('/webhooks/stripe', idem.route(webhooks.stripe), handler);
   * ```
   */
  route(overrides: HonoRouteOptions<E>): MiddlewareHandler<E & IdempotencyEnv>;
}

/**
 * Hono middleware that makes POST and PATCH (by default) safe to retry: the
 * first request with an `Idempotency-Key` runs the handler, every retry gets
 * the stored response with `Idempotent-Replayed: true`. Web APIs only, so it
 * runs on Node, Bun, Deno and edge runtimes. See `@idem/core/http` for the
 * behaviour, which is the same in every idem adapter.
 */
export function idempotency<E extends Env = Env>(
  options: HonoIdempotencyOptions<E>,
): IdempotencyMiddleware<E> {
  const http = createHttpIdempotency<Context<E>>(options);
  const mount = middleware(http, http.base);
  return Object.assign(mount, {
    route: (overrides: HonoRouteOptions<E>) =>
      middleware(http, http.route(overrides, 'idempotency.route()')),
  });
}

function middleware<E extends Env>(
  http: HttpIdempotency<Context<E>>,
  route: HttpRoute<Context<E>>,
): MiddlewareHandler<E & IdempotencyEnv> {
  const limit = http.maxResponseBytes;

  return async function idempotencyMiddleware(c, next) {
    if (c.get('idempotency')) throw nestedMiddlewareError();
    let bytes: Uint8Array | undefined;
    const url = c.req.url;
    const q = url.indexOf('?');
    const decision = await http.handle(
      {
        method: c.req.method,
        path: c.req.path,
        query: q === -1 ? '' : url.slice(q + 1),
        header: (name) => c.req.header(name) ?? null,
        // The handler's route: the last one matched (idem's own is a middleware's).
        route: () => c.req.matchedRoutes.at(-1)?.path,
        body: async (limit) => {
          bytes = await readBody(c, limit);
          return bytes;
        },
      },
      // The same context; `scope` is typed by the app's own Env, without idem's variables.
      c as unknown as Context<E>,
      waitUntilOf(c),
      route,
    );
    if (decision.kind === 'pass') return next();
    if (decision.kind === 'respond') return webResponse(decision.response);

    c.set('idempotency', decision.claim);
    if (bytes) cacheText(c, bytes);
    let settlement: WebSettlement;
    try {
      await next();
      // Hono catches handler errors itself and leaves them in c.error.
      settlement = c.error ? { threw: true } : { response: c.res, unread: peek(c.res) };
    } catch (error) {
      await settleWebResponse(decision, { threw: true }, limit);
      throw error;
    }
    const response = await settleWebResponse(decision, settlement, limit);
    if (response && response !== c.res) replaceResponse(c, response);
  };
}

/**
 * The request body, at most `limit` bytes (`undefined` past it). A body the
 * app already read through `c.req` (a signature check's `c.req.text()`, a
 * validator's `c.req.json()`) has a spent stream: Hono keeps what was read
 * in its body cache, and idem reads it from there. Otherwise a body of
 * declared length (the handler already refused one over the limit) is read
 * Hono's way, which caches it for the handler; one of unknown length is read
 * from the stream and stopped as soon as it outgrows the limit, then cached
 * for the handler the way Hono caches it.
 */
async function readBody(c: Context, limit: number): Promise<Uint8Array | undefined> {
  const cache = (c.req as { bodyCache?: Record<string, unknown> }).bodyCache ?? {};
  // Hono answers any later read from the first one it cached. A FormData
  // would come back as multipart with a new random boundary: encoded instead.
  const first = Object.keys(cache)[0];
  let bytes: Uint8Array;
  if (first === 'formData') {
    bytes = await encodeFormData((await cache.formData) as FormData);
  } else if (first === undefined && c.req.raw.bodyUsed) {
    // Read from c.req.raw, which keeps no copy: there is nothing to fingerprint.
    // (Asking `bodyUsed`, unlike `body`, builds no web Request on @hono/node-server.)
    throw new ConfigurationError(
      'idem: the request body was read from c.req.raw, which keeps no copy, before idempotency() ran. Read it with c.req.text(), json(), arrayBuffer() or parseBody(), which Hono keeps, or mount idempotency() first.',
    );
  } else if (first !== undefined || c.req.header('content-length') !== undefined) {
    // A declared length is read through Hono's own body cache first: on Node,
    // touching `c.req.raw.body` would build a whole web Request (with its
    // AbortSignal) that @hono/node-server otherwise never needs.
    bytes = new Uint8Array(await c.req.arrayBuffer());
  } else {
    const stream = c.req.raw.body;
    if (stream === null) return new Uint8Array(await c.req.arrayBuffer());
    const captured = await captureBody(stream, limit);
    if (captured.bytes === null) {
      await captured.stream.cancel();
      return undefined;
    }
    bytes = captured.bytes;
    cache.arrayBuffer = Promise.resolve(bytes.slice().buffer);
  }
  return bytes.byteLength > limit ? undefined : bytes;
}

function replaceResponse(c: Context, response: Response): void {
  // Clear first so Hono's setter does not merge the old response's headers into the new one.
  c.res = undefined as unknown as Response;
  c.res = response;
}

export type { Claim, Store } from '@idem/core';
export { isFinalStatus, webhooks } from '@idem/core/http';
