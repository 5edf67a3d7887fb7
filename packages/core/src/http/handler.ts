import type { ExecutionContext } from '../engine/context.js';
import { createEngine, type Decision } from '../engine/engine.js';
import type { Execution } from '../engine/execution.js';
import { notStoredMarker } from '../engine/not-stored.js';
import {
  ENGINE_OPTIONS,
  type IdempotencyOptions,
  refuseUnknownOptions,
} from '../engine/options.js';
import { ConfigurationError, type IdempotencyError, isIdempotencyError } from '../errors.js';
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
  /**
   * The raw request body bytes, read only for covered requests that carry a
   * valid key. Read at most `limit` bytes: resolve to `undefined`, without
   * reading further, as soon as the body is longer.
   */
  body(limit: number): Promise<Uint8Array | undefined>;
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
   * Which of the handler's answers are stored and replayed; for the others
   * the key is released, so the client's retry runs the handler again. A
   * thrown handler always releases the key.
   * @default isFinalStatus: everything except 5xx, 408, 425 and 429 (answers a retry may change)
   */
  readonly shouldStore?: (status: number) => boolean;
  /**
   * Largest request body idem reads to fingerprint, in bytes. A longer body
   * (by its `Content-Length`, or as it arrives) answers `413` before more than
   * this is read; nothing is stored. Requests idem does not cover are not read.
   * @default 1_048_576 (1 MiB)
   */
  readonly maxRequestBytes?: number;
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
}

/** What an adapter must do with a request. */
export type HttpDecision =
  /** Not covered (method or no key when optional): run the handler as if idem were not there. */
  | { readonly action: 'pass' }
  /** Send this response (a replay or a problem); do not run the handler. */
  | { readonly action: 'respond'; readonly response: HttpResponse; readonly replayed: boolean }
  /**
   * Run the handler once. Then hand its response to `complete` and send it
   * unchanged, or call `release` if it threw.
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
       * may not have happened.
       */
      complete(response: CompletedResponse): Promise<HttpResponse | undefined>;
      /** The handler threw: release the key so the client's retry runs it again. */
      release(): Promise<void>;
    };

/** The `execute` decision of {@link HttpDecision}. */
export type HttpExecution = Extract<HttpDecision, { readonly action: 'execute' }>;

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
  /** Largest request body idem reads, in bytes. */
  readonly maxRequestBytes: number;
  /** The lease, in milliseconds: how long a claimed key waits for an owner that went quiet. */
  readonly leaseMs: number;
  /**
   * Whether requests with this method are covered (`methods` option), so an
   * adapter can skip per-request work, such as copying the body, for the rest.
   */
  covers(method: string): boolean;
  /** The `413` problem for a request body over `maxRequestBytes`, for adapters that meet it first. */
  tooLarge(): HttpResponse;
}

/** Statuses a retry may change: server errors, 408, 425 and 429. */
const TRANSIENT = new Set([408, 425, 429]);

/**
 * The default of `shouldStore`: whether a status is a final answer, kept and
 * replayed. Server errors (5xx), 408 (timeout), 425 (too early) and 429 (too
 * many requests) are transient: the key is released so a retry runs again.
 * Compose your own policy with it, e.g. Stripe's, which keeps 5xx too:
 * `shouldStore: (status) => status >= 500 || isFinalStatus(status)`.
 */
export function isFinalStatus(status: number): boolean {
  return status < 500 && !TRANSIENT.has(status);
}

