/**
 * The store's circuit breaker, as a state machine on an explicit clock (so
 * it can be tested on any sequence of answers). Closed, every claim goes to
 * the store. After `failures` claims in a row failed or timed out it
 * opens: claims are refused at once, without a store call, except one probe
 * at a time, let through every `probeEveryMs`. The first store call that
 * answers (the probe, or any other) closes it again.
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
export class Breaker {
  readonly #limits: BreakerLimits;
  #open = false;
  #failures = 0;
  #probing = false;
  #probeSentAt = 0;
  #nextProbeAt = 0;
  #openedAt = 0;

  constructor(limits: BreakerLimits) {
    this.#limits = limits;
  }

  get limits(): BreakerLimits {
    return this.#limits;
  }

  get state(): BreakerState {
    return {
      open: this.#open,
      failures: this.#failures,
      probing: this.#probing,
      nextProbeAt: this.#nextProbeAt,
      openedAt: this.#openedAt,
    };
  }

  /**
   * Whether a claim may go to the store now. `'probe'` lets it through as
   * the one probe: its outcome must be reported with `probed`.
   */
  admit(now: number): Admission {
    if (!this.#open) return 'pass';
    if (now < this.#nextProbeAt) return 'refuse';
    if (this.#probing && now - this.#probeSentAt < this.#limits.probeLostAfterMs) return 'refuse';
    this.#probing = true;
    this.#probeSentAt = now;
    return 'probe';
  }

  /** Seconds until the next probe may go, whole and at least 1 (a `Retry-After`). */
  retryAfterSeconds(now: number): number {
    return Math.max(1, Math.ceil((this.#nextProbeAt - now) / 1000));
  }

  /** A store call answered (the store is back, whatever it said). */
  answered(): Transition {
    this.#failures = 0;
    if (!this.#open) return undefined;
    this.#open = false;
    this.#probing = false;
    return 'closed';
  }

  /** A claim failed or timed out at `now`. */
  failed(now: number): Transition {
    this.#failures++;
    if (this.#open || this.#failures < this.#limits.failures) return undefined;
    this.#open = true;
    this.#openedAt = now;
    this.#nextProbeAt = now + this.#limits.probeEveryMs;
    return 'opened';
  }

  /**
   * The probe's own outcome, reported after `answered` or `failed`: a probe
   * that failed sets the next one `probeEveryMs` later, so a store that hangs
   * is asked once per time limit plus interval, never by every request.
   */
  probed(ok: boolean, now: number): void {
    this.#probing = false;
    if (!ok && this.#open) this.#nextProbeAt = now + this.#limits.probeEveryMs;
  }
}
