import { isIdempotencyError, StoreUnavailableError } from '../errors.js';
import { type CompletionFailure, emit, type FinishedOutcome, type HookEvent } from '../hooks.js';
import type { OwnerResult, StoredResponse } from '../store/contract.js';
import { type Claim, isTransactional } from './context.js';
import { isNotStoredMarker, notStoredMarker } from './not-stored.js';
import type { ResolvedOptions } from './options.js';
import { heldByAnother, type Lease, type Renewal } from './renewal.js';
import { invoke, type StoreCalls } from './store-calls.js';

/**
 * Why a key is given back: the operation `failed` (threw), it answered but
 * its answer is `not_kept` (a transient HTTP status, `shouldStore` said no),
 * or a transactional store `rolled_back` its writes with the record (a failed
 * commit, or an answer not kept whose writes must not last).
 */
export type ReleaseReason = 'failed' | 'not_kept' | 'rolled_back';

/** The caller owns the key and must run the operation, then `complete` or `release` it. */
export interface Execution {
  readonly kind: 'execute';
  /** The store key (hashed scope and key). */
  readonly storeKey: string;
  /** The claim this execution runs under; hand it to transactional stores. */
  readonly claim: Claim;
  /**
   * Keep the result for replay. Resolves after the first store attempt; a
   * failed or timed-out completion is retried in the background while the
   * lease holds, so the result still reaches the caller.
   *
   * Rejects only when the result must not be reported as a success: with
   * `RolledBackError` when a transactional store rolled the operation's own
   * writes back with the record (the key is released, so a retry runs once),
   * or with `StoreUnavailableError` when such a commit did not answer within
   * `storeTimeoutMs` (outcome unknown: a retry replays the result if it
   * committed, or runs the operation once if it did not).
   */
  complete(response: StoredResponse): Promise<void>;
  /**
   * Give the key back so the next request runs the operation again.
   * @param reason What the `released` hook reports. @default 'failed'
   * @param status The answer not kept, for the `finished` hook.
   */
  release(reason?: ReleaseReason, status?: number): Promise<void>;
}

/** What an execution needs from its engine. */
export interface ExecutionEnv {
  readonly options: ResolvedOptions;
  readonly calls: StoreCalls;
  readonly renewal: Renewal;
}

/** The claim an execution holds, and what its hook events carry. */
export interface ClaimHeld {
  readonly event: HookEvent;
  readonly token: string;
  readonly fingerprint: string;
  readonly waitUntil: ((promise: Promise<unknown>) => void) | undefined;
  /** When the request began (for `finished`), and how long its claim took. */
  readonly begunAt: number;
  readonly claimMs: number;
  /** This execution's lease and its result's time to live, in milliseconds. */
  readonly leaseMs: number;
  readonly ttlMs: number;
  /** When the lease must end at the latest (see `BeginInput.leaseUntil`); infinity for no limit. */
  readonly leaseUntil: number;
  /**
   * Called once when the execution ends: with the response when it was
   * completed and kept, with `undefined` otherwise (released, not stored, or
   * its completion still retried in the background).
   */
  readonly settle?: (response: StoredResponse | undefined) => void;
}

interface Attempt {
  readonly result: OwnerResult;
  /** Whether the result itself was kept (not the "ran, not stored" marker). */
  readonly kept: boolean;
}

// Deliberately not unref'd (unlike the renewal timer): someone awaits these
// waits. An unref'd timer lets a Node script or cron job exit before a failed
// completion is retried (so the next run executes again). They are bounded
// by the lease.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * An execution that holds `claim` until it completes or releases it. A class,
 * not closures: one is made per request, and its methods are shared.
 */
export class ProtectedExecution implements Execution {
  readonly kind = 'execute' as const;
  readonly storeKey: string;
  readonly claim: Claim;
  readonly #env: ExecutionEnv;
  readonly #claim: ClaimHeld;
  readonly #lease: Lease;
  readonly #startedAt = Date.now();
  #finished = false;
  #durationMs = 0;
  #attempts = 0;

