import {
  ConfigurationError,
  createIdempotency,
  type Idempotency,
  type IdempotencyOptions,
  type ResultCodec,
} from '@idem/core';
import { invocationLeaseUntil } from './lease.js';
import { engineOptionsOf, leaseMarginOf } from './options.js';
import { keyReader } from './pointer.js';

/** Any function, sync or async. */
// biome-ignore lint/suspicious/noExplicitAny: any function's arguments and result, passed through untouched.
export type AnyFunction = (...args: any[]) => any;

/** What `makeIdempotent` needs beyond the engine: where the key is, and what the call asks for. */
export interface FunctionIdempotencyOptions<F extends AnyFunction> {
  /**
   * Where each call's idempotency key is: a JSON Pointer (RFC 6901) into the
   * first argument (`'/orderId'`, `'/detail/id'`; `~1` stands for `/` and
   * `~0` for `~` inside a name), or a function of the arguments. The key is
   * a non-empty string or an exact number; anything else, or nothing there,
   * throws `IdempotencyKeyError` naming the pointer, before anything runs.
   */
  readonly key: string | ((...args: Parameters<F>) => unknown);
  /**
   * The scope the keys belong to (a function, tenant or queue name): two
   * scopes never see each other's records.
   * @default ''
   */
  readonly scope?: string;
  /**
   * What the call asks for, fingerprinted as canonical JSON: a key reused
   * with another payload throws `FingerprintMismatchError` instead of
   * replaying another call's result.
   * @default the first argument
   */
  readonly payload?: (...args: Parameters<F>) => unknown;
  /**
   * Which results are kept for replay; the key is released for the others.
   * @default () => true
   */
  readonly shouldStore?: (value: Awaited<ReturnType<F>>) => boolean;
  /** How results are turned into bytes and back. @default JSON */
  readonly codec?: ResultCodec<Awaited<ReturnType<F>>>;
  /**
   * How long after the invocation's deadline its lease may still hold, in
   * milliseconds; the invocation is the Lambda context found among the
   * arguments (an object with `getRemainingTimeInMillis`). Without one,
   * the lease is renewed for as long as the function runs.
   * @default 1000
   */
  readonly leaseMarginMs?: number;
}

/**
 * Options of `makeIdempotent`: where the key is, with either the engine's
 * options (`store`, `ttlMs`, `leaseMs`, ...) or an engine to share
 * (`idem`, from `createIdempotency`).
 */
export type MakeIdempotentOptions<F extends AnyFunction> = FunctionIdempotencyOptions<F> &
  (
    | (IdempotencyOptions & { readonly idem?: undefined })
    | {
        /**
         * An engine made by `createIdempotency` to share (its store, breaker
         * and single flight), instead of the engine's options.
         * @default none: an engine of its own, from the options
         */
        readonly idem: Idempotency;
      }
  );

/** The function `makeIdempotent` returns: the same arguments, the result (run or replayed) as a promise. */
export type IdempotentFunction<F extends AnyFunction> = (
  ...args: Parameters<F>
) => Promise<Awaited<ReturnType<F>>>;

const WHERE = 'idem: makeIdempotent()';

const OWN = new Set(['key', 'scope', 'payload', 'shouldStore', 'codec', 'leaseMarginMs', 'idem']);

/** The Lambda context among the arguments: the first object with `getRemainingTimeInMillis`. */
function contextOf(args: readonly unknown[]): unknown {
  return args.find(
    (arg) =>
      typeof (arg as { getRemainingTimeInMillis?: unknown } | null)?.getRemainingTimeInMillis ===
      'function',
  );
}

/**
 * Makes any function run once per idempotency key: the first call runs it
 * and stores its result; every later call with the same key (in this
 * process or another, until the record expires) gets that result back
 * without running it. A call made while the first still runs throws
 * `RequestInFlightError`; a key reused with another payload,
 * `FingerprintMismatchError`; a store that does not answer,
 * `StoreUnavailableError`, and nothing runs. If the function throws, the
 * key is released and the error rethrown, so a retry runs it again. Inside a
 * Lambda invocation (a context among the arguments), the lease never
 * outlives the invocation's deadline plus `leaseMarginMs`.
 *
 * @example
 * ```ts
 * export const handler = makeIdempotent(
 *   async (event: { orderId: string; amount: number }, _context: Context) => charge(event),
 *   { store, key: '/orderId', scope: 'charges' },
 * );
 * ```
 */
export function makeIdempotent<F extends AnyFunction>(
  fn: F,
  options: MakeIdempotentOptions<F>,
): IdempotentFunction<F> {
  if (typeof fn !== 'function') {
    throw new ConfigurationError(`${WHERE}: the first argument must be the function to wrap.`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError(
      `${WHERE}: pass options with a key and a store, such as { store, key: '/id' }.`,
    );
  }
  const { key, scope, payload, shouldStore, codec, leaseMarginMs, idem: shared } = options;
  const engineOptions = engineOptionsOf(options, OWN, shared, WHERE);
  if (key === undefined) {
    throw new ConfigurationError(
      `${WHERE}: option "key" is required: a JSON Pointer into the first argument such as '/orderId', or a function of the arguments.`,
    );
  }
  if (payload !== undefined && typeof payload !== 'function') {
    throw new ConfigurationError(
      `${WHERE}: option "payload" must be a function of the arguments, such as (event) => event.order, got ${typeof payload}.`,
    );
  }
  if (scope !== undefined && typeof scope !== 'string') {
    throw new ConfigurationError(
      `${WHERE}: option "scope" must be a string (a function, tenant or queue name), got ${typeof scope}.`,
    );
  }
  const margin = leaseMarginOf(leaseMarginMs, WHERE);
  const readKey = keyReader<Parameters<F>>(key, WHERE, (...args) => args[0]);
  const idem = shared ?? createIdempotency(engineOptions as unknown as IdempotencyOptions);
  const base = {
    ...(scope !== undefined && { scope }),
    ...(shouldStore !== undefined && { shouldStore }),
    ...(codec !== undefined && { codec }),
  };
  return async (...args: Parameters<F>): Promise<Awaited<ReturnType<F>>> => {
    const callKey = readKey(...args);
    const leaseUntil = invocationLeaseUntil(contextOf(args), margin);
    const outcome = await idem.run<Awaited<ReturnType<F>>>(callKey, () => fn(...args), {
      ...base,
      payload: payload ? payload(...args) : args[0],
      ...(leaseUntil !== undefined && { leaseUntil }),
    });
    return outcome.value;
  };
}
