import {
  createEngine,
  type Execution,
  type ExecutionContext,
  type IdempotencyOptions,
  notStoredMarker,
} from '../engine.js';
import {
  ConfigurationError,
  IdempotencyError,
  type RequestInFlightError,
  RolledBackError,
} from '../errors.js';
import { fingerprintRequest } from '../fingerprint.js';
import { parseIdempotencyKey } from '../key.js';
import type { StoredResponse } from '../store.js';
import { storableHeaders } from './headers.js';
import { DEFAULT_PROBLEM_TYPE_BASE, type ProblemKind, problemResponse } from './problem.js';

/** A response as adapters hand it to idem and receive it back: status, header lines, body bytes. */
export type HttpResponse = StoredResponse;

/** A handler's response as an adapter captured it; `body: null` when not buffered (too large). */
export interface CompletedResponse {
  readonly status: number;
  readonly headers: Iterable<readonly [string, string]>;
  readonly body: Uint8Array | null;
}

/** The parts of a request idem looks at, as an adapter exposes them. */
export interface HttpRequest {
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
  /** The raw request body bytes, read only for covered requests that carry a valid key. */
  body(): Promise<Uint8Array>;
}

/** Options shared by every HTTP adapter; `Ctx` is the framework's request or context. */
export interface HttpIdempotencyOptions<Ctx> extends IdempotencyOptions {
  /**
   * Who a key belongs to: keys never cross scopes, so one client can never
   * replay (or block, or probe) another's request. Return a tenant or user id.
   *
   * @default The request's `Authorization` header (hashed into the store key,
   * never stored in clear). Requests without one share a single anonymous key
   * space, and idem warns once, loudly, when that happens. Pass a stable
   * principal id instead when access tokens rotate faster than clients retry.
   */
  readonly scope?: (ctx: Ctx) => string | Promise<string>;
  /**
   * Methods idem covers; others pass through untouched.
   * @default ['POST', 'PATCH']
   */
  readonly methods?: readonly string[];
  /**
   * Whether covered requests must carry a key (400 otherwise). When `false`,
   * requests without a key pass through unprotected.
   * @default true
   */
  readonly required?: boolean;
  /**
   * Status for a key reused with a different request (use 400 for Stripe parity).
   * @default 422
   */
  readonly mismatchStatus?: number;
  /**
   * Store and replay 5xx responses too (Stripe parity). By default a 5xx (or a
   * thrown error) releases the key so an immediate retry runs again.
   * @default false
   */
  readonly storeServerErrors?: boolean;
  /**
   * Store and replay `Set-Cookie` headers. Off by default so a replay never
   * hands out a session cookie minted for the first attempt.
   * @default false
   */
  readonly replaySetCookie?: boolean;
  /**
   * Prefix of problem `type` URIs.
   * @default 'urn:idem:problem:'
   */
  readonly problemTypeBase?: string;
  /**
   * Where idem's one-time configuration warnings go.
   * @default console
   */
  readonly logger?: { warn(message: string): void };
}

/** What an adapter must do with a request. */
export type HttpDecision =
  /** Not covered (method or no key when optional): run the handler as if idem were not there. */
  | { readonly action: 'pass' }
  /** Send this response (a replay or a problem); do not run the handler. */
  | { readonly action: 'respond'; readonly response: HttpResponse; readonly replayed: boolean }
  /**
   * Run the handler once. Then hand its response to `complete` and send it
   * unchanged, or call `fail` if it threw.
   */
  | {
      readonly action: 'execute';
      /**
       * The claim the handler runs under. Adapters expose it to handlers
       * (Hono `c.get('idempotency')`, Express `req.idempotency`, Fastify
       * `request.idempotency`) so transactional stores can bind the handler's
       * database transaction to it.
       */
      readonly context: ExecutionContext;
      /**
       * Store (2xx, 4xx) or release (5xx) per the options. Resolves once the
       * store answered. Pass `body: null` when the body was too large (or an
       * endless stream) to buffer: idem then records that the request ran
       * without keeping its response, so it is neither replayed truncated
       * nor run again.
       *
       * Resolves to `undefined` when the handler's response goes out as it is,
       * or to a response to send instead: a `503` problem when a transactional
       * store rolled the handler's writes back with the record, so the client
       * is never told of an effect that did not happen.
       */
      complete(response: CompletedResponse): Promise<HttpResponse | undefined>;
      /** The handler threw or the client went away: release the key. */
      fail(): Promise<void>;
    };

/** The framework-neutral HTTP layer every adapter translates to. */
export interface HttpIdempotency<Ctx> {
  /** Decide what to do with one request. Never throws for protocol reasons: those become problem responses. */
  handle(
    request: HttpRequest,
    ctx: Ctx,
    waitUntil?: (p: Promise<unknown>) => void,
  ): Promise<HttpDecision>;
  /** Largest response body idem buffers for storage, in bytes. */
  readonly maxResponseBytes: number;
  /**
   * Whether requests with this method are covered (`methods` option), so an
   * adapter can skip per-request work, such as copying the body, for the rest.
   */
  covers(method: string): boolean;
}

