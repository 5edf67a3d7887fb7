/** Fields every hook event carries. */
export interface HookEvent {
  /** The store key: a SHA-256 of scope and idempotency key, never the raw key. */
  readonly storeKey: string;
}

/**
 * Observability callbacks. Each is optional, called synchronously, and may not
 * break a request: whatever a hook throws is swallowed.
 */
export interface IdempotencyHooks {
  /**
   * The operation ran and was committed. `stored: true` when its result is
   * kept for replay; `false` when it was released (`shouldStore`, a 5xx), too
   * large to keep ("ran, not stored"), or lost to a newer owner (see `leaseLost`).
   * Not called when the operation threw (see `released`).
   */
  executed?(event: HookEvent & { readonly durationMs: number; readonly stored: boolean }): void;
  /** A duplicate got the stored result (`stored: false`: the result was too large and is not replayed). */
  replayed?(event: HookEvent & { readonly stored: boolean }): void;
  /** A duplicate arrived while the first execution was still running. */
  conflict?(event: HookEvent): void;
  /** A key was reused for a different request. */
  mismatch?(event: HookEvent): void;
  /** A key was released: the operation failed, or its answer is not kept (a transient status, `shouldStore`). */
  released?(event: HookEvent & { readonly reason: 'failed' | 'not_kept' }): void;
  /**
   * The store failed, or did not answer within `storeTimeoutMs`, during
   * `operation`. Handling this hook replaces idem's default logging of store errors.
   */
  storeError?(
    event: HookEvent & {
      readonly operation: 'claim' | 'complete' | 'release' | 'renew' | 'read';
      readonly error: unknown;
    },
  ): void;
  /** The owner's token went stale (its lease ran out and was taken over). */
  leaseLost?(event: HookEvent): void;
  /** A result could not be stored before the lease ran out: a retry may run the operation again. */
  completionFailed?(event: HookEvent): void;
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