/** HTTP option names, beside the engine's. */
const HTTP_OPTIONS = [
  'scope',
  'methods',
  'required',
  'mismatchStatus',
  'shouldStore',
  'maxRequestBytes',
  'replaySetCookie',
  'problemTypeBase',
];

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
  refuseUnknownOptions(options, [...ENGINE_OPTIONS, ...HTTP_OPTIONS], 'idem: idempotency()');
  const methods = new Set((options.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase()));
  const required = options.required ?? true;
  const mismatchStatus = options.mismatchStatus ?? 422;
  if (!Number.isInteger(mismatchStatus) || mismatchStatus < 400 || mismatchStatus > 499) {
    throw new ConfigurationError(
      `idem: mismatchStatus must be a 4xx status, got ${mismatchStatus}.`,
    );
  }
  const shouldStore = options.shouldStore ?? isFinalStatus;
  if (typeof shouldStore !== 'function') {
    throw new ConfigurationError(
      'idem: shouldStore must be a function of the status, such as (status) => status < 500.',
    );
  }
  const maxRequestBytes = options.maxRequestBytes ?? 1024 * 1024;
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < 0) {
    throw new ConfigurationError(
      `idem: maxRequestBytes must be a whole number of bytes, zero or more, got ${String(maxRequestBytes)}.`,
    );
  }
  const scopeOf = options.scope;
  if (scopeOf !== undefined && typeof scopeOf !== 'function') {
    throw new ConfigurationError(
      `idem: scope must be a function of the request that returns the tenant or user id, such as scope: (c) => c.get('accountId'); got ${typeof scopeOf}.`,
    );
  }
  const keepSetCookie = options.replaySetCookie ?? false;
  const typeBase = options.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE;
  const { logger } = engine.options;
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

  const problemOf = (
    kind: ProblemKind,
    status: number,
    detail: string,
    headers?: Array<[string, string]>,
  ) => problemResponse(kind, status, detail, { typeBase, ...(headers ? { headers } : {}) });

  const problem = (...args: Parameters<typeof problemOf>): HttpDecision => ({
    action: 'respond',
    replayed: false,
    response: problemOf(...args),
  });

  const tooLarge = () =>
    problemOf(
      'request-too-large',
      413,
      `The request body is over ${maxRequestBytes} bytes, the most this endpoint reads for an idempotent request. Send a smaller body.`,
    );

  function fromError(error: IdempotencyError): HttpResponse {
    switch (error.code) {
      case 'FINGERPRINT_MISMATCH':
        return problemOf('fingerprint-mismatch', mismatchStatus, error.message);
      case 'REQUEST_IN_FLIGHT':
        return problemOf('request-in-flight', 409, error.message, [
          ['retry-after', String((error as { retryAfterSeconds?: number }).retryAfterSeconds)],
        ]);
      case 'RESULT_NOT_STORED':
        return problemOf('response-not-stored', 410, error.message);
      case 'STORE_UNAVAILABLE':
        return problemOf(
          'store-unavailable',
          503,
          (error as { operation?: string }).operation === 'complete'
            ? error.message
            : 'The idempotency store is unavailable, so the request was not processed. Retry later with the same key.',
          [['retry-after', '1']],
        );
      case 'ROLLED_BACK':
        return problemOf('rolled-back', 503, error.message, [['retry-after', '1']]);
      default:
        throw error;
    }
  }

  function executeDecision(execution: Execution): HttpExecution {
    return {
      action: 'execute',
      context: execution.context,
      async complete(response) {
        if (!shouldStore(response.status)) {
          await execution.release('not_kept');
          return undefined;
        }
        const stored =
          response.body === null
            ? notStoredMarker(response.status, -1)
            : {
                status: response.status,
                headers: storableHeaders(response.headers, keepSetCookie),
                body: response.body,
              };
        try {
          await execution.complete(stored);
          return undefined;
        } catch (error) {
          if (isIdempotencyError(error)) return fromError(error);
          throw error;
        }
      },
      release() {
        return execution.release('failed');
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
    const declared = Number(request.header('content-length') ?? 0);
    if (declared > maxRequestBytes)
      return { action: 'respond', replayed: false, response: tooLarge() };
    const [scope, body] = await Promise.all([
      scopeOf ? scopeOf(ctx) : defaultScope(request),
      request.body(maxRequestBytes),
    ]);
    if (body === undefined) return { action: 'respond', replayed: false, response: tooLarge() };
    if (typeof scope !== 'string') {
      throw new ConfigurationError(
        `idem: the scope option must return a string, got ${typeof scope}.`,
      );
    }
    const fingerprint = await fingerprintRequest({
      method: request.method,
      path: request.path,
      query: request.query,
      body,
      contentType: request.header('content-type'),
    });
    let decision: Decision;
    try {
      decision = await engine.begin({
        scope,
        key: parsed.key,
        fingerprint,
        ...(waitUntil ? { waitUntil } : {}),
      });
    } catch (error) {
      if (isIdempotencyError(error)) {
        return { action: 'respond', replayed: false, response: fromError(error) };
      }
      throw error;
    }
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
  }

  return {
    handle,
    maxResponseBytes: engine.options.maxResponseBytes,
    maxRequestBytes,
    leaseMs: engine.options.leaseMs,
    covers: (method) => methods.has(method.toUpperCase()),
    tooLarge,
  };
}
