import type { IdempotencyHooks } from '../hooks.js';
import { defineOptions, option, required, rule } from '../options/define.js';
import {
  atLeastZero,
  boolean,
  checkLeaseWithinTtl,
  isObject,
  oneOf,
  positiveMs,
  whole,
} from '../options/rules.js';
import type { Store } from '../store/contract.js';
import type { ReplayCache } from './replay-cache.js';

/** Where idem's warnings and store error reports go: `console`, or your logger. */
export interface IdempotencyLogger {
  warn(message: string, ...details: unknown[]): void;
  /** Used for store errors when present; `warn` otherwise. */
  error?(message: string, ...details: unknown[]): void;
}

/** Policies shared by the generic engine and every HTTP adapter. */
export interface IdempotencyOptions {
  /** Where records live. */
  readonly store: Store;
  /**
   * How long an in-flight claim blocks duplicates before another caller may
   * take over. The owner renews it while the operation runs, so this only
   * bounds how long a crashed owner blocks its key.
   * @default 30_000
   */
  readonly leaseMs?: number;
  /**
   * How long a completed result is kept and replayed, from completion.
   * @default 86_400_000 (24 hours)
   */
  readonly ttlMs?: number;
  /**
   * What a duplicate does while the first execution is still running:
   * `'reject'` answers at once with `RequestInFlightError` (HTTP 409);
   * `'wait'` waits up to `waitTimeoutMs`, then replays the result (or runs
   * the operation, if the first attempt failed and released the key).
   * Duplicates in one process share one claim and one wait: they take the
   * first's store answer, and wait for an execution running here instead of
   * polling the store (one poller per key for executions elsewhere).
   * @default 'reject'
   */
  readonly concurrent?: 'reject' | 'wait';
  /**
   * Longest time a duplicate waits under `concurrent: 'wait'` before it gets
   * `RequestInFlightError`.
   * @default 10_000
   */
  readonly waitTimeoutMs?: number;
  /**
   * Let duplicates of one key in this process share one claim and one wait
   * (see `concurrent`). Off on Cloudflare Workers, where a request should
   * not wait on another request's I/O: a cancelled request cancels its own.
   * @default true (false on Cloudflare Workers)
   */
  readonly singleFlight?: boolean;
  /**
   * Seconds a `RequestInFlightError` asks the client to wait (`Retry-After`).
   * @default 1
   */
  readonly retryAfterSeconds?: number;
  /**
   * When the store fails before the operation starts: `false` refuses to run
   * it (`StoreUnavailableError`, HTTP 503); `true` runs it unprotected.
   * @default false
   */
  readonly failOpen?: boolean;
  /**
   * Longest time any single store call may take. A claim that takes longer
   * fails like an unreachable store (HTTP 503, the operation does not run);
   * a completion that takes longer never holds the response back: it goes
   * on in the background while the lease holds. Set it above your store's
   * own command timeout, so the store reports its errors first.
   * @default 5_000
   */
  readonly storeTimeoutMs?: number;
  /**
   * The store's circuit breaker: after `failures` claims in a row failed
   * or timed out (with no store call answering between), protected requests answer 503 `store-unavailable`
   * at once (with `Retry-After`), without calling the store, instead of
   * each waiting up to `storeTimeoutMs` on a store that is down. One claim
   * at a time goes through as a probe every `probeEveryMs`; the first store
   * call that answers closes it. Completions, renewals and releases of work
   * already running are never refused. `false` turns it off.
   * @default { failures: 5, probeEveryMs: 1_000 }
   */
  readonly breaker?: false | BreakerOptions;
  /**
   * Largest result body kept, in bytes; larger results are recorded as
   * "ran, not stored" (never replayed truncated, never run again). The store's
   * own `maxResponseBytes` applies too, whichever is smaller.
   * @default 10_485_760 (10 MiB)
   */
  readonly maxResponseBytes?: number;
  /** Observability callbacks; keys are reported hashed. */
  readonly hooks?: IdempotencyHooks;
  /**
   * Where idem writes what an operator must see: store errors (the first at
   * once, then at most one summary line a minute, unless you handle them in
   * `hooks.storeError`), a store that is not set up (once, loudly), and
   * one-time configuration warnings. `false` silences it.
   * @default console
   */
  readonly logger?: IdempotencyLogger | false;
  /**
   * Keep completed records in this process's memory too, so a replay of one
   * this process already replayed from the store costs no store call (a
   * result enters on its first replay, not at completion).
   * `replayCache()` (from `@idem/core`) turns it on with the default
   * limits, `replayCache({ entries, bytes, maxAgeMs })` with others; a
   * bundle that never calls it leaves the cache's code out. An entry is
   * never served past its record's expiry, nor across scopes or
   * fingerprints. An operator's `remove()` in this process drops it at
   * once; in another process it is replayed for at most `maxAgeMs` more
   * (see {@link ReplayCacheOptions}).
   * @default false
   */
  readonly cache?: false | ReplayCache;
}

/** Limits of the store's circuit breaker (the `breaker` option). */
export interface BreakerOptions {
  /**
   * Claims failed or timed out in a row (no store call answering between) that open it.
   * @default 5
   */
  readonly failures?: number;
  /**
   * While open, how often one claim is let through to ask the store, in
   * milliseconds (counted from the open, then from each failed probe).
   * @default 1_000
   */
  readonly probeEveryMs?: number;
}