  constructor(env: ExecutionEnv, claim: ClaimHeld) {
    this.#env = env;
    this.#claim = claim;
    this.storeKey = claim.event.storeKey;
    this.claim = { storeKey: this.storeKey, token: claim.token, protected: true };
    this.#lease = env.renewal.start(
      claim.event,
      claim.token,
      claim.leaseMs,
      claim.begunAt,
      claim.leaseUntil,
    );
  }

  /**
   * Whether the lease still holds: the execution goes on, no renewal found it
   * lost, and its deadline (as this process last renewed it) has not passed.
   */
  get leaseLive(): boolean {
    return !this.#finished && !this.#lease.lost && Date.now() < this.#lease.deadline;
  }

  /** When the lease runs out unless renewed again (this process's view). */
  get leaseDeadline(): number {
    return this.#lease.deadline;
  }

  #finish(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.#durationMs = Date.now() - this.#startedAt;
    this.#env.renewal.stop(this.#lease);
    return true;
  }

  /** Reported once per lease, whether a renewal or the completion found it lost. */
  #lostLease(): void {
    if (this.#lease.lost) return;
    this.#lease.lost = true;
    emit(this.#env.options.hooks, 'leaseLost', this.#claim.event);
  }

  /** After a stale answer: whether another owner holds the key, or the record merely ran out. */
  #heldByAnother(): Promise<boolean> {
    return heldByAnother(this.#env.calls, this.#env.options.store, this.#claim.event);
  }

  #completionFailed(reason: CompletionFailure): void {
    const { hooks } = this.#env.options;
    if (hooks.completionFailed) {
      emit(hooks, 'completionFailed', {
        ...this.#claim.event,
        attempts: this.#attempts,
        claimMs: this.#claim.claimMs,
        reason,
      });
    }
  }

  #done(outcome: FinishedOutcome, status?: number): void {
    const { hooks } = this.#env.options;
    if (!hooks.finished) return;
    emit(hooks, 'finished', {
      ...this.#claim.event,
      outcome,
      ...(status === undefined ? {} : { status }),
      durationMs: Date.now() - this.#claim.begunAt,
    });
  }

  /** One completion, falling back to the "ran, not stored" marker when the store finds it too large. */
  #attempt(response: StoredResponse): Promise<Attempt> {
    this.#attempts++;
    return this.#completeOrMark(response);
  }

  /** The store call of an attempt; storing the marker instead is part of the same attempt. */
  async #completeOrMark(response: StoredResponse): Promise<Attempt> {
    const { storeKey } = this;
    try {
      const result = await this.#env.options.store.complete(
        storeKey,
        this.#claim.token,
        response,
        this.#claim.ttlMs,
      );
      return { result, kept: !isNotStoredMarker(response) };
    } catch (error) {
      if (!isIdempotencyError(error, 'RESPONSE_TOO_LARGE') || isNotStoredMarker(response)) {
        throw error;
      }
      return this.#completeOrMark(notStoredMarker(response.status, response.body.byteLength));
    }
  }

  #stored(stored: boolean, status: number, completeStartedAt: number): void {
    const { hooks } = this.#env.options;
    if (hooks.executed) {
      emit(hooks, 'executed', {
        ...this.#claim.event,
        stored,
        status,
        claimMs: this.#claim.claimMs,
        durationMs: this.#durationMs,
        completeMs: Date.now() - completeStartedAt,
        attempts: this.#attempts,
        renewals: this.#lease.renewals,
      });
    }
    this.#done(stored ? 'executed' : 'executed_not_stored', status);
  }

  async #settled(
    { result, kept }: Attempt,
    response: StoredResponse,
    completeStartedAt: number,
  ): Promise<void> {
    if (result === 'stale' && !(await this.#heldByAnother())) {
      // The record ran out before the result landed (the operation outlived
      // its lease), and nobody else is on the key: nothing was lost to
      // another owner, the result was just not stored. Emitted in the same
      // synchronous step as `finished`, as every completion's events are.
      this.#completionFailed('lease_expired');
      this.#done('executed_not_stored', response.status);
      return;
    }
    // Stale: our lease ran out and another owner holds the key; their record stands.
    if (result === 'stale') this.#lostLease();
    // A completed result enters the replay cache on its first replay from
    // the store, not here: most keys are never retried, and holding every
    // fresh result (long enough to be promoted by the GC) cost first
    // requests more CPU than the cache saves.
    this.#stored(result === 'ok' && kept, response.status, completeStartedAt);
  }

  /** Whether an earlier attempt whose answer never came did complete the record. */
  async #landed(): Promise<boolean> {
    const { store } = this.#env.options;
    try {
      const record = await this.#env.calls.call(this.#claim.event, 'read', () =>
        store.read(this.storeKey),
      );
      return record?.state === 'completed' && record.fingerprint === this.#claim.fingerprint;
    } catch {
      return false;
    }
  }

  /**
   * Give the key back. The first attempt is awaited; if it fails (a lost
   * connection), the attempts go on in the background while the lease
   * lasts, so a retry need not wait for the lease to run out.
   */
  async #giveBack(reason: ReleaseReason): Promise<void> {
    const { store } = this.#env.options;
    const { event, token } = this.#claim;
    const answered = (result: OwnerResult | undefined) => {
      const { hooks } = this.#env.options;
      if (result === 'stale') this.#lostLease();
      else if (result === 'ok' && hooks.released) {
        emit(hooks, 'released', {
          ...event,
          reason,
          claimMs: this.#claim.claimMs,
          durationMs: this.#durationMs,
          renewals: this.#lease.renewals,
        });
      }
    };
    try {
      answered(
        await this.#env.calls.call(event, 'release', () => store.release(this.storeKey, token)),
      );
    } catch {
      const background = this.#env.calls
        .giveBack(event, token, this.#lease.deadline)
        .then(answered);
      this.#claim.waitUntil?.(background);
    }
  }

  /**
   * Keep trying while the lease holds, so a retry gets a replay, not a
   * second execution. An attempt that failed may still have landed (its
   * reply was lost, or came too late): a later "stale" is checked against
   * the record before it is reported as a lost lease.
   */
  async #retry(response: StoredResponse, completeStartedAt: number): Promise<void> {
    for (
      let delay = 50;
      Date.now() + delay < this.#lease.deadline;
      delay = Math.min(delay * 2, 2_000)
    ) {
      await sleep(delay);
      try {
        const outcome = await this.#env.calls.within(
          this.#claim.event,
          'complete',
          invoke(() => this.#attempt(response)),
        );
        if (outcome.result === 'stale' && (await this.#landed())) {
          this.#stored(outcome.kept, response.status, completeStartedAt);
        } else {
          await this.#settled(outcome, response, completeStartedAt);
        }
        return;
      } catch (error) {
        if (isIdempotencyError(error, 'ROLLED_BACK')) {
          await this.#giveBack('rolled_back');
          this.#done('rolled_back');
          return;
        }
      }
    }
    this.#completionFailed('store_failed');
    this.#done('executed_not_stored', response.status);
  }

  /** A transactional commit that did not answer in time: wait for its outcome in the background. */
  async #awaitCommit(first: Promise<Attempt>): Promise<void> {
    try {
      const { result } = await first;
      if (result === 'stale') {
        if (await this.#heldByAnother()) this.#lostLease();
        else this.#completionFailed('lease_expired');
      }
    } catch (error) {
      // Rolled back after all: nothing took effect, so free the key for the retry.
      if (isIdempotencyError(error, 'ROLLED_BACK')) await this.#giveBack('rolled_back');
    }
  }

  async complete(response: StoredResponse): Promise<void> {
    if (!this.#finish()) return;
    let kept: StoredResponse | undefined;
    try {
      kept = await this.#complete(response);
    } finally {
      this.#claim.settle?.(kept);
    }
  }

  /** The completion; resolves with the response when the store kept it. */
  async #complete(response: StoredResponse): Promise<StoredResponse | undefined> {
    const completeStartedAt = Date.now();
    const toStore =
      response.body.byteLength > this.#env.options.maxResponseBytes
        ? notStoredMarker(response.status, response.body.byteLength)
        : response;
    const first = invoke(() => this.#attempt(toStore));
    let attempt: Attempt;
    try {
      attempt = await this.#env.calls.within(this.#claim.event, 'complete', first);
    } catch (error) {
      if (isIdempotencyError(error, 'ROLLED_BACK')) {
        // The operation's own writes went with the record: nothing took
        // effect, so there is nothing to retry and no success to report.
        // Free the key so the client's retry runs the operation, once.
        await this.#giveBack('rolled_back');
        this.#done('rolled_back');
        throw error;
      }
      if (isTransactional(this.claim)) {
        // Started whatever waitUntil is: `a?.(f())` would skip f() without it.
        const background = this.#awaitCommit(first);
        this.#claim.waitUntil?.(background);
        this.#done('store_unavailable');
        throw new StoreUnavailableError('complete', error);
      }
      // The response still goes out; the completion goes on in the background.
      const background = this.#retry(toStore, completeStartedAt);
      this.#claim.waitUntil?.(background);
      return undefined;
    }
    await this.#settled(attempt, toStore, completeStartedAt);
    return attempt.result === 'ok' && attempt.kept ? toStore : undefined;
  }

  async release(reason: ReleaseReason = 'failed', status?: number): Promise<void> {
    if (!this.#finish()) return;
    try {
      await this.#giveBack(reason);
      this.#done(reason === 'not_kept' ? 'executed_not_stored' : reason, status);
    } finally {
      this.#claim.settle?.(undefined);
    }
  }
}

/** An execution that holds `claim` until it completes or releases it. */
export function protectedExecution(env: ExecutionEnv, claim: ClaimHeld): ProtectedExecution {
  return new ProtectedExecution(env, claim);
}

/** What runs when the store failed and `failOpen` let the operation run without a record. */
export function unprotectedExecution(storeKey: string): Execution {
  return {
    kind: 'execute',
    storeKey,
    claim: { storeKey, token: '', protected: false },
    async complete() {},
    async release() {},
  };
}
