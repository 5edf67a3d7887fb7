import { isIdempotencyError, StoreUnavailableError } from '../errors.js';
import { emit, type HookEvent, type StoreOperation } from '../hooks.js';
import type { OwnerResult } from '../store/contract.js';
import { breaker as makeBreaker } from './breaker.js';
import type { IdempotencyLogger, ResolvedOptions } from './options.js';

/** Why a store call gave up: it did not answer within `storeTimeoutMs`. */
export class StoreTimeoutError extends Error {
  constructor(operation: StoreOperation, ms: number) {
    super(
      `idem: the store did not answer ${operation} within ${ms} ms (storeTimeoutMs). Check the store's server and connection, or raise storeTimeoutMs if it is merely slow.`,
    );
    this.name = 'StoreTimeoutError';
  }
}

/** Call a store method; a synchronous throw becomes a rejection, as from an async method. */
export function invoke<R>(call: () => Promise<R>): Promise<R> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Runs store calls within the time limit and reports them. */
export interface StoreCalls {
  /**
   * Settle with `promise` (a store call just made), or reject with a
   * {@link StoreTimeoutError} once `storeTimeoutMs` passed. A failure is
   * reported (the `storeError` hook, or the log) before the returned promise
   * rejects; every call is reported to the `storeCall` hook with its latency.
   */
  within<R>(event: HookEvent, operation: StoreOperation, promise: Promise<R>): Promise<R>;
  /** Make a store call and bound it, as {@link StoreCalls.within}. */
  call<R>(event: HookEvent, operation: StoreOperation, call: () => Promise<R>): Promise<R>;
  /**
   * Release `token`'s claim, trying again with backoff while the store
   * fails, until it answers or `until` (epoch ms) passes: past the lease,
   * the record frees itself. Resolves to the store's answer, or `undefined`
   * when it never came.
   */
  giveBack(event: HookEvent, token: string, until: number): Promise<OwnerResult | undefined>;
  /**
   * Whether the circuit breaker lets a claim go to the store now:
   * `undefined` when it does (send the claim at once, through `within`:
   * it may be the breaker's probe), or, while the breaker is open, the
   * `StoreUnavailableError` to answer with, without calling the store.
   * Only claims ask: work that already runs is never refused.
   */
  refusal(): StoreUnavailableError | undefined;
}

interface Pending {
  readonly at: number;
  readonly expire: () => void;
}

const MINUTE = 60_000;

/**
 * One timer for all the store calls in flight, instead of one per call (a
 * timer made and cleared per request costs measurable throughput). Every call
 * has the same time limit, so calls expire in the order they started, and a
 * Set (insertion-ordered) keeps them in that order.
 */
function deadlines(ms: number) {
  const pending = new Set<Pending>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let held = false;

  // The timer keeps a process alive only while a call is pending: a Node
  // script awaiting a hung store must get its StoreTimeoutError, not exit
  // with the promise unsettled, but an idle engine must not hold a finished
  // script open until the last call's deadline. Referencing and unreferencing
  // it is cheaper than clearing and re-arming a timer for every call.
  function hold(on: boolean): void {
    if (timer === undefined || held === on) return;
    held = on;
    const handle = timer as { ref?: () => void; unref?: () => void };
    if (on) handle.ref?.();
    else handle.unref?.();
  }

  function arm(): void {
    if (timer !== undefined) {
      hold(true);
      return;
    }
    const first = pending.values().next();
    if (first.done) return;
    held = true;
    timer = setTimeout(tick, Math.max(0, first.value.at - Date.now()) + 1);
  }

  function tick(): void {
    timer = undefined;
    const now = Date.now();
    for (const entry of pending) {
      if (entry.at > now) break;
      pending.delete(entry);
      entry.expire();
    }
    arm();
  }

  function settle(entry: Pending): void {
    pending.delete(entry);
    if (pending.size === 0) hold(false);
  }

  return function within<R>(promise: Promise<R>, onTimeout: () => Error): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry: Pending = { at: Date.now() + ms, expire: () => reject(onTimeout()) };
      pending.add(entry);
      arm();
      promise.then(
        (value) => {
          settle(entry);
          resolve(value);
        },
        (error: unknown) => {
          settle(entry);
          reject(error);
        },
      );
    });
  };
}

/**
 * Store errors are logged by default, so an outage is never silent: the first
 * at once, then one line a minute with how many followed. A store that is not
 * set up (a `ConfigurationError` from the store, such as a missing table) is
 * logged loudly once per distinct message, whatever the hooks.
 */
function storeErrorLog(logger: IdempotencyLogger) {
  // Details only when there are some: a logger prints an `undefined` it is given.
  const write = (message: string, ...details: unknown[]) =>
    logger.error ? logger.error(message, ...details) : logger.warn(message, ...details);
  const setupErrors = new Set<string>();
  let windowEnds = 0;
  let suppressed = 0;
  let flush: ReturnType<typeof setTimeout> | undefined;

  const summary = () => {
    flush = undefined;
    if (suppressed === 0) return;
    write(`idem: ${suppressed} more store error(s) in the last minute.`);
    suppressed = 0;
  };

  return {
    setup(error: Error): void {
      if (setupErrors.has(error.message)) return;
      setupErrors.add(error.message);
      write(
        [
          '',
          '*** idem: the store is not set up; every protected request answers 503 until it is ***',
          error.message,
          '',
        ].join('\n'),
        error,
      );
    },
    failure(operation: StoreOperation, error: unknown): void {
      const now = Date.now();
      if (now < windowEnds) {
        suppressed++;
        if (flush === undefined) {
          flush = setTimeout(summary, windowEnds - now);
          (flush as { unref?: () => void }).unref?.();
        }
        return;
      }
      windowEnds = now + MINUTE;
      const reason = error instanceof Error ? error.message : String(error);
      write(
        `idem: the store failed during ${operation}: ${reason} (further store errors are counted and summarised once a minute; pass hooks.storeError to handle them yourself, or logger: false)`,
        error,
      );
    },
    opened(failures: number, error: unknown): void {
      write(
        `idem: breaker open after ${failures} failed claims in a row (${error instanceof Error ? error.message : String(error)}): requests answer 503 at once until a probe succeeds.`,
      );
    },
    closed(openMs: number, refused: number): void {
      write(
        `idem: breaker closed, the store answers again (open ${openMs} ms, ${refused} refused).`,
      );
    },
  };
}

