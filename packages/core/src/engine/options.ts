import { ConfigurationError } from '../errors.js';
import type { IdempotencyHooks } from '../hooks.js';
import type { Store } from '../store/contract.js';

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
   * `'wait'` polls with backoff for up to `waitTimeoutMs`, then replays the
   * result (or runs the operation, if the first attempt failed and released the key).
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
   * result enters on its first replay, not at completion). `{}` turns
   * it on with the default limits. An entry is never served past its
   * record's expiry, nor across scopes or fingerprints. An operator's
   * `release()` in this process drops it at once; in another process it is
   * replayed for at most `maxAgeMs` more (see {@link ReplayCacheOptions}).
   * @default false
   */
  readonly cache?: false | ReplayCacheOptions;
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
 * Limits of the in-process replay cache (the `cache` option). An entry lives
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
  /** `false` when off, its limits when on. */
  readonly cache: false | ResolvedReplayCache;
  /** `false` when off, its limits when on. */
  readonly breaker: false | ResolvedBreaker;
};

/** Option names the engine knows; anything else is most likely a typo. */
export const ENGINE_OPTIONS: readonly string[] = [
  'store',
  'leaseMs',
  'ttlMs',
  'concurrent',
  'waitTimeoutMs',
  'retryAfterSeconds',
  'failOpen',
  'storeTimeoutMs',
  'breaker',
  'maxResponseBytes',
  'hooks',
  'logger',
  'cache',
];

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(
      `idem: ${name} must be a positive number of milliseconds, got ${String(value)}.`,
    );
  }
  return value;
}

// NaN or a negative number would silently disable a check (`size > NaN` is
// false) or print an unparsable header: refuse them at construction.
function atLeastZero(name: string, value: number, unit: string, finite: boolean): number {
  if (
    typeof value !== 'number' ||
    Number.isNaN(value) ||
    value < 0 ||
    (finite && !Number.isFinite(value))
  ) {
    throw new ConfigurationError(
      `idem: ${name} must be ${finite ? 'a finite' : 'a'} number of ${unit}, zero or more, got ${String(value)}.`,
    );
  }
  return value;
}

const CACHE_LIMITS = ['entries', 'bytes', 'maxAgeMs'];

/** The `cache` option: `false` (or absent) is off, an object of limits turns it on. */
function resolveCache(value: unknown): ResolvedReplayCache | false {
  if (value === undefined || value === false) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(
      `idem: cache must be false (the default) or an object of limits; pass cache: {} to turn it on with the defaults. Got ${String(value)}.`,
    );
  }
  refuseUnknownOptions(value, CACHE_LIMITS, 'idem: cache');
  const limits = value as ReplayCacheOptions;
  const limit = (name: keyof ReplayCacheOptions, fallback: number, what: string): number => {
    const given = limits[name] ?? fallback;
    const whole = name !== 'entries' || Number.isInteger(given);
    if (typeof given !== 'number' || !Number.isFinite(given) || given <= 0 || !whole) {
      throw new ConfigurationError(
        `idem: cache.${name} must be ${what}, got ${String(given)}; leave it out for the default (${fallback}).`,
      );
    }
    return given;
  };
  return {
    entries: limit('entries', 10_000, 'a whole number of records, 1 or more'),
    bytes: limit('bytes', 64 * 1024 * 1024, 'a positive, finite number of bytes'),
    maxAgeMs: limit('maxAgeMs', 60_000, 'a positive, finite number of milliseconds'),
  };
}

const BREAKER_LIMITS = ['failures', 'probeEveryMs'];

