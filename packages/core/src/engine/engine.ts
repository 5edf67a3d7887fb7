import { randomToken } from '../bytes.js';
import {
  FingerprintMismatchError,
  RequestInFlightError,
  ResultNotStoredError,
  StoreUnavailableError,
} from '../errors.js';
import { emit } from '../hooks.js';
import { scopedKey } from '../scope.js';
import type { ClaimResult, StoredResponse } from '../store.js';
import { type Execution, protectedExecution, unprotectedExecution } from './execution.js';
import { isNotStoredMarker } from './not-stored.js';
import { type IdempotencyOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { leaseRenewal } from './renewal.js';
import { invoke, storeCalls } from './store-calls.js';

/** Identifies one execution: who owns it (scope), which key, and what it asks for. */
export interface BeginInput {
  /** The tenant or principal the key belongs to; keys never cross scopes. */
  readonly scope: string;
  /** The idempotency key. */
  readonly key: string;
  /** Digest of what is asked for; a reused key with another fingerprint is refused. */
  readonly fingerprint: string;
  /**
   * Keeps background work (completion retries, giving back a claim whose
   * reply was lost) alive after the response, on runtimes that need it
   * (Cloudflare Workers' `ctx.waitUntil`).
   */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
}

/** The key was completed before: here is its stored result. */
export interface Replay {
  readonly kind: 'replay';
  /** The store key (hashed scope and key). */
  readonly storeKey: string;
  readonly response: StoredResponse;
}

/** What {@link Engine.begin} decides. */
export type Decision = Execution | Replay;

/**
 * The two-phase engine: decide with `begin`, then complete or release the
 * execution. The HTTP layer builds on it alone, so edge bundles leave the
 * generic `run()` and its codec out.
 */
export interface Engine {
  /**
   * Claim the key, or report why not: resolves to an {@link Execution} (run
   * the operation, then complete or release it) or a {@link Replay}; rejects
   * with `FingerprintMismatchError`, `RequestInFlightError`,
   * `ResultNotStoredError` or `StoreUnavailableError`.
   */
  begin(input: BeginInput): Promise<Decision>;
  /** The options in force, defaults filled in. */
  readonly options: ResolvedOptions;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Create the two-phase engine. */
export function createEngine(options: IdempotencyOptions): Engine {
  const opts = resolveOptions(options);
  const { store, hooks } = opts;
  const calls = storeCalls(opts);
  const env = { options: opts, calls, renewal: leaseRenewal(opts, calls) };

  /** One claim with a fresh owner token; a failure becomes `StoreUnavailableError`. */
  async function claim(
    input: BeginInput,
    storeKey: string,
  ): Promise<{ readonly result: ClaimResult; readonly token: string }> {
    const token = randomToken();
    const startedAt = Date.now();
    const request = { fingerprint: input.fingerprint, token, leaseMs: opts.leaseMs };
    const sent = invoke(() => store.claim(storeKey, request));
    try {
      return { result: await calls.within(storeKey, 'claim', sent), token };
    } catch (error) {
      const background = giveBackLostClaim(storeKey, token, sent, startedAt);
      input.waitUntil?.(background);
      throw new StoreUnavailableError('claim', error);
    }
  }

  /**
   * A claim that failed or timed out may still have been written (the reply
   * was lost, or is late). No operation ran under its token, so giving it back
   * is safe, and it keeps a lost reply from blocking the key for a whole
   * lease. Bounded: past the lease the record frees itself anyway.
   */
  async function giveBackLostClaim(
    storeKey: string,
    token: string,
    sent: Promise<ClaimResult>,
    startedAt: number,
  ): Promise<void> {
    const until = startedAt + opts.leaseMs;
    const answer = await Promise.race([
      sent.then(
        (result) => (result.claimed ? 'claimed' : 'refused'),
        () => 'failed',
      ),
      sleep(Math.max(0, until - Date.now())).then(() => 'expired'),
    ]);
    if (answer === 'refused' || answer === 'expired') return;
    await calls.giveBack(storeKey, token, until);
  }

  async function begin(input: BeginInput): Promise<Decision> {
    const storeKey = await scopedKey(input.scope, input.key);
    const deadline = Date.now() + opts.waitTimeoutMs;
    for (let delay = 25; ; delay = Math.min(delay * 2, 1_000)) {
      let claimed: Awaited<ReturnType<typeof claim>>;
      try {
        claimed = await claim(input, storeKey);
      } catch (error) {
        if (opts.failOpen) return unprotectedExecution(storeKey);
        throw error;
      }
      const { result, token } = claimed;
      if (result.claimed) {
        const { fingerprint, waitUntil } = input;
        return protectedExecution(env, { storeKey, token, fingerprint, waitUntil });
      }
      const record = result.record;
      // A fingerprint mismatch is reported before the in-flight check: the
      // client made a mistake, and waiting would not fix it.
      if (record.fingerprint !== input.fingerprint) {
        emit(hooks, 'mismatch', { storeKey });
        throw new FingerprintMismatchError();
      }
      if (record.state === 'completed') {
        if (isNotStoredMarker(record.response)) {
          emit(hooks, 'replayed', { storeKey, stored: false });
          throw new ResultNotStoredError(record.response.status);
        }
        emit(hooks, 'replayed', { storeKey, stored: true });
        return { kind: 'replay', storeKey, response: record.response };
      }
      if (opts.concurrent === 'reject' || Date.now() + delay > deadline) {
        emit(hooks, 'conflict', { storeKey });
        throw new RequestInFlightError(opts.retryAfterSeconds);
      }
      await sleep(delay);
    }
  }

  return { begin, options: opts };
}
