import { randomToken, sha256Hasher, sha256Utf8Now, utf8 } from '../bytes.js';
import {
  ConfigurationError,
  FingerprintMismatchError,
  RequestInFlightError,
  ResponseNotStoredError,
  StoreUnavailableError,
} from '../errors.js';
import { emit, type FinishedOutcome, type HookEvent } from '../hooks.js';
import { checkOption } from '../options/define.js';
import { checkLeaseWithinTtl, positiveMs } from '../options/rules.js';
import { scopedKey, scopedKeyNow } from '../scope.js';
import type {
  ClaimRequest,
  ClaimResult,
  OwnerResult,
  StoredRecord,
  StoredResponse,
} from '../store/contract.js';
import { type Execution, protectedExecution, unprotectedExecution } from './execution.js';
import { type Flight, Flights, type Sighting } from './flights.js';
import { isNotStoredMarker } from './not-stored.js';
import { type IdempotencyOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { cappedLease, leaseRenewal } from './renewal.js';
import { invoke, storeCalls } from './store-calls.js';

/** The engine as this package's own modules see it. */
export interface EngineInternal extends Engine {
  /** Forget this process's flight of `storeKey`: its duplicates ask the store from now on. */
  forget(storeKey: string): void;
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
   * Keeps background work (completion retries, giving back a claim whose
   * reply was lost) alive after the response, on runtimes that need it
   * (Cloudflare Workers' `ctx.waitUntil`).
   */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * This request's lease, in milliseconds, if not the engine's `leaseMs`.
   * @default the engine's `leaseMs`
   */
  readonly leaseMs?: number;
  /**
   * How long this request's result is kept, in milliseconds, if not the engine's `ttlMs`.
   * @default the engine's `ttlMs`
   */
  readonly ttlMs?: number;
  /**
   * The latest time, in epoch milliseconds, this execution's lease may run
   * to: the claim and every renewal end by then, and renewing stops there.
   * For callers with a hard deadline (an AWS Lambda invocation's timeout),
   * so that a run cut off by it frees its key right after, not one lease
   * later.
   * @default none: the lease is renewed for as long as the operation runs
   */
  readonly leaseUntil?: number;
  /** The HTTP request, for hook events (the HTTP layer sets it). */
  readonly request?: {
    readonly method: string;
    readonly path: string;
    readonly route?: string | undefined;
  };
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
   * `ResponseNotStoredError` or `StoreUnavailableError`.
   */
  begin(input: BeginInput): Promise<Decision>;
  /** The options in force, defaults filled in. */
  readonly options: ResolvedOptions;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `promise`'s value, or 'late' at `deadline` (the timer is cleared either way). */
function until<T>(promise: Promise<T>, deadline: number): Promise<T | 'late'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((r) => {
    timer = setTimeout(() => r('late'), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * When a lost claim's give-back found nothing, the waits before looking
 * again: a claim that lands within about 3.7 s of the store's answer is
 * given back within 2 s of landing (if the store answers that look). Each
 * look is one release, on the failure path only.
 */
const LATE_CLAIM_CHECKS_MS = [250, 500, 1_000, 2_000];

/** Where a request's own lease and time to live (a route's functions of the request) are named. */
const PER_REQUEST = "idem: this request's options";

/**
 * A request's own lease and time to live, checked by the options' rules. A
 * route's functions decide them per request: once given, even as
 * `undefined`, they must be valid, not quietly replaced by the engine's.
 */
function requestTimes(input: BeginInput, options: ResolvedOptions): Times {
  if (!('leaseMs' in input) && !('ttlMs' in input)) return options;
  const pick = (name: keyof Times) =>
    checkOption(PER_REQUEST, name, positiveMs, name in input ? input[name] : options[name]);
  const times = { leaseMs: pick('leaseMs'), ttlMs: pick('ttlMs') };
  checkLeaseWithinTtl(PER_REQUEST, times.leaseMs, times.ttlMs);
  return times;
}

type Times = { readonly leaseMs: number; readonly ttlMs: number };

/** A request's `leaseUntil`, checked: a time, or no limit. */
function leaseUntil(input: BeginInput): number {
  const until = input.leaseUntil;
  if (until === undefined) return Number.POSITIVE_INFINITY;
  if (typeof until !== 'number' || !Number.isFinite(until)) {
    throw new ConfigurationError(
      `${PER_REQUEST}: leaseUntil must be a time in epoch milliseconds (such as Date.now() + context.getRemainingTimeInMillis()), got ${String(until)}.`,
    );
  }
  return until;
}

/** Requests begun in this process: the `id` of hook events. */
let requests = 0;

/**
 * Create the two-phase engine.
 * @param where Names the entry point in configuration errors.
 * @default where 'idem: createIdempotency()'
 */
export function createEngine(options: IdempotencyOptions, where?: string): EngineInternal {
  const opts = resolveOptions(options, where);
  const { store, hooks } = opts;
  const calls = storeCalls(opts);
  // Opened here, not imported: bundles without replayCache() leave its code out.
  const cache = opts.cache === false ? undefined : opts.cache.open(store);
  const env = { options: opts, calls, renewal: leaseRenewal(opts, calls) };
  // Duplicates of one key in this process share one claim and one wait.
  const flights = new Flights();
  // Hook events name the scope by its hash; computed only when someone listens.
  const observed = Object.values(hooks).some((hook) => typeof hook === 'function');

  /** What hook events say of this request; only built in full when someone listens. */
  async function eventOf(input: BeginInput, storeKey: string): Promise<HookEvent> {
    const id = ++requests;
    const scopeHash =
      sha256Utf8Now?.(input.scope, 'base64url') ??
      (await sha256Hasher().update(utf8(input.scope)).base64url());
    const { request } = input;
    if (!request) return { id, storeKey, scopeHash: scopeHash.slice(0, 22) };
    return {
      id,
      storeKey,
      scopeHash: scopeHash.slice(0, 22),
      method: request.method,
      path: request.path,
      ...(request.route === undefined ? {} : { route: request.route }),
    };
  }

  /**
   * A claim that failed or timed out may still have been written (the reply
   * was lost, or is late). No operation ran under its token, so giving it back
   * is safe, and it keeps a lost reply from blocking the key for a whole
   * lease. Bounded: past the lease the record frees itself anyway.
   */
  async function giveBackLostClaim(
    event: HookEvent,
    token: string,
    sent: Promise<ClaimResult>,
    startedAt: number,
    leaseMs: number,
  ): Promise<void> {
    const leaseEnd = startedAt + leaseMs;
    const answer = await until(
      sent.then(
        (result) => (result.claimed ? 'claimed' : 'refused'),
        () => 'failed',
      ),
      leaseEnd,
    );
    if (answer === 'refused' || answer === 'late') return;
    let given: OwnerResult | 'failed' | undefined = await calls.giveBack(event, token, leaseEnd);
    // "Nothing held under this token" may only mean the claim has not landed
    // yet: its bytes can still be on their way (a dead connection's last
    // segments, a proxy's buffer) and arrive after this answer. A claim lands
    // once at most, so looking again a few times after the store answered
    // frees the key soon after it does.
    for (const wait of LATE_CLAIM_CHECKS_MS) {
      if (given === 'ok' || given === undefined || leaseEnd - Date.now() <= 0) return;
      await sleep(Math.min(wait, leaseEnd - Date.now()));
      // One attempt per look: a store that fails now is looked at next time.
      given = await calls
        .call(event, 'release', () => store.release(event.storeKey, token))
        .catch(() => 'failed' as const);
    }
  }

  async function begin(input: BeginInput): Promise<Decision> {
    const begunAt = Date.now();
    const { leaseMs, ttlMs } = requestTimes(input, opts);
    const until = leaseUntil(input);
    const storeKey =
      scopedKeyNow(input.scope, input.key) ?? (await scopedKey(input.scope, input.key));
    const event: HookEvent = observed
      ? await eventOf(input, storeKey)
      : { id: ++requests, storeKey, scopeHash: '' };
    if (observed) emit(hooks, 'started', event);
    const cached = cache?.get(storeKey, begunAt);
    if (cached !== undefined) {
      const claimMs = Date.now() - begunAt;
      if (cached.fingerprint !== input.fingerprint) mismatch(event, begunAt, claimMs);
      replayed(event, begunAt, claimMs, true, cached.response);
      return { kind: 'replay', storeKey, response: cached.response };
    }
    const deadline = begunAt + opts.waitTimeoutMs;
    let leading: Flight | undefined;
    try {
      for (let delay = 25; ; delay = Math.min(delay * 2, 1_000)) {
        const flight = opts.singleFlight
          ? flights.joinable(storeKey, input.fingerprint, leading)
          : undefined;
        if (flight !== undefined) {
          const followed = await follow(flight, event, begunAt, deadline, storeKey);
          if (followed === 'again') continue;
          if (followed !== 'ask') return followed;
        }
        if (opts.singleFlight) leading ??= flights.lead(storeKey, input.fingerprint);
        const token = randomToken();
        const claimStartedAt = Date.now();
        const request: ClaimRequest = {
          fingerprint: input.fingerprint,
          token,
          leaseMs: cappedLease(leaseMs, until, claimStartedAt),
        };
        // The breaker is open: answer at once, with nothing sent to give back.
        const refused = calls.refusal();
        if (refused !== undefined) {
          finished(event, begunAt, 'store_unavailable');
          if (opts.failOpen) return unprotectedExecution(storeKey);
          throw refused;
        }
        const sent = invoke(() => store.claim(storeKey, request));
        let result: ClaimResult;
        try {
          result = await calls.within(event, 'claim', sent);
        } catch (error) {
          const background = giveBackLostClaim(event, token, sent, claimStartedAt, request.leaseMs);
          input.waitUntil?.(background);
          finished(event, begunAt, 'store_unavailable');
          if (opts.failOpen) return unprotectedExecution(storeKey);
          throw new StoreUnavailableError('claim', error);
        }
        const claimMs = Date.now() - begunAt;
        if (result.claimed) {
          const { fingerprint, waitUntil } = input;
          const flight = leading;
          // The execution carries the flight from here: it ends when the execution does.
          leading = undefined;
          let settle: (response: StoredResponse | undefined) => void = () => {};
          const settled = new Promise<StoredResponse | undefined>((resolve) => {
            settle = resolve;
          });
          const execution = protectedExecution(env, {
            event,
            token,
            fingerprint,
            waitUntil,
            begunAt,
            claimMs,
            leaseMs,
            leaseUntil: until,
            ttlMs,
            settle(response) {
              if (flight) flights.end(storeKey, flight);
              settle(response);
            },
          });
          flight?.publish({
            kind: 'running',
            run: {
              settled,
              live: () => execution.leaseLive,
              leaseExpiresAt: () => execution.leaseDeadline,
            },
          });
          return execution;
        }
        const record = result.record;
        const waits = answerable(record, input.fingerprint, delay, deadline);
        leading?.publish({ kind: 'record', record }, waits);
        const decision = answer(
          event,
          begunAt,
          claimMs,
          storeKey,
          record,
          input.fingerprint,
          waits,
        );
        if (decision !== undefined && record.state === 'completed') {
          // Reached only with a replayable result; never cached past the record's expiry.
          cache?.put(storeKey, record, claimStartedAt, record.expiresAt);
          return decision;
        }
        await sleep(delay);
      }
    } finally {
      if (leading) flights.end(storeKey, leading);
    }
  }

  /** Whether a duplicate that saw `record` waits and looks again (the others are answered now). */
  function answerable(
    record: StoredRecord,
    fingerprint: string,
    delay: number,
    deadline: number,
  ): boolean {
    return (
      record.state === 'in_progress' &&
      record.fingerprint === fingerprint &&
      opts.concurrent === 'wait' &&
      Date.now() + delay <= deadline
    );
  }

  /**
   * A record seen by a claim (this request's or its leader's): a replay, or a
   * thrown refusal; `undefined` when the request waits and looks again.
   * A fingerprint mismatch is reported before the in-flight check: the
   * client made a mistake, and waiting would not fix it.
   */
  function answer(
    event: HookEvent,
    begunAt: number,
    claimMs: number,
    storeKey: string,
    record: StoredRecord,
    fingerprint: string,
    waits: boolean,
  ): Replay | undefined {
    if (record.fingerprint !== fingerprint) mismatch(event, begunAt, claimMs);
    if (record.state === 'completed') {
      replayed(event, begunAt, claimMs, false, record.response);
      return { kind: 'replay', storeKey, response: record.response };
    }
    if (!waits) inFlight(event, begunAt, claimMs, record.leaseExpiresAt);
    return undefined;
  }

  /**
   * A duplicate of a request of this process that asks the store for the
   * same key and fingerprint: it takes that request's answer instead of
   * asking too. 'again' to look again, 'ask' to ask the store itself.
   */
  async function follow(
    flight: Flight,
    event: HookEvent,
    begunAt: number,
    deadline: number,
    storeKey: string,
  ): Promise<Replay | 'again' | 'ask'> {
    const next = flight.next;
    // The leader's store call is bounded by storeTimeoutMs; this wait is
    // bounded too, so a leader that never reports cannot hang its duplicates.
    const seen: Sighting | 'late' = await until(
      next,
      Math.min(deadline, Date.now() + opts.storeTimeoutMs + 1_000),
    );
    if (seen === 'late') return 'ask';
    const claimMs = Date.now() - begunAt;
    if (seen.kind === 'unknown') return 'ask';
    if (seen.kind === 'record') {
      const { record } = seen;
      const waits = answerable(record, flight.fingerprint, 0, deadline);
      const replay = answer(event, begunAt, claimMs, storeKey, record, flight.fingerprint, waits);
      if (replay !== undefined) return replay;
      // Its leader looks again, or gave up before this request's deadline: then ask.
      return flight.next !== next ? 'again' : 'ask';
    }
    const { run } = seen;
    // A lease this process no longer holds says nothing of the record.
    if (!run.live()) return 'ask';
    if (opts.concurrent === 'reject' || Date.now() >= deadline) {
      inFlight(event, begunAt, claimMs, run.leaseExpiresAt());
    }
    const response = await until(run.settled, deadline);
    if (response === 'late') inFlight(event, begunAt, Date.now() - begunAt, run.leaseExpiresAt());
    if (response === undefined) return 'again';
    replayed(event, begunAt, Date.now() - begunAt, false, response);
    return { kind: 'replay', storeKey, response };
  }

  /** A duplicate of a request still in progress: reported, then refused. */
  function inFlight(
    event: HookEvent,
    begunAt: number,
    claimMs: number,
    leaseExpiresAt: number,
  ): never {
    if (hooks.inFlight) emit(hooks, 'inFlight', { ...event, claimMs });
    finished(event, begunAt, 'in_flight');
    throw new RequestInFlightError(opts.retryAfterSeconds, leaseExpiresAt);
  }

  /** A key reused for a different request: reported, then refused. */
  function mismatch(event: HookEvent, begunAt: number, claimMs: number): never {
    if (hooks.mismatch) emit(hooks, 'mismatch', { ...event, claimMs });
    finished(event, begunAt, 'mismatch');
    throw new FingerprintMismatchError();
  }

  /** A completed record, from the store or the cache: reported; refused when its result was not stored. */
  function replayed(
    event: HookEvent,
    begunAt: number,
    claimMs: number,
    cached: boolean,
    response: StoredResponse,
  ): void {
    const { status } = response;
    const stored = !isNotStoredMarker(response);
    if (hooks.replayed) emit(hooks, 'replayed', { ...event, stored, status, claimMs, cached });
    finished(event, begunAt, stored ? 'replayed' : 'response_not_stored', status);
    if (!stored) throw new ResponseNotStoredError(status);
  }

  /** The `finished` event of a request that ends in `begin`. */
  function finished(
    event: HookEvent,
    begunAt: number,
    outcome: FinishedOutcome,
    status?: number,
  ): void {
    if (!hooks.finished) return;
    emit(hooks, 'finished', {
      ...event,
      outcome,
      ...(status === undefined ? {} : { status }),
      durationMs: Date.now() - begunAt,
    });
  }

  return { begin, options: opts, forget: (storeKey) => flights.forget(storeKey) };
}
