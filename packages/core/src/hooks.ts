/**
 * What every hook event carries: which record (hashed, never the raw key or
 * scope) and, for HTTP, which request.
 */
export interface HookEvent {
  /**
   * Names one request, unique in this process (a counter): pairs a request's
   * `started` with its `finished` when duplicates of one key are in flight.
   */
  readonly id: number;
  /** The store key: a SHA-256 of scope and idempotency key, never the raw key. */
  readonly storeKey: string;
  /**
   * The SHA-256 of the scope's UTF-8 bytes, base64url, first 22 characters:
   * groups events by tenant without naming it. To find a tenant's, compute
   * the same (`echo -n tenant-42 | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | cut -c1-22`).
   */
  readonly scopeHash: string;
  /** The HTTP method, for requests through an adapter. */
  readonly method?: string;
  /** The request path (without the query), for requests through an adapter. */
  readonly path?: string;
  /**
   * The route pattern (`/payments/:id`), where the framework knows it before
   * the handler runs (Hono, Fastify); otherwise absent.
   */
  readonly route?: string;
}

/** The store operations hooks report on. */
export type StoreOperation = 'claim' | 'complete' | 'release' | 'renew' | 'read';

/**
 * How a request ended, as `finished` reports it:
 * - `executed`: the operation ran and its result is stored for replay;
 * - `executed_not_stored`: it ran, and its result is not replayed (too large,
 *   an endless stream, a status `shouldStore` does not keep, a lost lease);
 * - `replayed`: a stored result was returned, the operation did not run;
 * - `response_not_stored`: it ran before, its response was not stored (HTTP 410);
 * - `in_flight`: the same key is still in flight (HTTP 409);
 * - `mismatch`: the key was used for a different request (HTTP 422);
 * - `failed`: the operation threw; the key is released;
 * - `rolled_back`: a transactional store rolled the operation's writes back
 *   with the record (a failed commit, or an answer not kept); the key is released;
 * - `store_unavailable`: the store failed or did not answer in time (HTTP 503);
 *   or a transactional commit could not be confirmed.
 */
export type FinishedOutcome =
  | 'executed'
  | 'executed_not_stored'
  | 'replayed'
  | 'response_not_stored'
  | 'in_flight'
  | 'mismatch'
  | 'failed'
  | 'rolled_back'
  | 'store_unavailable';

/** Why a result was not stored: see {@link IdempotencyHooks.completionFailed}. */
export type CompletionFailure = 'store_failed' | 'lease_expired';

/**
 * Observability callbacks. Each is optional, called synchronously, and may not
 * break a request: whatever a hook throws is swallowed. Events are built only
 * when at least one hook is set.
 *
 * A request with a key produces `started`, then the events of what happened,
 * then `finished` once its outcome is known (for an execution, once its
 * result was stored or released; a completion retried in the background
 * finishes when it lands or gives up).
 */
