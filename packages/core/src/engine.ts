import { randomToken, sha256Hasher, utf8 } from './bytes.js';
import { canonicalizeValue } from './canonical-json.js';
import {
  ConfigurationError,
  FingerprintMismatchError,
  RequestInFlightError,
  ResponseTooLargeError,
  ResultNotStoredError,
  RolledBackError,
  StoreUnavailableError,
} from './errors.js';
import { emit, type IdempotencyHooks } from './hooks.js';
import { scopedKey } from './scope.js';
import type { OwnerResult, Store, StoredResponse } from './store.js';

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
   * `'reject'` answers at once with {@link RequestInFlightError} (HTTP 409);
   * `'wait'` polls with backoff for up to `waitTimeoutMs`, then replays the
   * result (or runs the operation, if the first attempt failed and released the key).
   * @default 'reject'
   */
  readonly concurrent?: 'reject' | 'wait';
  /**
   * Longest time a duplicate waits under `concurrent: 'wait'` before it gets
   * {@link RequestInFlightError}.
   * @default 10_000
   */
  readonly waitTimeoutMs?: number;
  /**
   * Seconds a {@link RequestInFlightError} asks the client to wait (`Retry-After`).
   * @default 1
   */
  readonly retryAfterSeconds?: number;
  /**
   * When the store fails before the operation starts: `false` refuses to run
   * it ({@link StoreUnavailableError}, HTTP 503); `true` runs it unprotected.
   * @default false
   */
  readonly failOpen?: boolean;
  /**
   * Largest result body kept, in bytes; larger results are recorded as
   * "ran, not stored" (never replayed truncated, never run again). The store's
   * own `maxResponseBytes` applies too, whichever is smaller.
   * @default 10_485_760 (10 MiB)
   */
  readonly maxResponseBytes?: number;
  /** Observability callbacks; keys are reported hashed. */
  readonly hooks?: IdempotencyHooks;
}

/** Identifies one execution: who owns it (scope), which key, and what it asks for. */
export interface BeginInput {
  /** The tenant or principal the key belongs to; keys never cross scopes. */
  readonly scope: string;
  /** The idempotency key. */
  readonly key: string;
  /** Digest of what is asked for; a reused key with another fingerprint is refused. */
  readonly fingerprint: string;
  /**
   * Keeps background work (completion retries) alive after the response,
   * on runtimes that need it (Cloudflare Workers' `ctx.waitUntil`).
   */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
}

/**
 * Identifies the claim an operation runs under. Stores that complete a record
 * inside the operation's own database transaction (such as
 * `@idem/store-postgres`) take it to bind that transaction to the claim.
 */
export interface ExecutionContext {
  /** The store key (hashed scope and key), as stores and hooks see it. */
  readonly storeKey: string;
  /** The owner token of this claim; empty when the operation runs unprotected. */
  readonly token: string;
  /** `false` when the store failed and `failOpen` let the operation run unprotected. */
  readonly protected: boolean;
}

/** The caller owns the key and must run the operation, then call `commit` or `abandon`. */
export interface Execution {
  readonly kind: 'execute';
  /** The hashed store key, as hooks report it. */
  readonly keyHash: string;
  /** `false` when the store failed and `failOpen` let the operation run unprotected. */
  readonly protected: boolean;
  /** The claim this execution runs under; hand it to transactional stores. */
  readonly context: ExecutionContext;
  /**
   * Record the result: kept for replay when `keep` is true, otherwise the key
   * is released so a retry runs again. Resolves after the first store attempt;
   * a failed completion is retried in the background while the lease holds.
   * Rejects with {@link RolledBackError} (and nothing else) when the store
   * rolled the operation's own writes back with the record: the result must
   * then not be reported as a success. The key is then released, so the
   * client's retry runs the operation again, once.
   */
  commit(response: StoredResponse, keep: boolean): Promise<void>;
  /** The operation failed: release the key so an immediate retry runs again. */
  abandon(): Promise<void>;
}

