import { isIdempotencyError, StoreUnavailableError } from '../errors.js';
import { emit } from '../hooks.js';
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
   */
  release(reason?: ReleaseReason): Promise<void>;
}

/** What an execution needs from its engine. */
export interface ExecutionEnv {
  readonly options: ResolvedOptions;
  readonly calls: StoreCalls;
  readonly renewal: Renewal;
}

/** The claim an execution holds. */
export interface ClaimHeld {
  readonly storeKey: string;
  readonly token: string;
  readonly fingerprint: string;
  readonly waitUntil: ((promise: Promise<unknown>) => void) | undefined;
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
  const { storeKey, token, fingerprint, waitUntil } = claim;
  const context: ExecutionContext = { storeKey, token, protected: true };
  const startedAt = Date.now();
  const lease = renewal.start(storeKey, token);
  let finished = false;

  const finish = () => {
    if (finished) return false;
    finished = true;
    renewal.stop(lease);
    return true;
  };

  const executed = (stored: boolean) =>
    emit(hooks, 'executed', { storeKey, durationMs: Date.now() - startedAt, stored });

  /** One completion, falling back to the "ran, not stored" marker when the store finds it too large. */
  async function attempt(response: StoredResponse): Promise<Attempt> {
    try {
      const result = await store.complete(storeKey, token, response, options.ttlMs);
      return { result, kept: !isNotStoredMarker(response) };
    } catch (error) {
      if (!isIdempotencyError(error, 'RESPONSE_TOO_LARGE') || isNotStoredMarker(response)) {
        throw error;
      }
      return attempt(notStoredMarker(response.status, response.body.byteLength));
    }
  }

  function settled({ result, kept }: Attempt): void {
    // Stale: our lease ran out and someone else holds the key; their record stands.
    if (result === 'stale') emit(hooks, 'leaseLost', { storeKey });
    executed(result === 'ok' && kept);
  }

  /** Whether an earlier attempt whose answer never came did complete the record. */
  async function landed(): Promise<boolean> {
    try {
      const record = await calls.within(
        storeKey,
        'read',
        invoke(() => store.read(storeKey)),
      );
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
      if (result === 'stale') emit(hooks, 'leaseLost', { storeKey });
      else if (result === 'ok') emit(hooks, 'released', { storeKey, reason });
    };
    try {
      answered(
        await calls.within(
          storeKey,
          'release',
          invoke(() => store.release(storeKey, token)),
        ),
      );
    } catch {
      const background = calls.giveBack(storeKey, token, lease.deadline).then(answered);
      waitUntil?.(background);
    }
  }

  /**
   * Keep trying while the lease holds, so a retry gets a replay, not a
   * second execution. An attempt that failed may still have landed (its
   * reply was lost, or came too late): a later "stale" is checked against
   * the record before it is reported as a lost lease.
   */
  async function retry(response: StoredResponse): Promise<void> {
    for (let delay = 50; Date.now() + delay < lease.deadline; delay = Math.min(delay * 2, 2_000)) {
      await sleep(delay);
      try {
        const outcome = await calls.within(
          storeKey,
          'complete',
          invoke(() => attempt(response)),
        );
        if (outcome.result === 'stale' && (await landed())) executed(outcome.kept);
        else settled(outcome);
        return;
      } catch (error) {
        if (isIdempotencyError(error, 'ROLLED_BACK')) return giveBack('failed');
      }
    }
    emit(hooks, 'completionFailed', { storeKey });
  }

  /** A transactional commit that did not answer in time: wait for its outcome in the background. */
  async function awaitCommit(first: Promise<Attempt>): Promise<void> {
    try {
      settled(await first);
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
      const toStore =
        response.body.byteLength > options.maxResponseBytes
          ? notStoredMarker(response.status, response.body.byteLength)
          : response;
      const first = invoke(() => attempt(toStore));
      try {
        settled(await calls.within(storeKey, 'complete', first));
        return;
      } catch (error) {
        if (isIdempotencyError(error, 'ROLLED_BACK')) {
          // The operation's own writes went with the record: nothing took
          // effect, so there is nothing to retry and no success to report.
          // Free the key so the client's retry runs the operation, once.
          await giveBack('failed');
          throw error;
        }
        if (isTransactional(context)) {
          const background = awaitCommit(first);
          waitUntil?.(background);
          throw new StoreUnavailableError('complete', error);
        }
        // The response still goes out; the completion goes on in the background.
        const background = retry(toStore);
        waitUntil?.(background);
      }
    },
    async release(reason = 'failed') {
      if (!finish()) return;
      await giveBack(reason);
      if (reason === 'not_kept') executed(false);
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