// Deliberately not unref'd: the work that waits is bounded by a lease.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The engine's store calls: bounded in time, failures reported once each. */
export function storeCalls(options: ResolvedOptions): StoreCalls {
  const { hooks, logger, storeTimeoutMs, store } = options;
  const bound = deadlines(storeTimeoutMs);
  const log = logger === false ? undefined : storeErrorLog(logger);
  const timed = hooks.storeCall !== undefined;

  function report(event: HookEvent, operation: StoreOperation, error: unknown): void {
    // A store that is not set up fails every request the same way: its
    // banner (once) says all there is to say.
    const setup = isIdempotencyError(error, 'CONFIGURATION');
    if (setup) log?.setup(error);
    if (hooks.storeError) emit(hooks, 'storeError', { ...event, operation, error });
    else if (!setup) log?.failure(operation, error);
  }

  const breaker =
    options.breaker === false
      ? undefined
      : makeBreaker({
          ...options.breaker,
          probeLostAfterMs: storeTimeoutMs + options.breaker.probeEveryMs,
        });
  // Set by `refusal` when it lets the probe through; the claim's `within`,
  // called at once after it, takes it, so the probe's outcome is known.
  let probeSent = false;
  let refused = 0;
  // Whether the opening was announced (a store not set up has its banner).
  let openLogged = false;
  const breakerHooked = hooks.breakerOpened !== undefined || hooks.breakerClosed !== undefined;

  /**
   * Tell the breaker how a store call went; announce what it did. Only
   * failed claims count towards opening it, as claims are all it refuses: a
   * store whose renewals alone fail must not have its claims refused. Any
   * answer, to any call, shows the store is there.
   */
  function record(ok: boolean, operation: StoreOperation, probe: boolean, error?: unknown): void {
    if (breaker === undefined || (!ok && operation !== 'claim')) return;
    const now = Date.now();
    const change = ok ? breaker.answered() : breaker.failed(now);
    if (probe) breaker.probed(ok, now);
    if (change === 'opened') {
      refused = 0;
      const { failures } = breaker.limits;
      if (breakerHooked) emit(hooks, 'breakerOpened', { failures, error });
      openLogged = !breakerHooked && !isIdempotencyError(error, 'CONFIGURATION');
      if (openLogged) log?.opened(failures, error);
    } else if (change === 'closed') {
      const openMs = now - breaker.state.openedAt;
      if (breakerHooked) emit(hooks, 'breakerClosed', { openMs, refused });
      else if (openLogged) log?.closed(openMs, refused);
    }
  }

  function refusal(): StoreUnavailableError | undefined {
    if (breaker === undefined) return undefined;
    const now = Date.now();
    const admission = breaker.admit(now);
    if (admission === 'pass') return undefined;
    if (admission === 'probe') {
      probeSent = true;
      return undefined;
    }
    refused++;
    return new StoreUnavailableError(
      'claim',
      new Error('idem: breaker open, claim not sent'),
      breaker.retryAfterSeconds(now),
    );
  }

  // An in-process store cannot hang: no time limit to keep for it.
  const limit = store.inProcess === true ? <R>(promise: Promise<R>) => promise : bound;

  async function within<R>(
    event: HookEvent,
    operation: StoreOperation,
    promise: Promise<R>,
  ): Promise<R> {
    const startedAt = timed ? Date.now() : 0;
    const probe = probeSent && operation === 'claim';
    if (probe) probeSent = false;
    try {
      const result = await limit(promise, () => new StoreTimeoutError(operation, storeTimeoutMs));
      record(true, operation, probe);
      if (timed)
        emit(hooks, 'storeCall', {
          ...event,
          operation,
          durationMs: Date.now() - startedAt,
          ok: true,
        });
      return result;
    } catch (error) {
      // Answers, not failures: too large (the engine keeps a marker instead)
      // and rolled back (a transactional store's commit did not take).
      const answer =
        isIdempotencyError(error, 'RESPONSE_TOO_LARGE') || isIdempotencyError(error, 'ROLLED_BACK');
      if (timed) {
        const durationMs = Date.now() - startedAt;
        emit(hooks, 'storeCall', {
          ...event,
          operation,
          durationMs,
          ok: answer,
          ...(answer ? {} : { error }),
        });
      }
      record(answer, operation, probe, error);
      if (!answer) report(event, operation, error);
      throw error;
    }
  }

  const call = <R>(event: HookEvent, operation: StoreOperation, make: () => Promise<R>) =>
    within(event, operation, invoke(make));

  return {
    within,
    call,
    refusal,
    async giveBack(event, token, until) {
      // Every caller has just seen the store fail: wait a little first. The
      // key stays blocked until this lands, so once the store answers again
      // it is freed within a second: a release a second per held key, and
      // only until its lease ends, is little to ask of a recovering store.
      for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
        const left = until - Date.now();
        if (left <= 0) return undefined;
        await sleep(Math.min(delay, left));
        try {
          return await call(event, 'release', () => store.release(event.storeKey, token));
        } catch {
          // Reported by within; try again while the lease lasts.
        }
      }
    },
  };
}