/** The key was completed before: here is its stored result. */
export interface Replay {
  readonly kind: 'replay';
  readonly keyHash: string;
  readonly response: StoredResponse;
}

/** What {@link Idempotency.begin} decides. */
export type Decision = Execution | Replay;

/** Options of one {@link Idempotency.run} call. */
export interface RunOptions<T> {
  /**
   * The scope the key belongs to (queue, tenant, job name).
   * @default ''
   */
  readonly scope?: string;
  /**
   * What the operation is asked to do; a reused key with a different payload
   * throws {@link FingerprintMismatchError}. Fingerprinted as canonical JSON.
   * @default undefined (only the key identifies the operation)
   */
  readonly payload?: unknown;
  /**
   * Which results are kept for replay; the key is released for the others.
   * @default () => true
   */
  readonly shouldStore?: (value: T) => boolean;
  /** How results are turned into bytes and back. @default JSON */
  readonly codec?: ResultCodec<T>;
  /** See {@link BeginInput.waitUntil}. */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
}

/** Turns a result into bytes and back. */
export interface ResultCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** How a {@link Idempotency.run} call ended. */
export type Outcome<T> =
  | { readonly status: 'executed'; readonly value: T }
  | { readonly status: 'replayed'; readonly value: T };

/** The engine: run operations exactly once per (scope, key). */
export interface Idempotency {
  /** Two-phase API for adapters: decide, then commit or abandon the execution. */
  begin(input: BeginInput): Promise<Decision>;
  /**
   * Run `operation` once for `key` and return its result; every later call with
   * the same key replays the stored result instead of running it again.
   * Throws {@link RequestInFlightError}, {@link FingerprintMismatchError},
   * {@link StoreUnavailableError} or {@link ResultNotStoredError}, or whatever
   * the operation threw (after releasing the key). If `shouldStore` or the
   * codec throws after the operation ran, that error is thrown too, and the
   * key is recorded as "ran, not stored" so a retry gets
   * {@link ResultNotStoredError} instead of a second execution.
   */
  run<T>(
    key: string,
    operation: (context: ExecutionContext) => T | Promise<T>,
    options?: RunOptions<T>,
  ): Promise<Outcome<T>>;
  /** The options in force, defaults filled in. */
  readonly options: ResolvedOptions;
}

/** A running execution's lease, as the renewal ticker keeps it. */
interface RunningLease {
  readonly keyHash: string;
  readonly token: string;
  /** When the last successful renewal (or the claim) was sent. */
  renewedAt: number;
  /** When the lease runs out unless renewed again. */
  deadline: number;
  renewing: boolean;
}

/** {@link IdempotencyOptions} with every default applied. */
export type ResolvedOptions = Required<Omit<IdempotencyOptions, 'hooks'>> & {
  readonly hooks: IdempotencyHooks;
};

/** Marks a completed record whose result was too large to keep. */
const NOT_STORED_HEADER = 'idem-not-stored';

/** Whether a stored response is the "ran, result not stored" marker. */
export function isNotStoredMarker(response: StoredResponse): boolean {
  return response.headers.some(([name]) => name === NOT_STORED_HEADER);
}

const JSON_CODEC: ResultCodec<unknown> = {
  encode: (value) => (value === undefined ? new Uint8Array(0) : utf8(JSON.stringify(value))),
  decode: (bytes) =>
    bytes.byteLength === 0 ? undefined : JSON.parse(new TextDecoder().decode(bytes)),
};

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

