import { type Claim, isTransactional } from '../engine/context.js';
import { createEngine, type Decision } from '../engine/engine.js';
import type { Execution } from '../engine/execution.js';
import { notStoredMarker } from '../engine/not-stored.js';
import { ENGINE_OPTIONS, type IdempotencyOptions } from '../engine/options.js';
import {
  ConfigurationError,
  type IdempotencyError,
  isIdempotencyError,
  type RequestInFlightError,
  RolledBackError,
  type StoreUnavailableError,
} from '../errors.js';
import type { ParsedKey } from '../key.js';
import { refuseUnknownNames } from '../options/define.js';
import { checkLeaseWithinTtl } from '../options/rules.js';
import type { StoredResponse } from '../store/contract.js';
import { storableHeaders } from './headers.js';
import { type ProblemKind, problemResponse } from './problem.js';
import {
  pick,
  type ResolvedRoute,
  ROUTE_OPTIONS,
  type RouteOptions,
  resolveRoute,
} from './route.js';

/** A response as adapters hand it to idem and receive it back: status, header lines, body bytes. */
export type HttpResponse = StoredResponse;

/** A handler's response as an adapter captured it; `body: null` when not buffered (too large). */
export interface CompletedResponse {
  readonly status: number;
  readonly headers: Iterable<readonly [string, string]>;
  readonly body: Uint8Array | null;
}

/**
 * The parts of a request idem looks at before its body, as an adapter
 * exposes them: what {@link HttpIdempotency.beforeBody} decides from.
 */
export interface HttpRequestHead {
  /** The method, any case. */
  readonly method: string;
  /** The path without the query string (`/payments/42`). */
  readonly path: string;
  /** The raw query string, without `?`; empty when none. */
  readonly query: string;
  /** A request header's value (lines joined by `, `), or `null`. */
  header(name: string): string | null;
  /**
   * The `Idempotency-Key` header lines, separately, where the framework keeps
   * them (Node's `rawHeaders`); otherwise omit it and the joined value is used.
   */
  readonly keyLines?: readonly string[];
  /**
   * The route pattern the request matched (`/payments/:id`), when the
   * framework knows it before the handler runs; read only for hook events.
   */
  route?(): string | undefined;
  /**
   * The latest time, in epoch milliseconds, this request's lease may last,
   * on platforms that cut a handler off at a hard deadline (an AWS Lambda
   * invocation's timeout): see `BeginInput.leaseUntil` in `@idem/core`.
   * @default none: the lease is renewed for as long as the handler runs
   */
  readonly leaseUntil?: number;
}

