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