function resolve(options: IdempotencyOptions): ResolvedOptions {
  if (!options || typeof options.store?.claim !== 'function') {
    throw new ConfigurationError(
      'idem: pass a store, for example { store: memoryStore() } from @idem/store-memory.',
    );
  }
  const resolved: ResolvedOptions = {
    store: options.store,
    leaseMs: positive('leaseMs', options.leaseMs ?? 30_000),
    ttlMs: positive('ttlMs', options.ttlMs ?? 86_400_000),
    concurrent: options.concurrent ?? 'reject',
    waitTimeoutMs: positive('waitTimeoutMs', options.waitTimeoutMs ?? 10_000),
    // Retry-After takes whole seconds.
    retryAfterSeconds: Math.ceil(
      atLeastZero('retryAfterSeconds', options.retryAfterSeconds ?? 1, 'seconds', true),
    ),
    failOpen: options.failOpen ?? false,
    maxResponseBytes: Math.min(
      atLeastZero('maxResponseBytes', options.maxResponseBytes ?? 10 * 1024 * 1024, 'bytes', false),
      options.store.maxResponseBytes ?? Number.POSITIVE_INFINITY,
    ),
    hooks: options.hooks ?? {},
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
  return resolved;
}

// Deliberately not unref'd (unlike the renewal timer): someone awaits these
// waits. An unref'd timer lets a Node script or cron job exit in the middle of
// a 'wait' (the awaited run() never settles) or before a failed completion is
// retried (so the next run executes again). Both are bounded, by waitTimeoutMs
// and by the lease.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Create the engine. Adapters build on {@link Idempotency.begin}; queue
 * consumers and jobs use {@link Idempotency.run}.
 *
 * @example
 * ```ts
 * const idem = createIdempotency({ store: memoryStore() });
 * const { value } = await idem.run(message.id, () => chargeCard(message), { scope: 'payments' });
 * ```
 */
export function createIdempotency(options: IdempotencyOptions): Idempotency {
  const engine = createEngine(options);
  return {
    begin: engine.begin,
    run: (key, operation, runOptions) => runOnce(engine.begin, key, operation, runOptions),
    options: engine.options,
  };
}

/**
 * The two-phase engine without {@link Idempotency.run}: what the HTTP layer
 * builds on, so edge bundles leave the generic runner and its codec out.
 * @internal
 */
export interface Engine {
  begin(input: BeginInput): Promise<Decision>;
  readonly options: ResolvedOptions;
}

/** @internal See {@link Engine}. */
export function createEngine(options: IdempotencyOptions): Engine {
  const opts = resolve(options);
  const { store, hooks } = opts;

  async function storeCall<R>(
    keyHash: string,
    operation: string,
    call: () => Promise<R>,
  ): Promise<R> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ResponseTooLargeError) throw error;
      emit(hooks, 'storeError', { keyHash, operation, error });
      throw new StoreUnavailableError(operation, error);
    }
  }

  // One ticker renews every running execution's lease, instead of a timer per
  // execution: most operations end long before their first renewal is due,
  // and a timer created and cleared per request costs measurable throughput.
  const renewEvery = Math.max(10, Math.floor(opts.leaseMs / 3));
  const running = new Set<RunningLease>();
  let ticker: ReturnType<typeof setTimeout> | undefined;

  function tick(): void {
    ticker = undefined;
    const now = Date.now();
    for (const lease of running) {
      if (!lease.renewing && now - lease.renewedAt >= renewEvery) void renew(lease, now);
    }
    schedule();
  }

  function schedule(): void {
    if (ticker !== undefined || running.size === 0) return;
    // Half the renewal period: a lease is renewed at most 1.5 periods (half a
    // lease) after its last renewal, long before it runs out.
    ticker = setTimeout(tick, Math.max(5, renewEvery >> 1));
    (ticker as { unref?: () => void }).unref?.();
  }

  async function renew(lease: RunningLease, sentAt: number): Promise<void> {
    lease.renewing = true;
    try {
      const result = await store.renew(lease.keyHash, lease.token, opts.leaseMs);
      if (result === 'stale') {
        // Once the operation finished, a renewal that crossed its completion
        // is stale for a good reason: only a live operation lost its lease.
        if (running.delete(lease)) emit(hooks, 'leaseLost', { keyHash: lease.keyHash });
        return;
      }
      lease.renewedAt = sentAt;
      lease.deadline = sentAt + opts.leaseMs;
    } catch (error) {
      emit(hooks, 'storeError', { keyHash: lease.keyHash, operation: 'renew', error });
    } finally {
      lease.renewing = false;
    }
  }

  function execution(
    keyHash: string,
    token: string,
    waitUntil: BeginInput['waitUntil'],
  ): Execution {
    const startedAt = Date.now();
    // The local view of our lease: extended by each successful renewal.
    const lease: RunningLease = {
      keyHash,
      token,
      renewedAt: startedAt,
      deadline: startedAt + opts.leaseMs,
      renewing: false,
    };
    let finished = false;
    running.add(lease);
    schedule();

    const stop = () => {
      finished = true;
      running.delete(lease);
      if (running.size === 0 && ticker !== undefined) {
        clearTimeout(ticker);
        ticker = undefined;
      }
    };

    const release = async (reason: 'not_stored' | 'failed') => {
      stop();
      try {
        const result = await store.release(keyHash, token);
        if (result === 'stale') emit(hooks, 'leaseLost', { keyHash });
        else emit(hooks, 'released', { keyHash, reason });
      } catch (error) {
        // The key frees itself when the lease runs out; nothing else to do.
        emit(hooks, 'storeError', { keyHash, operation: 'release', error });
      }
    };

    /** Complete the record; resolves to whether the result itself is now kept for replay. */
    const complete = async (response: StoredResponse): Promise<boolean> => {
      let result: OwnerResult;
      try {
        result = await store.complete(keyHash, token, response, opts.ttlMs);
      } catch (error) {
        // Over the store's own limit: record that the operation ran, without its result.
        if (error instanceof ResponseTooLargeError && !isNotStoredMarker(response)) {
          return complete(notStoredMarker(response.status, response.body.byteLength));
        }
        throw error;
      }
      if (result === 'stale') {
        // Our lease ran out and someone else holds the key: their record stands.
        emit(hooks, 'leaseLost', { keyHash });
        return false;
      }
      return !isNotStoredMarker(response);
    };

    return {
      kind: 'execute',
      keyHash,
      protected: true,
      context: { storeKey: keyHash, token, protected: true },
      async commit(response, keep) {
        if (finished) return;
        const durationMs = Date.now() - startedAt;
        const executed = (stored: boolean) =>
          emit(hooks, 'executed', { keyHash, durationMs, stored });
        if (!keep) {
          await release('not_stored');
          executed(false);
          return;
        }
        stop();
        const toStore =
          response.body.byteLength > opts.maxResponseBytes
            ? notStoredMarker(response.status, response.body.byteLength)
            : response;
        try {
          executed(await complete(toStore));
          return;
        } catch (error) {
          emit(hooks, 'storeError', { keyHash, operation: 'complete', error });
          if (error instanceof RolledBackError) {
            // The operation's own writes went with the record: nothing took
            // effect, so there is nothing to retry and no success to report.
            // Free the key so the client's retry runs the operation, once.
            await release('failed');
            throw error;
          }
        }
        // SPEC §2: the response still goes out; keep trying while our lease holds,
        // so a retry gets a replay instead of a second execution.
        const retry = (async () => {
          for (
            let delay = 50;
            Date.now() + delay < lease.deadline;
            delay = Math.min(delay * 2, 2_000)
          ) {
            await sleep(delay);
            try {
              executed(await complete(toStore));
              return;
            } catch (error) {
              emit(hooks, 'storeError', { keyHash, operation: 'complete', error });
            }
          }
          emit(hooks, 'completionFailed', { keyHash });
        })();
        waitUntil?.(retry);
      },
      async abandon() {
        if (finished) return;
        return release('failed');
      },
    };
  }

  function unprotected(keyHash: string): Execution {
    return {
      kind: 'execute',
      keyHash,
      protected: false,
      context: { storeKey: keyHash, token: '', protected: false },
      async commit() {},
      async abandon() {},
    };
  }

  async function begin(input: BeginInput): Promise<Decision> {
    const keyHash = await scopedKey(input.scope, input.key);
    const deadline = Date.now() + opts.waitTimeoutMs;
    for (let delay = 25; ; delay = Math.min(delay * 2, 1_000)) {
      const token = randomToken();
      let claim: Awaited<ReturnType<Store['claim']>>;
      try {
        claim = await storeCall(keyHash, 'claim', () =>
          store.claim(keyHash, { fingerprint: input.fingerprint, token, leaseMs: opts.leaseMs }),
        );
      } catch (error) {
        if (opts.failOpen) return unprotected(keyHash);
        throw error;
      }
      if (claim.claimed) return execution(keyHash, token, input.waitUntil);
      const record = claim.record;
      // SPEC §3: a fingerprint mismatch is reported before the in-flight check.
      if (record.fingerprint !== input.fingerprint) {
        emit(hooks, 'mismatch', { keyHash });
        throw new FingerprintMismatchError();
      }
      if (record.state === 'completed') {
        if (isNotStoredMarker(record.response)) {
          emit(hooks, 'replayed', { keyHash, stored: false });
          throw new ResultNotStoredError(record.response.status);
        }
        emit(hooks, 'replayed', { keyHash, stored: true });
        return { kind: 'replay', keyHash, response: record.response };
      }
      if (opts.concurrent === 'reject' || Date.now() + delay > deadline) {
        emit(hooks, 'conflict', { keyHash });
        throw new RequestInFlightError(opts.retryAfterSeconds);
      }
      await sleep(delay);
    }
  }

  return { begin, options: opts };
}