const REPLAYED: readonly [string, string] = ['idempotent-replayed', 'true'];
const PASS: HttpDecision = Object.freeze({ action: 'pass' });

/**
 * Build the HTTP layer from options. Adapters call this once per middleware
 * instance and {@link HttpIdempotency.handle} per request.
 */
export function createHttpIdempotency<Ctx>(
  options: HttpIdempotencyOptions<Ctx>,
): HttpIdempotency<Ctx> {
  const engine = createEngine(options);
  const methods = new Set((options.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase()));
  const required = options.required ?? true;
  const mismatchStatus = options.mismatchStatus ?? 422;
  if (!Number.isInteger(mismatchStatus) || mismatchStatus < 400 || mismatchStatus > 499) {
    throw new ConfigurationError(
      `idem: mismatchStatus must be a 4xx status, got ${mismatchStatus}.`,
    );
  }
  const storeServerErrors = options.storeServerErrors ?? false;
  const keepSetCookie = options.replaySetCookie ?? false;
  const typeBase = options.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE;
  const logger = options.logger ?? console;
  const scopeOf = options.scope;
  let warnedShared = false;

  const defaultScope = (request: HttpRequest): string => {
    const authorization = request.header('authorization');
    if (authorization) return `authorization:${authorization}`;
    if (!warnedShared) {
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

  const problem = (
    kind: ProblemKind,
    status: number,
    detail: string,
    headers?: Array<[string, string]>,
  ) =>
    ({
      action: 'respond',
      replayed: false,
      response: problemResponse(kind, status, detail, {
        typeBase,
        ...(headers ? { headers } : {}),
      }),
    }) as const;

  function fromError(error: IdempotencyError): HttpDecision {
    switch (error.code) {
      case 'FINGERPRINT_MISMATCH':
        return problem('fingerprint-mismatch', mismatchStatus, error.message);
      case 'REQUEST_IN_FLIGHT':
        return problem('request-in-flight', 409, error.message, [
          ['retry-after', String((error as RequestInFlightError).retryAfterSeconds)],
        ]);
      case 'RESULT_NOT_STORED':
        return problem('response-not-stored', 410, error.message);
      case 'STORE_UNAVAILABLE':
        return problem(
          'store-unavailable',
          503,
          'The idempotency store is unavailable, so the request was not processed. Retry later with the same key.',
          [['retry-after', '1']],
        );
      default:
        throw error;
    }
  }

  function executeDecision(execution: Execution): HttpDecision {
    return {
      action: 'execute',
      context: execution.context,
      async complete(response) {
        const keep = response.status < 500 || storeServerErrors;
        const stored =
          response.body === null
            ? notStoredMarker(response.status, -1)
            : {
                status: response.status,
                headers: storableHeaders(response.headers, keepSetCookie),
                body: response.body,
              };
        try {
          await execution.commit(stored, keep);
          return undefined;
        } catch (error) {
          if (!(error instanceof RolledBackError)) throw error;
          return problemResponse('rolled-back', 503, error.message, {
            typeBase,
            headers: [['retry-after', '1']],
          });
        }
      },
      fail() {
        return execution.abandon();
      },
    };
  }

  async function handle(
    request: HttpRequest,
    ctx: Ctx,
    waitUntil?: (p: Promise<unknown>) => void,
  ): Promise<HttpDecision> {
    if (!methods.has(request.method.toUpperCase())) return PASS;
    const parsed = parseIdempotencyKey(request.keyLines ?? request.header('idempotency-key'));
    if (!parsed.ok) {
      if (parsed.missing) {
        return required
          ? problem(
              'key-missing',
              400,
              'This request needs an Idempotency-Key header: send a unique value (for example a UUID) and reuse it on every retry of the same request.',
            )
          : PASS;
      }
      return problem(
        'key-invalid',
        400,
        `Invalid Idempotency-Key: ${parsed.reason}. Send one header line holding 1 to 255 printable ASCII characters, bare (abc) or quoted ("abc").`,
      );
    }
    const [scope, body] = await Promise.all([
      scopeOf ? scopeOf(ctx) : defaultScope(request),
      request.body(),
    ]);
    if (typeof scope !== 'string') {
      throw new ConfigurationError(
        `idem: the scope option must return a string, got ${typeof scope}.`,
      );
    }
    const contentType = request.header('content-type');
    const fingerprint = await fingerprintRequest({
      method: request.method,
      path: request.path,
      query: request.query,
      body,
      contentType,
    });
    try {
      const decision = await engine.begin({
        scope,
        key: parsed.key,
        fingerprint,
        ...(waitUntil ? { waitUntil } : {}),
      });
      if (decision.kind === 'execute') return executeDecision(decision);
      const stored = decision.response;
      return {
        action: 'respond',
        replayed: true,
        response: {
          status: stored.status,
          headers: [...stored.headers, REPLAYED],
          body: stored.body,
        },
      };
    } catch (error) {
      if (error instanceof IdempotencyError) return fromError(error);
      throw error;
    }
  }

  return {
    handle,
    maxResponseBytes: engine.options.maxResponseBytes,
    covers: (method) => methods.has(method.toUpperCase()),
  };
}
