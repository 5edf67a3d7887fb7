import { isIdempotencyError, StoreUnavailableError } from '../errors.js';
import { emit, type FinishedOutcome, type HookEvent } from '../hooks.js';
import type { OwnerResult, StoredResponse } from '../store.js';
import { type ExecutionContext, isTransactional } from './context.js';
import { isNotStoredMarker, notStoredMarker } from './not-stored.js';
import type { ResolvedOptions } from './options.js';
import type { Renewal } from './renewal.js';
import { invoke, type StoreCalls } from './store-calls.js';

/**
 * Why a key is given back: the operation `failed` (threw), or it answered
 * but its answer is `not_kept` (a transient HTTP status, `shouldStore` said no).
 */
export type ReleaseReason = 'failed' | 'not_kept';

/** The caller owns the key and must run the operation, then `complete` or `release` it. */
export interface Execution {
  readonly kind: 'execute';
  /** The store key (hashed scope and key). */
  readonly storeKey: string;
  /** The claim this execution runs under; hand it to transactional stores. */
  readonly context: ExecutionContext;
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

/** An execution that holds `claim` until it completes or releases it. */
export function protectedExecution(env: ExecutionEnv, claim: ClaimHeld): Execution {
  const { options, calls, renewal } = env;
  const { store, hooks } = options;
  const { event, token, fingerprint, waitUntil } = claim;
  const { storeKey } = event;
  const context: ExecutionContext = { storeKey, token, protected: true };
  const startedAt = Date.now();
  const lease = renewal.start(event, token, claim.leaseMs);
  let finished = false;
  let durationMs = 0;
  let attempts = 0;

  const finish = () => {
    if (finished) return false;
    finished = true;
    durationMs = Date.now() - startedAt;
    renewal.stop(lease);
    return true;
  };

  // Reported once per lease, whether a renewal or the completion found it lost.
  const lostLease = () => {
    if (lease.lost) return;
    lease.lost = true;
    emit(hooks, 'leaseLost', event);
  };

  const done = (outcome: FinishedOutcome, status?: number) =>
    emit(hooks, 'finished', {
      ...event,
      outcome,
      ...(status === undefined ? {} : { status }),
      durationMs: Date.now() - claim.begunAt,
    });

  /** One completion, falling back to the "ran, not stored" marker when the store finds it too large. */
  function attempt(response: StoredResponse): Promise<Attempt> {
    attempts++;
    return completeOrMark(response);
  }

  /** The store call of an attempt; storing the marker instead is part of the same attempt. */
  async function completeOrMark(response: StoredResponse): Promise<Attempt> {
    try {
      const result = await store.complete(storeKey, token, response, claim.ttlMs);
      return { result, kept: !isNotStoredMarker(response) };
    } catch (error) {
      if (!isIdempotencyError(error, 'RESPONSE_TOO_LARGE') || isNotStoredMarker(response)) {
        throw error;
      }
      return completeOrMark(notStoredMarker(response.status, response.body.byteLength));
    }
  }

  function stored(stored: boolean, status: number, completeStartedAt: number): void {
    if (hooks.executed) {
      emit(hooks, 'executed', {
        ...event,
        stored,
        status,
        claimMs: claim.claimMs,
        durationMs,
        completeMs: Date.now() - completeStartedAt,
        attempts,
        renewals: lease.renewals,
      });
    }
    done(stored ? 'executed' : 'executed_not_stored', status);
  }

  function settled({ result, kept }: Attempt, status: number, completeStartedAt: number): void {
    // Stale: our lease ran out and someone else holds the key; their record stands.
    if (result === 'stale') lostLease();
    stored(result === 'ok' && kept, status, completeStartedAt);
  }

  /** Whether an earlier attempt whose answer never came did complete the record. */
  async function landed(): Promise<boolean> {
    try {
      const record = await calls.call(event, 'read', () => store.read(storeKey));
      return record?.state === 'completed' && record.fingerprint === fingerprint;
    } catch {
      return false;
    }
  }

  /**
   * Give the key back. The first attempt is awaited; if it fails (a lost
   * connection), the attempts go on in the background while the lease
   * lasts, so a retry need not wait for the lease to run out.
   */
  async function giveBack(reason: ReleaseReason): Promise<void> {
    const answered = (result: OwnerResult | undefined) => {
      if (result === 'stale') lostLease();
      else if (result === 'ok' && hooks.released) {
        emit(hooks, 'released', {
          ...event,
          reason,
          claimMs: claim.claimMs,
          durationMs,
          renewals: lease.renewals,
        });
      }
    };
    try {
      answered(await calls.call(event, 'release', () => store.release(storeKey, token)));
    } catch {
      const background = calls.giveBack(event, token, lease.deadline).then(answered);
      waitUntil?.(background);
    }
  }

  /**
   * Keep trying while the lease holds, so a retry gets a replay, not a
   * second execution. An attempt that failed may still have landed (its
   * reply was lost, or came too late): a later "stale" is checked against
   * the record before it is reported as a lost lease.
   */
  async function retry(response: StoredResponse, completeStartedAt: number): Promise<void> {
    for (let delay = 50; Date.now() + delay < lease.deadline; delay = Math.min(delay * 2, 2_000)) {
      await sleep(delay);
      try {
        const outcome = await calls.within(
          event,
          'complete',
          invoke(() => attempt(response)),
        );
        if (outcome.result === 'stale' && (await landed())) {
          stored(outcome.kept, response.status, completeStartedAt);
        } else {
          settled(outcome, response.status, completeStartedAt);
        }
        return;
      } catch (error) {
        if (isIdempotencyError(error, 'ROLLED_BACK')) {
          await giveBack('failed');
          done('failed');
          return;
        }
      }
    }
    emit(hooks, 'completionFailed', { ...event, attempts, claimMs: claim.claimMs });
    done('executed_not_stored', response.status);
  }

  /** A transactional commit that did not answer in time: wait for its outcome in the background. */
  async function awaitCommit(first: Promise<Attempt>): Promise<void> {
    try {
      const { result } = await first;
      if (result === 'stale') lostLease();
    } catch (error) {
      // Rolled back after all: nothing took effect, so free the key for the retry.
      if (isIdempotencyError(error, 'ROLLED_BACK')) await giveBack('failed');
    }
  }

  return {
    kind: 'execute',
    storeKey,
    context,
    async complete(response) {
      if (!finish()) return;
      const completeStartedAt = Date.now();
      const toStore =
        response.body.byteLength > options.maxResponseBytes
          ? notStoredMarker(response.status, response.body.byteLength)
          : response;
      const first = invoke(() => attempt(toStore));
      try {
        settled(await calls.within(event, 'complete', first), response.status, completeStartedAt);
        return;
      } catch (error) {
        if (isIdempotencyError(error, 'ROLLED_BACK')) {
          // The operation's own writes went with the record: nothing took
          // effect, so there is nothing to retry and no success to report.
          // Free the key so the client's retry runs the operation, once.
          await giveBack('failed');
          done('failed');
          throw error;
        }
        if (isTransactional(context)) {
          const background = awaitCommit(first);
          waitUntil?.(background);
          done('store_unavailable');
          throw new StoreUnavailableError('complete', error);
        }
        // The response still goes out; the completion goes on in the background.
        const background = retry(toStore, completeStartedAt);
        waitUntil?.(background);
      }
    },
    async release(reason = 'failed', status) {
      if (!finish()) return;
      await giveBack(reason);
      done(reason === 'failed' ? 'failed' : 'executed_not_stored', status);
    },
  };
}

/** What runs when the store failed and `failOpen` let the operation run without a record. */
export function unprotectedExecution(storeKey: string): Execution {
  return {
    kind: 'execute',
    storeKey,
    context: { storeKey, token: '', protected: false },
    async complete() {},
    async release() {},
  };
}