/** {@link BreakerOptions} with every default applied. */
export type ResolvedBreaker = Required<BreakerOptions>;

/**
 * Limits of the in-process replay cache (`replayCache(limits)`). An entry lives
 * until the first of: its record's expiry, `maxAgeMs` after the replay that
 * read it from the store, or its eviction (least recently used first) to
 * stay within `entries` and `bytes`.
 */
export interface ReplayCacheOptions {
  /**
   * Most records kept.
   * @default 10_000
   */
  readonly entries?: number;
  /**
   * Most bytes kept, counting each record's body, header names and values,
   * store key and fingerprint. A record larger than this is not cached.
   * @default 67_108_864 (64 MiB)
   */
  readonly bytes?: number;
  /**
   * Longest time one record is replayed from memory, in milliseconds,
   * counted from when it was stored or read from the store. A record deleted
   * by another process (an operator's `release()` there) is replayed here
   * for at most this long.
   * @default 60_000
   */
  readonly maxAgeMs?: number;
}

/** {@link ReplayCacheOptions} with every default applied. */
export type ResolvedReplayCache = Required<ReplayCacheOptions>;

/** {@link IdempotencyOptions} with every default applied. */
export type ResolvedOptions = Required<
  Omit<IdempotencyOptions, 'hooks' | 'logger' | 'cache' | 'breaker'>
> & {
  readonly hooks: IdempotencyHooks;
  readonly logger: IdempotencyLogger | false;
  /** `false` when off; when on, the `replayCache()` given (its limits in `.limits`). */
  readonly cache: false | ReplayCache;
  /** `false` when off, its limits when on. */
  readonly breaker: false | ResolvedBreaker;
};

const STORE_METHODS = ['claim', 'complete', 'release', 'renew', 'read'];

const resolveBreaker = defineOptions({
  failures: option(whole('claims', 1), 5),
  probeEveryMs: option(positiveMs, 1_000),
});

/** `false`, or an object of limits (resolved on its own, defaults filled in). */
const offOrLimits = (example: string) =>
  rule<false | object>(
    `false, or an object of limits such as ${example}`,
    (v) => v === false || isObject(v),
  );

/** Whether this is the Cloudflare Workers runtime (workerd), by its documented user agent. */
function onWorkers(): boolean {
  return (
    (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent ===
    'Cloudflare-Workers'
  );
}

const ENGINE_SPECS = {
  store: required(
    rule<Store>(
      'a store (with claim, complete, release, renew and read methods), such as memoryStore() from @idem/store-memory',
      (v) =>
        isObject(v) &&
        STORE_METHODS.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    ),
  ),
  leaseMs: option(positiveMs, 30_000),
  ttlMs: option(positiveMs, 86_400_000),
  concurrent: option(oneOf('reject', 'wait'), 'reject'),
  waitTimeoutMs: option(positiveMs, 10_000),
  singleFlight: option(boolean, !onWorkers()),
  retryAfterSeconds: option(atLeastZero('seconds', true), 1),
  failOpen: option(boolean, false),
  storeTimeoutMs: option(positiveMs, 5_000),
  breaker: option(offOrLimits('{ failures: 5, probeEveryMs: 1_000 }')),
  maxResponseBytes: option(atLeastZero('bytes'), 10 * 1024 * 1024),
  hooks: option(
    rule<IdempotencyHooks>('an object of callbacks, such as { storeError(event) {} }', isObject),
    {},
  ),
  logger: option(
    rule<IdempotencyLogger | false>(
      'false (silent), or a logger with a warn(message) method, such as console',
      (v) => v === false || (isObject(v) && typeof (v as IdempotencyLogger).warn === 'function'),
    ),
  ),
  cache: option(
    rule<false | ReplayCache>(
      'false, or replayCache() from @idem/core (with its limits: replayCache({ entries, bytes, maxAgeMs }))',
      (v) => v === false || (isObject(v) && typeof (v as ReplayCache).open === 'function'),
    ),
    false,
  ),
};

/** Option names the engine knows; anything else is most likely a typo. */
export const ENGINE_OPTIONS: readonly string[] = Object.keys(ENGINE_SPECS);

const resolveEngine = defineOptions(ENGINE_SPECS, (o, where) =>
  checkLeaseWithinTtl(where, o.leaseMs, o.ttlMs),
);

/**
 * Refuse unknown names first, then unusable values, with a
 * {@link ConfigurationError} that names the option and the fix; apply the
 * defaults.
 * @param where Names the entry point in errors.
 * @default where 'idem: createIdempotency()'
 */
export function resolveOptions(
  options: IdempotencyOptions,
  where = 'idem: createIdempotency()',
): ResolvedOptions {
  const o = resolveEngine(options, where);
  const breaker = o.breaker === false ? false : resolveBreaker(o.breaker ?? {}, where, 'breaker.');
  return {
    ...o,
    // Retry-After takes whole seconds.
    retryAfterSeconds: Math.ceil(o.retryAfterSeconds),
    breaker,
    maxResponseBytes: Math.min(
      o.maxResponseBytes,
      o.store.maxResponseBytes ?? Number.POSITIVE_INFINITY,
    ),
    logger: o.logger ?? console,
  };
}
