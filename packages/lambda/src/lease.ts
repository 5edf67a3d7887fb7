/** What idem reads of a Lambda invocation's context: its time left. */
export interface InvocationClock {
  /** Milliseconds until Lambda stops the invocation (`context.getRemainingTimeInMillis()`). */
  getRemainingTimeInMillis(): number;
}

/**
 * How long after the invocation's deadline its lease may still hold, in
 * milliseconds: covers the clock skew between the function and the store,
 * and the completion's round trip sent just before the deadline.
 */
export const DEFAULT_LEASE_MARGIN_MS = 1_000;

/**
 * The `leaseUntil` of a run inside this invocation: its deadline plus
 * `marginMs`. Lambda stops a timed-out invocation at its deadline (the
 * process may be frozen or killed), so a lease renewed past it would only
 * keep the next delivery waiting: with this cap, a redelivered event takes
 * the key over `marginMs` after the cut-off, not a lease later. `undefined`
 * when `context` is not a Lambda context (a test calling the function
 * directly): then the lease is renewed as anywhere else.
 */
export function invocationLeaseUntil(
  context: unknown,
  marginMs: number = DEFAULT_LEASE_MARGIN_MS,
): number | undefined {
  const clock = context as Partial<InvocationClock> | null | undefined;
  if (typeof clock?.getRemainingTimeInMillis !== 'function') return undefined;
  const remaining = clock.getRemainingTimeInMillis();
  return Number.isFinite(remaining) ? Date.now() + Math.max(0, remaining) + marginMs : undefined;
}