async function runOnce<T>(
  begin: Engine['begin'],
  key: string,
  operation: (context: ExecutionContext) => T | Promise<T>,
  runOptions: RunOptions<T> = {},
): Promise<Outcome<T>> {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ConfigurationError(
      'idem: run() needs a non-empty string key, such as the message id.',
    );
  }
  const codec = (runOptions.codec ?? JSON_CODEC) as ResultCodec<T>;
  const fingerprint = await fingerprintPayload(runOptions.payload);
  const decision = await begin({
    scope: runOptions.scope ?? '',
    key,
    fingerprint,
    ...(runOptions.waitUntil ? { waitUntil: runOptions.waitUntil } : {}),
  });
  if (decision.kind === 'replay') {
    return { status: 'replayed', value: codec.decode(decision.response.body) };
  }
  let value: T;
  try {
    value = await operation(decision.context);
  } catch (error) {
    await decision.abandon();
    throw error;
  }
  let keep: boolean;
  let body: Uint8Array;
  try {
    keep = runOptions.shouldStore ? runOptions.shouldStore(value) : true;
    body = keep ? codec.encode(value) : new Uint8Array(0);
  } catch (error) {
    // The operation ran, but its result cannot be judged or encoded (a
    // throwing shouldStore or codec, a BigInt for JSON). Releasing the key
    // would let a retry run it twice, and leaving it claimed would renew the
    // lease forever: record "ran, not stored", then surface the error.
    await decision.commit(notStoredMarker(200, -1), true);
    throw error;
  }
  await decision.commit({ status: 200, headers: [], body }, keep);
  return { status: 'executed', value };
}

async function fingerprintPayload(payload: unknown): Promise<string> {
  return sha256Hasher()
    .update(`idem-run1:${canonicalizeValue(payload)}`)
    .hex();
}

/**
 * The record kept for a result too large to store: it ran (so it must not run
 * again) but cannot be replayed. `size` is the body's size, or -1 if unknown.
 * @internal
 */
export function notStoredMarker(status: number, size: number): StoredResponse {
  return { status, headers: [[NOT_STORED_HEADER, String(size)]], body: new Uint8Array(0) };
}
