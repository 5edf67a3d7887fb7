import { sha256Hasher, utf8 } from '../bytes.js';
import { canonicalizeValue } from '../canonical-json.js';
import { ConfigurationError, RolledBackError } from '../errors.js';
import { defineOptions, option, rule } from '../options/define.js';
import { fn, isObject, ownCheck, string } from '../options/rules.js';
import { type Claim, isTransactional } from './context.js';
import { createEngine, type Decision, type Engine } from './engine.js';
import { notStoredMarker } from './not-stored.js';
import { type Operators, operators } from './operators.js';
import type { IdempotencyOptions } from './options.js';

/** Options of one {@link Idempotency.run} call. */
export interface RunOptions<T> {
  /**
   * The scope the key belongs to (queue, tenant, job name).
   * @default ''
   */
  readonly scope?: string;
  /**
   * What the operation is asked to do; a reused key with a different payload
   * throws `FingerprintMismatchError`. Fingerprinted as canonical JSON.
   * @default undefined (only the key identifies the operation)
   */
  readonly payload?: unknown;
  /**
   * Which results are kept for replay; the key is released for the others.
   * With a transactional store, releasing the key rolls the operation's
   * writes back too: a result not kept then throws `RolledBackError`
   * instead of resolving as executed, so keep every result whose writes
   * must last.
   * @default () => true
   */
  readonly shouldStore?: (value: T) => boolean;
  /** How results are turned into bytes and back. @default JSON */
  readonly codec?: ResultCodec<T>;
  /** See `BeginInput.waitUntil`. */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * The latest time, in epoch milliseconds, the run's lease may last: see
   * `BeginInput.leaseUntil`. `@idem/lambda` sets it from the invocation's
   * remaining time.
   * @default none: the lease is renewed for as long as the operation runs
   */
  readonly leaseUntil?: number;
}

/** Turns a result into bytes and back. */
export interface ResultCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** How a {@link Idempotency.run} call ended. */
export type Outcome<T> =
  | { readonly kind: 'executed'; readonly value: T }
  | { readonly kind: 'replayed'; readonly value: T };

/** The engine: run operations exactly once per (scope, key); and the operators' calls. */
export interface Idempotency extends Engine, Operators {
  /**
   * Run `operation` once for `key` and return its result; every later call with
   * the same key replays the stored result instead of running it again.
   * Throws `RequestInFlightError`, `FingerprintMismatchError`,
   * `StoreUnavailableError` or `ResponseNotStoredError`, or whatever the
   * operation threw (after releasing the key); `RolledBackError` when a
   * transactional store rolled the operation's writes back (a failed commit,
   * or a result `shouldStore` does not keep). If `shouldStore` or the codec
   * throws after the operation ran, that error is thrown too, and the key is
   * recorded as "ran, not stored" so a retry gets `ResponseNotStoredError`
   * instead of a second execution.
   */
  run<T>(
    key: string,
    operation: (context: Claim) => T | Promise<T>,
    options?: RunOptions<T>,
  ): Promise<Outcome<T>>;
}

const JSON_CODEC: ResultCodec<unknown> = {
  encode: (value) => (value === undefined ? new Uint8Array(0) : utf8(JSON.stringify(value))),
  decode: (bytes) =>
    bytes.byteLength === 0 ? undefined : JSON.parse(new TextDecoder().decode(bytes)),
};

/**
 * Create the engine. Adapters build on {@link Engine.begin}; queue consumers
 * and jobs use {@link Idempotency.run}.
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
    options: engine.options,
    run: (key, operation, runOptions) => runOnce(engine.begin, key, operation, runOptions),
    ...operators(engine.options, engine.forget),
  };
}

/** Names run() in configuration errors. */
const RUN = 'idem: run()';

/** The options of one run() call: checked on every call, names first. */
const checkRun = defineOptions({
  scope: option(rule<string>(`${string.expects} (a queue, tenant or job name)`, string.test), ''),
  payload: option(ownCheck),
  shouldStore: option(fn<(value: unknown) => boolean>('of the result, such as (r) => r.ok')),
  codec: option(
    rule<ResultCodec<unknown>>(
      'a codec with encode(value) and decode(bytes) methods',
      (v) =>
        isObject(v) &&
        typeof (v as ResultCodec<unknown>).encode === 'function' &&
        typeof (v as ResultCodec<unknown>).decode === 'function',
    ),
    JSON_CODEC,
  ),
  waitUntil: option(fn<(promise: Promise<unknown>) => void>('such as ctx.waitUntil')),
  leaseUntil: option(
    rule<number>('a time in epoch milliseconds, such as Date.now() + 10_000', Number.isFinite),
  ),
});

async function runOnce<T>(
  begin: Engine['begin'],
  key: string,
  operation: (context: Claim) => T | Promise<T>,
  runOptions: RunOptions<T> = {},
): Promise<Outcome<T>> {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ConfigurationError(
      'idem: run() needs a non-empty string key, such as the message id.',
    );
  }
  const { scope, payload, shouldStore, codec, waitUntil, leaseUntil } = checkRun(
    runOptions,
    RUN,
  ) as {
    scope: string;
    payload: unknown;
    shouldStore: ((value: T) => boolean) | undefined;
    codec: ResultCodec<T>;
    waitUntil: ((promise: Promise<unknown>) => void) | undefined;
    leaseUntil: number | undefined;
  };
  const fingerprint = await fingerprintPayload(payload);
  const decision: Decision = await begin({
    scope,
    key,
    fingerprint,
    ...(waitUntil && { waitUntil }),
    ...(leaseUntil !== undefined && { leaseUntil }),
  });
  if (decision.kind === 'replay') {
    return { kind: 'replayed', value: codec.decode(decision.response.body) };
  }
  let value: T;
  try {
    value = await operation(decision.claim);
  } catch (error) {
    await decision.release('failed');
    throw error;
  }
  let keep: boolean;
  let body: Uint8Array;
  try {
    keep = shouldStore ? shouldStore(value) : true;
    body = keep ? codec.encode(value) : new Uint8Array(0);
  } catch (error) {
    // The operation ran, but its result cannot be judged or encoded (a
    // throwing shouldStore or codec, a BigInt for JSON). Releasing the key
    // would let a retry run it twice, and leaving it claimed would renew the
    // lease forever: record "ran, not stored", then surface the error.
    await decision.complete(notStoredMarker(200, -1));
    throw error;
  }
  if (keep) {
    await decision.complete({ status: 200, headers: [], body });
  } else if (isTransactional(decision.claim)) {
    // Releasing the key rolls the operation's writes back with it: never
    // report as executed an operation whose writes did not happen.
    await decision.release('rolled_back');
    throw new RolledBackError(
      new Error(
        "run()'s shouldStore did not keep the result: the key was released and the operation's transaction rolled back with it.",
      ),
    );
  } else {
    await decision.release('not_kept');
  }
  return { kind: 'executed', value };
}

async function fingerprintPayload(payload: unknown): Promise<string> {
  return sha256Hasher()
    .update(`idem-run1:${canonicalizeValue(payload)}`)
    .hex();
}