/** The parts of a request idem looks at, as an adapter exposes them: its head, and its body. */
export interface HttpRequest extends HttpRequestHead {
  /**
   * The raw request body bytes, read only when the checks before the body
   * (see {@link HttpIdempotency.beforeBody}) let the request through to it:
   * a covered request, not skipped, with a valid key (or a key in the
   * body), whose declared length is within the limit. Read at most `limit`
   * bytes: resolve to `undefined`, without reading further, as soon as the
   * body is longer. An adapter that already holds the bytes may return them
   * directly instead of a promise.
   */
  body(limit: number): Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

/**
 * Options shared by every HTTP adapter; `Ctx` is the framework's request or
 * context. The engine's, with `ttlMs` and `leaseMs` also as functions of the
 * request, and every route option (see {@link RouteOptions}).
 */
export interface HttpIdempotencyOptions<Ctx>
  extends Omit<IdempotencyOptions, 'ttlMs' | 'leaseMs'>,
    RouteOptions<Ctx> {}

/** What an adapter must do with a request. */
export type HttpDecision =
  /** Not covered (method, `skip`, or no key when optional): run the handler as if idem were not there. */
  | { readonly kind: 'pass' }
  /** Send this response (a replay or a problem); do not run the handler. */
  | { readonly kind: 'respond'; readonly response: HttpResponse; readonly replayed: boolean }
  /**
   * Run the handler once. Then hand its response to `complete` and send it
   * unchanged, or call `release` if it threw.
   */
  | {
      readonly kind: 'execute';
      /**
       * The claim the handler runs under. Adapters expose it to handlers
       * (Hono `c.get('idempotency')`, Express `req.idempotency`, Fastify
       * `request.idempotency`) so transactional stores can bind the handler's
       * database transaction to it.
       */
      readonly claim: Claim;
      /**
       * The lease this request's claim runs under, in milliseconds: the
       * route's `leaseMs` for this request, or the engine's. Adapters that
       * wait for a handler whose client left wait this long.
       */
      readonly leaseMs: number;
      /**
       * Store the handler's answer, or release the key when `shouldStore`
       * does not keep its status. Resolves once the store answered, or the
       * store's time limit passed. Pass `body: null` when the body was too
       * large (or an endless stream) to buffer: idem then records that the
       * request ran without keeping its response, so it is neither replayed
       * truncated nor run again.
       *
       * Resolves to `undefined` when the handler's response goes out as it
       * is, or to a response to send instead: a `503` problem when a
       * transactional store rolled the handler's writes back with the record
       * (`rolled-back`), or could not confirm its commit in time
       * (`store-unavailable`), so the client is never told of an effect that
       * may not have happened. Releasing the key of a transactional
       * execution rolls its writes back too: an answer not kept that says
       * they happened (below 400) is replaced by the same `rolled-back`
       * problem; one of 400 or more goes out as it is.
       */
      complete(response: CompletedResponse): Promise<HttpResponse | undefined>;
      /** The handler threw: release the key so the client's retry runs it again. */
      release(): Promise<void>;
    };

/** The `execute` decision of {@link HttpDecision}. */
export type HttpExecution = Extract<HttpDecision, { readonly kind: 'execute' }>;

/** What an adapter must do with a request before its body is read: see {@link HttpIdempotency.beforeBody}. */
export type HttpBodyDecision =
  /** Not covered (method, `skip`, or no key when optional): run the handler as if idem were not there; neither read nor limit the body. */
  | { readonly kind: 'pass' }
  /**
   * Send this problem (a missing or invalid key) where idem's middleware
   * stands, after the app's own checks (authentication, signatures) as in
   * every adapter, instead of running the handler. idem neither reads nor
   * limits the body: the framework reads it as it would without idem.
   */
  | { readonly kind: 'respond'; readonly response: HttpResponse; readonly replayed: false }
  /** Send this `413` problem at once, before a byte of the body is read: it is declared over the limit. */
  | { readonly kind: 'refuse'; readonly response: HttpResponse }
  | HttpBodyRead;

/**
 * Read the body, at most `limit` bytes; one that outgrows it is answered
 * with {@link HttpIdempotency.tooLarge}. Then hand the request, with its
 * body, and this decision to {@link HttpIdempotency.handle}.
 */
export interface HttpBodyRead {
  readonly kind: 'read';
  /** The route's `maxRequestBytes`. */
  readonly limit: number;
  /** What `beforeBody` found, for `handle` to go on from: the key, or that it is in the body. */
  readonly [FOUND]: string | typeof KEY_IN_BODY;
}

/** Where a `read` decision keeps what the checks before the body found. */
const FOUND: unique symbol = Symbol('idem.found');

/** The key is in the body, which is still to be read. */
const KEY_IN_BODY: unique symbol = Symbol('idem.keyInBody');

declare const OPAQUE: unique symbol;

/**
 * A route's options, checked and merged over the mount's: see
 * {@link HttpIdempotency.route}. Opaque: an adapter keeps it and hands it
 * back to `handle`, `beforeBody` or `tooLarge`, and never reads it, so every
 * decision made from a route's options is core's.
 */
export interface HttpRoute<Ctx> {
  readonly [OPAQUE]: (ctx: Ctx) => void;
}

/** What an adapter's opaque route is inside core. */
const resolved = <Ctx>(route: HttpRoute<Ctx>): ResolvedRoute<Ctx> =>
  route as unknown as ResolvedRoute<Ctx>;
const opaque = <Ctx>(route: ResolvedRoute<Ctx>): HttpRoute<Ctx> =>
  route as unknown as HttpRoute<Ctx>;

/** The framework-neutral HTTP layer every adapter translates to. */
export interface HttpIdempotency<Ctx> {
  /**
   * Decide what to do with one request, under the mount's options or a
   * route's (see {@link HttpIdempotency.route}). Never throws for protocol
   * reasons: those become problem responses. The checks run in one order,
   * the same for every adapter: method, `skip`, key, key format, body limit,
   * fingerprint, claim (a key in the body comes after the body limit).
   *
   * @param before The `read` decision {@link HttpIdempotency.beforeBody}
   * gave for this request, when the adapter asked before the body was read:
   * `handle` goes on from there, without checking or calling anything twice.
   */
  handle(
    request: HttpRequest,
    ctx: Ctx,
    waitUntil?: (p: Promise<unknown>) => void,
    route?: HttpRoute<Ctx>,
    before?: HttpBodyRead,
  ): Promise<HttpDecision>;
  /**
   * The checks of {@link HttpIdempotency.handle} that come before the body
   * (method, `skip`, key, key format, the body's declared length), for an
   * adapter that must settle what happens to the body before its framework
   * reads it (Fastify's `preParsing`): pass the request through untouched,
   * answer it now, or read its body up to a limit and then call `handle`
   * with this decision. `skip` and a `key` function are called here, on the
   * request as it is before its body is read. The adapter carries the
   * decision out; it never decides the order itself.
   */
  beforeBody(
    request: HttpRequestHead,
    ctx: Ctx,
    route?: HttpRoute<Ctx>,
  ): HttpBodyDecision | Promise<HttpBodyDecision>;
  /**
   * Check a route's overrides once, when the route is declared, and merge
   * them over the mount's options. Throws `ConfigurationError` naming the fix.
   * @param where Names the route in errors, e.g. `'POST /webhooks/stripe'`.
   */
  route(overrides: RouteOptions<Ctx>, where?: string): HttpRoute<Ctx>;
  /** The mount's own options, resolved. */
  readonly base: HttpRoute<Ctx>;
  /** Largest response body idem buffers for storage, in bytes. */
  readonly maxResponseBytes: number;
  /**
   * The engine's lease, in milliseconds: how long a claimed key waits for an
   * owner that went quiet. A route's own `leaseMs` may differ per request:
   * the lease of one request is its execute decision's `leaseMs`.
   */
  readonly leaseMs: number;
  /** The `413` problem for a request body that outgrew `maxRequestBytes` as the adapter read it. */
  tooLarge(route?: HttpRoute<Ctx>): HttpResponse;
}

export { isFinalStatus } from './status.js';

const REPLAYED: readonly [string, string] = ['idempotent-replayed', 'true'];

/** Whether a value is a promise (or any thenable) to await, rather than the value itself. */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Whether the body's declared length (`Content-Length`) is over the route's limit. */
function declaredOver<Ctx>(request: HttpRequestHead, route: ResolvedRoute<Ctx>): boolean {
  return Number(request.header('content-length') ?? 0) > route.maxRequestBytes;
}

/** An answer given before the body is read. */
type Early = Exclude<HttpBodyDecision, HttpBodyRead>;

/** An answer that is also one of `handle`'s. */
type Answer = Extract<Early, { kind: 'pass' | 'respond' }>;

const PASS: Answer = Object.freeze({ kind: 'pass' });

/** What the checks before the body found: an answer, or the key (or that it is in the body). */
type Head = Early | string | typeof KEY_IN_BODY;

/** Names the mount in configuration errors. */
const MOUNT = 'idem: idempotency()';

/**
 * Build the HTTP layer from options. Adapters call this once per middleware
 * instance and {@link HttpIdempotency.handle} per request.
 */
export function createHttpIdempotency<Ctx>(
  options: HttpIdempotencyOptions<Ctx>,
): HttpIdempotency<Ctx> {
  // Names first: a misspelt one gets its own error, not whatever check the
  // option it was meant for fails without it.
  refuseUnknownNames(options, [...new Set([...ENGINE_OPTIONS, ...ROUTE_OPTIONS])], MOUNT);
  const { ttlMs, leaseMs } = options;
  // The engine's own defaults come from plain numbers; functions of the
  // request are the route's business.
  const engine = createEngine(
    {
      ...pick(options, ENGINE_OPTIONS),
      ttlMs: typeof ttlMs === 'number' ? ttlMs : undefined,
      leaseMs: typeof leaseMs === 'number' ? leaseMs : undefined,
    } as IdempotencyOptions,
    MOUNT,
  );
  const base = resolveRoute<Ctx>(
    {
      ...options,
      // Plain numbers are the engine's defaults already.
      ...(typeof ttlMs === 'number' ? { ttlMs: undefined } : {}),
      ...(typeof leaseMs === 'number' ? { leaseMs: undefined } : {}),
    },
    undefined,
    MOUNT,
  );
  const { logger, hooks } = engine.options;
  // Hook events carry the request; built only when someone listens.
  const observed = Object.values(hooks).some((hook) => typeof hook === 'function');
  let warnedShared = false;

  const defaultScope = (request: HttpRequest): string => {
    const authorization = request.header('authorization');
    if (authorization) return `authorization:${authorization}`;
    if (!warnedShared && logger !== false) {
      warnedShared = true;
      logger.warn(
        [
          '',
          '*** idem WARNING: all clients share one idempotency key space ***',
          'A request without an Authorization header arrived and no `scope` option is set,',
          'so every anonymous client uses the same keys: one client that learns or guesses',
          "another's key can replay that client's response. Pass a scope, for example",
          '  idempotency({ store, scope: (c) => c.get("tenantId") })',
          '',
        ].join('\n'),
      );
    }
    return '';
  };

  const respond = (response: HttpResponse): Answer => ({
    kind: 'respond',
    replayed: false,
    response,
  });
  const refuse = (response: HttpResponse): Early => ({ kind: 'refuse', response });

  function problems(route: ResolvedRoute<Ctx>) {
    const describedBy: Array<[string, string]> = route.documentationUrl
      ? [['link', `<${route.documentationUrl}>; rel="describedby"`]]
      : [];
    const problem = (
      kind: ProblemKind,
      status: number,
      detail: string,
      headers: Array<[string, string]> = [],
    ) => problemResponse(kind, status, detail, { typeBase: route.problemTypeBase, headers });
    return {
      keyMissing: () =>
        problem(
          'key-missing',
          400,
          `This request needs an idempotency key in ${route.keyPlace}: send a unique value (for example a UUID) and reuse it on every retry of the same request.`,
          describedBy,
        ),
      keyInvalid: (reason: string) =>
        problem(
          'key-invalid',
          400,
          `Invalid idempotency key in ${route.keyPlace}: ${reason}. Send 1 to 255 printable ASCII characters${route.keyHeader ? ', one header line, bare (abc) or quoted ("abc")' : ''}.`,
          describedBy,
        ),
      tooLarge: () =>
        problem(
          'request-too-large',
          413,
          `The request body is over ${route.maxRequestBytes} bytes, the most this endpoint reads for an idempotent request. Send a smaller body.`,
        ),
      fromError(error: IdempotencyError): HttpResponse {
        switch (error.code) {
          case 'FINGERPRINT_MISMATCH':
            return problem(
              'fingerprint-mismatch',
              route.mismatchStatus,
              error.message,
              describedBy,
            );
          case 'REQUEST_IN_FLIGHT':
            return problem('request-in-flight', 409, error.message, [
              ['retry-after', String((error as RequestInFlightError).retryAfterSeconds)],
            ]);
          case 'RESPONSE_NOT_STORED':
            return problem('response-not-stored', 410, error.message);
          case 'STORE_UNAVAILABLE':
            return problem(
              'store-unavailable',
              503,
              (error as { operation?: string }).operation === 'complete'
                ? error.message
                : 'The idempotency store is unavailable, so the request was not processed. Retry later with the same key.',
              [['retry-after', String((error as StoreUnavailableError).retryAfterSeconds ?? 1)]],
            );
          case 'ROLLED_BACK':
            return problem('rolled-back', 503, error.message, [['retry-after', '1']]);
          default:
            throw error;
        }
      },
    };
  }
  const baseProblems = problems(base);

  function executeDecision(
    execution: Execution,
    route: ResolvedRoute<Ctx>,
    answer: ReturnType<typeof problems>,
    leaseMs: number,
  ): HttpExecution {
    return {
      kind: 'execute',
      claim: execution.claim,
      leaseMs,
      async complete(response) {
        if (!route.shouldStore(response.status)) {
          if (response.status < 400 && isTransactional(execution.claim)) {
            // Releasing the key rolls the handler's writes back with it: an
            // answer that says they happened must not reach the client. It
            // gets what a failed commit gets; the retry runs again.
            await execution.release('rolled_back');
            return answer.fromError(new RolledBackError(undefined));
          }
          await execution.release('not_kept', response.status);
          return undefined;
        }
        const stored =
          response.body === null
            ? notStoredMarker(response.status, -1)
            : {
                status: response.status,
                headers: storableHeaders(
                  response.headers,
                  route.replaySetCookie,
                  route.replayHeaders,
                ),
                body: response.body,
              };
        try {
          await execution.complete(stored);
          return undefined;
        } catch (error) {
          if (isIdempotencyError(error)) return answer.fromError(error);
          throw error;
        }
      },
      release() {
        return execution.release('failed');
      },
    };
  }

  /** The key as the route reads it, checked for presence and format: the key, or the answer. */
  function keyChecked(
    parsed: ParsedKey,
    route: ResolvedRoute<Ctx>,
    answer: ReturnType<typeof problems>,
  ): Answer | string {
    if (!parsed.ok) {
      if (parsed.missing) return route.required ? respond(answer.keyMissing()) : PASS;
      return respond(answer.keyInvalid(parsed.reason));
    }
    const badFormat = route.keyFormat?.(parsed.key);
    return badFormat ? respond(answer.keyInvalid(badFormat)) : parsed.key;
  }

  /**
   * The checks before the body, in their one order: method, skip, key, key
   * format, the body's declared length. A key in the body needs the body,
   * so there the declared length comes first and the key after the body.
   */
  function head(
    request: HttpRequestHead,
    ctx: Ctx,
    route: ResolvedRoute<Ctx>,
    answer: ReturnType<typeof problems>,
  ): Head | Promise<Head> {
    if (!route.methods.has(request.method.toUpperCase())) return PASS;
    if (route.skip?.(ctx)) return PASS;
    if (route.keyInBody) {
      return declaredOver(request, route) ? refuse(answer.tooLarge()) : KEY_IN_BODY;
    }
    const parsed = route.key(ctx, request);
    return isThenable(parsed)
      ? parsed.then((p) => keyThenLength(p, request, route, answer))
      : keyThenLength(parsed, request, route, answer);
  }

  function keyThenLength(
    parsed: ParsedKey,
    request: HttpRequestHead,
    route: ResolvedRoute<Ctx>,
    answer: ReturnType<typeof problems>,
  ): Head {
    const key = keyChecked(parsed, route, answer);
    return typeof key === 'string' && declaredOver(request, route)
      ? refuse(answer.tooLarge())
      : key;
  }

  function bodyDecision(found: Head, route: ResolvedRoute<Ctx>): HttpBodyDecision {
    return typeof found === 'object'
      ? found
      : { kind: 'read', limit: route.maxRequestBytes, [FOUND]: found };
  }

  async function handle(
    request: HttpRequest,
    ctx: Ctx,
    waitUntil?: (p: Promise<unknown>) => void,
    route: ResolvedRoute<Ctx> = base,
    before?: HttpBodyRead,
  ): Promise<HttpDecision> {
    const answer = route === base ? baseProblems : problems(route);
    let key: string | typeof KEY_IN_BODY;
    if (before) key = before[FOUND];
    else {
      let found = head(request, ctx, route, answer);
      if (isThenable(found)) found = await found;
      if (typeof found === 'object') {
        // Where handle() is asked, the body is not read yet: a refusal is an answer like any other.
        return found.kind === 'refuse' ? respond(found.response) : found;
      }
      key = found;
    }
    let body: Uint8Array | undefined;
    if (key === KEY_IN_BODY) {
      const reading = request.body(route.maxRequestBytes);
      body = isThenable(reading) ? await reading : reading;
      if (body === undefined) return respond(answer.tooLarge());
      let parsed = route.key(ctx, {
        header: request.header,
        ...(request.keyLines ? { keyLines: request.keyLines } : {}),
        body,
      });
      if (isThenable(parsed)) parsed = await parsed;
      const checked = keyChecked(parsed, route, answer);
      if (typeof checked === 'object') return checked;
      key = checked;
    }
    let scope = route.scope ? route.scope(ctx) : defaultScope(request);
    if (body === undefined) {
      // The scope (often a plain string) and the body are awaited together.
      const reading = request.body(route.maxRequestBytes);
      if (isThenable(scope)) [scope, body] = await Promise.all([scope, reading]);
      else body = isThenable(reading) ? await reading : reading;
      if (body === undefined) return respond(answer.tooLarge());
    }
    if (isThenable(scope)) scope = await scope;
    if (typeof scope !== 'string') {
      throw new ConfigurationError(
        `idem: the scope option must return a string, got ${typeof scope}.`,
      );
    }
    let fingerprint = route.fingerprint(ctx, {
      method: request.method,
      path: request.path,
      query: request.query,
      body,
      contentType: request.header('content-type'),
      header: request.header,
    });
    if (isThenable(fingerprint)) fingerprint = await fingerprint;
    const leaseMs = route.leaseMs?.(ctx);
    let decision: Decision;
    try {
      decision = await engine.begin({
        scope,
        key,
        fingerprint,
        ...(waitUntil ? { waitUntil } : {}),
        ...(route.ttlMs ? { ttlMs: route.ttlMs(ctx) } : {}),
        // Once a route's function decides it, even `undefined` is checked.
        ...(route.leaseMs ? { leaseMs } : {}),
        ...(request.leaseUntil !== undefined && { leaseUntil: request.leaseUntil }),
        ...(observed && {
          request: { method: request.method, path: request.path, route: request.route?.() },
        }),
      });
    } catch (error) {
      if (isIdempotencyError(error)) return respond(answer.fromError(error));
      throw error;
    }
    if (decision.kind === 'execute') {
      return executeDecision(decision, route, answer, leaseMs ?? engine.options.leaseMs);
    }
    const stored = decision.response;
    return {
      kind: 'respond',
      replayed: true,
      response: {
        status: stored.status,
        headers: [...stored.headers, REPLAYED],
        body: stored.body,
      },
    };
  }

  return {
    handle: (request, ctx, waitUntil, route, before) =>
      handle(request, ctx, waitUntil, route && resolved(route), before),
    beforeBody(request, ctx, opened) {
      const route = opened ? resolved(opened) : base;
      const found = head(request, ctx, route, route === base ? baseProblems : problems(route));
      return isThenable(found)
        ? found.then((f) => bodyDecision(f, route))
        : bodyDecision(found, route);
    },
    route(overrides, where) {
      const named = `idem: ${where ?? 'idempotency.route()'}`;
      const route = resolveRoute(overrides, base, named);
      // Plain numbers meet at declaration, not as a 500 on every request.
      const ttl = overrides.ttlMs ?? (base.ttlMs ? undefined : engine.options.ttlMs);
      const lease = overrides.leaseMs ?? (base.leaseMs ? undefined : engine.options.leaseMs);
      if (typeof ttl === 'number' && typeof lease === 'number') {
        checkLeaseWithinTtl(named, lease, ttl);
      }
      return opaque(route);
    },
    base: opaque(base),
    maxResponseBytes: engine.options.maxResponseBytes,
    leaseMs: engine.options.leaseMs,
    tooLarge(opened) {
      const route = opened ? resolved(opened) : base;
      return (route === base ? baseProblems : problems(route)).tooLarge();
    },
  };
}
