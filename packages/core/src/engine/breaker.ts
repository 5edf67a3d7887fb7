/**
 * The store's circuit breaker, as a state machine on an explicit clock (so
 * it can be tested on any sequence of answers). Closed, every claim goes to
 * the store. After `failures` claims in a row failed or timed out it
 * opens: claims are refused at once, without a store call, except one probe
 * at a time, let through every `probeEveryMs`. The first store call that
 * answers (the probe, or any other) closes it.
 */

/** What the breaker says of a claim about to be sent. */
export type Admission = 'pass' | 'probe' | 'refuse';

/** The breaker's state, for tests and the hooks. */
export interface BreakerState {
  /** Whether claims are refused (but for the probes). */
  readonly open: boolean;
  /** Claims that failed in a row (reset by any answer). */
  readonly failures: number;
  /** Whether a probe is in flight. */
  readonly probing: boolean;
  /** When the next probe may go (epoch ms); meaningful while open. */
  readonly nextProbeAt: number;
  /** When it opened (epoch ms); meaningful while open. */
  readonly openedAt: number;
}

/** What the breaker did on an outcome: it `opened`, `closed`, or nothing changed. */
export type Transition = 'opened' | 'closed' | undefined;

/** The breaker's limits (the engine's `breaker` option, resolved). */
export interface BreakerLimits {
  readonly failures: number;
  readonly probeEveryMs: number;
  /**
   * A probe whose outcome was not reported within this long is taken as
   * lost, and the next one may go: a breaker must never stay open for want
   * of one answer. The store time limit plus the interval is ample.
   */
  readonly probeLostAfterMs: number;
}

/** The breaker of one engine's store; see the module's comment. */
export interface Breaker {
  readonly limits: BreakerLimits;
  readonly state: BreakerState;
  /**
   * Whether a claim may go to the store now. `'probe'` lets it through as
   * the one probe: its outcome must be reported with `probed`.
   */
  admit(now: number): Admission;
  /** Seconds until the next probe may go, whole and at least 1 (a `Retry-After`). */
  retryAfterSeconds(now: number): number;
  /** A store call answered (the store is back, whatever it said). */
  answered(): Transition;
  /** A claim failed or timed out at `now`. */
  failed(now: number): Transition;
  /**
   * The probe's own outcome, reported after `answered` or `failed`: a probe
   * that failed sets the next one `probeEveryMs` later, so a store that hangs
   * is asked once per time limit plus interval, never by every request.
   */
  probed(ok: boolean, now: number): void;
}

// Closures, not a class with #private fields: minifiers keep private names
// whole, and this ships in every Worker bundle.
/** A closed breaker with `limits`. */
export function breaker(limits: BreakerLimits): Breaker {
  let open = false;
  let failures = 0;
  let probing = false;
  let probeSentAt = 0;
  let nextProbeAt = 0;
  let openedAt = 0;
  return {
    limits,
    get state() {
      return { open, failures, probing, nextProbeAt, openedAt };
    },
    admit(now) {
      if (!open) return 'pass';
      if (now < nextProbeAt) return 'refuse';
      if (probing && now - probeSentAt < limits.probeLostAfterMs) return 'refuse';
      probing = true;
      probeSentAt = now;
      return 'probe';
    },
    retryAfterSeconds: (now) => Math.max(1, Math.ceil((nextProbeAt - now) / 1000)),
    answered() {
      failures = 0;
      if (!open) return undefined;
      open = probing = false;
      return 'closed';
    },
    failed(now) {
      failures++;
      if (open || failures < limits.failures) return undefined;
      open = true;
      openedAt = now;
      nextProbeAt = now + limits.probeEveryMs;
      return 'opened';
    },
    probed(ok, now) {
      probing = false;
      if (!ok && open) nextProbeAt = now + limits.probeEveryMs;
    },
  };
}