/** The `breaker` option: on by default, `false` turns it off, an object sets its limits. */
function resolveBreaker(value: unknown): ResolvedBreaker | false {
  if (value === false) return false;
  if (
    value !== undefined &&
    (typeof value !== 'object' || value === null || Array.isArray(value))
  ) {
    throw new ConfigurationError(
      `idem: breaker must be false or { failures?, probeEveryMs? }, got ${String(value)}.`,
    );
  }
  if (value !== undefined) refuseUnknownOptions(value, BREAKER_LIMITS, 'idem: breaker');
  const limits = (value ?? {}) as BreakerOptions;
  const failures = limits.failures ?? 5;
  if (!Number.isInteger(failures) || failures < 1) {
    throw new ConfigurationError(
      `idem: breaker.failures must be a whole number, 1 or more, got ${String(failures)}; breaker: false turns the breaker off.`,
    );
  }
  const probeEveryMs = positive('breaker.probeEveryMs', limits.probeEveryMs ?? 1_000);
  return { failures, probeEveryMs };
}

/** Apply the defaults and refuse unusable options with a {@link ConfigurationError} that names the fix. */
export function resolveOptions(options: IdempotencyOptions): ResolvedOptions {
  const store = options?.store;
  if (
    !store ||
    !['claim', 'complete', 'release', 'renew', 'read'].every(
      (method) => typeof (store as unknown as Record<string, unknown>)[method] === 'function',
    )
  ) {
    throw new ConfigurationError(
      'idem: pass a store, for example { store: memoryStore() } from @idem/store-memory.',
    );
  }
  const logger = options.logger ?? console;
  if (logger !== false && typeof logger?.warn !== 'function') {
    throw new ConfigurationError(
      'idem: logger must have a warn(message) method (console does), or be false to silence idem.',
    );
  }
  const resolved: ResolvedOptions = {
    store,
    leaseMs: positive('leaseMs', options.leaseMs ?? 30_000),
    ttlMs: positive('ttlMs', options.ttlMs ?? 86_400_000),
    concurrent: options.concurrent ?? 'reject',
    waitTimeoutMs: positive('waitTimeoutMs', options.waitTimeoutMs ?? 10_000),
    // Retry-After takes whole seconds.
    retryAfterSeconds: Math.ceil(
      atLeastZero('retryAfterSeconds', options.retryAfterSeconds ?? 1, 'seconds', true),
    ),
    failOpen: options.failOpen ?? false,
    storeTimeoutMs: positive('storeTimeoutMs', options.storeTimeoutMs ?? 5_000),
    breaker: resolveBreaker(options.breaker),
    maxResponseBytes: Math.min(
      atLeastZero('maxResponseBytes', options.maxResponseBytes ?? 10 * 1024 * 1024, 'bytes', false),
      store.maxResponseBytes ?? Number.POSITIVE_INFINITY,
    ),
    hooks: options.hooks ?? {},
    logger,
    cache: resolveCache(options.cache),
  };
  if (resolved.concurrent !== 'reject' && resolved.concurrent !== 'wait') {
    throw new ConfigurationError(
      `idem: concurrent must be 'reject' or 'wait', got ${String(resolved.concurrent)}.`,
    );
  }
  if (resolved.ttlMs < resolved.leaseMs) {
    throw new ConfigurationError(
      'idem: ttlMs must be at least leaseMs: a result must outlive the lease that produced it.',
    );
  }
  if (typeof resolved.hooks !== 'object' || resolved.hooks === null) {
    throw new ConfigurationError(
      'idem: hooks must be an object of callbacks, such as { storeError(event) {} }.',
    );
  }
  return resolved;
}

/**
 * Refuse option names nobody reads: from JavaScript, a typo (`leaseMS`,
 * `tabel`) would otherwise silently leave the default in force. For store
 * authors too: `refuseUnknownOptions(options, ['pool', 'table'], 'myStore')`.
 * @param where Names the function in the message, e.g. `'postgresStore'`.
 */
export function refuseUnknownOptions(
  options: unknown,
  known: readonly string[],
  where: string,
): void {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError(`${where}: pass an options object: { ${known.join(', ')} }.`);
  }
  const unknown = Object.keys(options).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new ConfigurationError(
      `${where}: unknown option ${unknown.map((name) => JSON.stringify(name)).join(', ')}; the options are ${known.join(', ')}.`,
    );
  }
}