export interface IdempotencyHooks {
  /** A request with a key arrived; its claim is next. */
  started?(event: HookEvent): void;
  /** The request's outcome is known. Exactly one per `started`. */
  finished?(
    event: HookEvent & {
      readonly outcome: FinishedOutcome;
      /** The status stored or replayed (the HTTP status; 200 for `run()`), when there is one. */
      readonly status?: number;
      /** From `started` to now, in milliseconds. */
      readonly durationMs: number;
    },
  ): void;
  /**
   * The operation ran and its result was handed to the store. `stored: true`
   * when it is kept for replay; `false` when it is too large to keep ("ran,
   * not stored"), or was lost to a newer owner (see `leaseLost`).
   */
  executed?(
    event: HookEvent & {
      readonly stored: boolean;
      /** The result's status (the HTTP status; 200 for `run()`). */
      readonly status: number;
      /** How long the claim took (all polls, under `concurrent: 'wait'`), in milliseconds. */
      readonly claimMs: number;
      /** How long the operation took, from its claim to its result, in milliseconds. */
      readonly durationMs: number;
      /** How long storing the result took, retries included, in milliseconds. */
      readonly completeMs: number;
      /** Completion attempts: 1, or more when the store failed and idem retried. */
      readonly attempts: number;
      /** Lease renewals while the operation ran. */
      readonly renewals: number;
    },
  ): void;
  /** A duplicate got the stored result (`stored: false`: the result was too large and is not replayed). */
  replayed?(
    event: HookEvent & {
      readonly stored: boolean;
      readonly status: number;
      readonly claimMs: number;
      /**
       * `true` when the result came from this process's replay cache (the
       * `cache` option), with no store call; `false` when the store returned it.
       */
      readonly cached: boolean;
    },
  ): void;
  /** A duplicate arrived while the first execution was still running. */
  inFlight?(event: HookEvent & { readonly claimMs: number }): void;
  /** A key was reused for a different request. */
  mismatch?(event: HookEvent & { readonly claimMs: number }): void;
  /**
   * A key was released: the operation `failed` (threw), its answer is
   * `not_kept` (a status `shouldStore` does not keep, `run()`'s `shouldStore`
   * said no), or a transactional store `rolled_back` its writes.
   */
  released?(
    event: HookEvent & {
      readonly reason: 'failed' | 'not_kept' | 'rolled_back';
      readonly claimMs: number;
      /** How long the operation took, in milliseconds. */
      readonly durationMs: number;
      readonly renewals: number;
    },
  ): void;
  /**
   * Every store call idem made, with its latency: for a histogram per
   * operation. `ok: false` when it failed or timed out (`storeError` says why).
   */
  storeCall?(
    event: HookEvent & {
      readonly operation: StoreOperation;
      readonly durationMs: number;
      readonly ok: boolean;
      /** What the store threw, or the time-out, when `ok` is false. */
      readonly error?: unknown;
    },
  ): void;
  /**
   * The store failed, or did not answer within `storeTimeoutMs`, during
   * `operation`. Handling this hook replaces idem's default logging of store errors.
   */
  storeError?(
    event: HookEvent & { readonly operation: StoreOperation; readonly error: unknown },
  ): void;
  /**
   * The owner's token went stale and another owner holds the key: its lease
   * ran out and a retry took the key over (it runs, or ran, the operation
   * too). A record that merely ran out, with nobody else on the key, is
   * `completionFailed` instead.
   */
  leaseLost?(event: HookEvent): void;
  /**
   * A result could not be stored, after `attempts` tries: a retry may run
   * the operation again. `reason`: `store_failed` when every attempt failed
   * or timed out until the lease ran out; `lease_expired` when the store
   * refused it because the lease had already run out (the operation outlived
   * its lease and renewals did not land), with nobody else on the key.
   */
  completionFailed?(
    event: HookEvent & {
      readonly attempts: number;
      readonly claimMs: number;
      readonly reason: CompletionFailure;
    },
  ): void;
  /**
   * The store's circuit breaker opened (the `breaker` option): `failures`
   * claims in a row failed or timed out, the last with `error`.
   * Protected requests now answer 503 at once, without a store call, until
   * a probe answers. Not a request's event: it has no `id` or `storeKey`.
   * Handling this hook (or `breakerClosed`) replaces idem's log line for it.
   */
  breakerOpened?(event: { readonly failures: number; readonly error: unknown }): void;
  /**
   * The store answered again and the breaker closed, `openMs` after it
   * opened; `refused` claims were answered 503 meanwhile without a store call.
   */
  breakerClosed?(event: { readonly openMs: number; readonly refused: number }): void;
}

/** Call a hook, swallowing what it throws. */
export function emit<K extends keyof IdempotencyHooks>(
  hooks: IdempotencyHooks,
  name: K,
  event: Parameters<NonNullable<IdempotencyHooks[K]>>[0],
): void {
  const hook = hooks[name] as ((e: typeof event) => void) | undefined;
  if (!hook) return;
  try {
    hook(event);
  } catch {
    // A broken hook must never break the request it observes.
  }
}

/**
 * One set of hooks that calls each of `all` in turn (`@idem/otel`'s and your
 * own, say). A hook that throws does not stop the others.
 */
export function combineHooks(...all: IdempotencyHooks[]): IdempotencyHooks {
  const combined: Record<string, (event: never) => void> = {};
  const names = new Set(all.flatMap((hooks) => Object.keys(hooks)));
  for (const name of names) {
    const list = all
      .map((hooks) => hooks[name as keyof IdempotencyHooks] as ((event: never) => void) | undefined)
      .filter((hook): hook is (event: never) => void => typeof hook === 'function');
    combined[name] = (event) => {
      for (const hook of list) {
        try {
          hook(event);
        } catch {
          // A broken hook must never break the request it observes, nor its siblings.
        }
      }
    };
  }
  return combined as IdempotencyHooks;
}
