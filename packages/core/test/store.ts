import {
  ABSENT,
  type LifecycleEvent,
  type LifecycleResults,
  observe,
  type RecordState,
  toRecord,
  transition,
} from '../src/lifecycle.js';
import type { Store, StoredRecord } from '../src/store.js';

/** The store operations a test can count and break. */
export type StoreOperation = 'claim' | 'complete' | 'release' | 'renew' | 'read';

/** What a test needs from a store: the records themselves, a clock, counters and failure injection. */
export interface TestStore extends Store {
  /** The raw states by store key, expired leftovers included. */
  readonly records: Map<string, RecordState>;
  /** Calls made to each operation, failed ones included. */
  readonly calls: Record<StoreOperation, number>;
  /** Make the next `times` calls of `operation` throw `error` instead of running. */
  failNext(operation: StoreOperation, times?: number, error?: unknown): void;
  /** Make every call of `operation` throw `error` until {@link TestStore.heal}. */
  failAlways(operation: StoreOperation, error?: unknown): void;
  /** Make the next `times` calls of `operation` never settle (a store that accepts and never answers). */
  hangNext(operation: StoreOperation, times?: number): void;
  /**
   * Make the next `times` calls of `operation` take effect and then throw, as
   * when the store ran the command but its reply was lost.
   */
  loseReplyNext(operation: StoreOperation, times?: number): void;
  /** Stop every injected failure. */
  heal(): void;
  /** The live state of `key` now (absent when expired). */
  live(key: string): RecordState;
}

/** Options of {@link testStore}. */
export interface TestStoreOptions {
  /** The store's clock in epoch ms. @default Date.now (so fake timers move it) */
  readonly now?: () => number;
  /** Bodies larger than this make `complete` throw, as a store with its own limit would. */
  readonly maxResponseBytes?: number;
  /** Announce `maxResponseBytes` on the store (the engine then never sends larger ones). @default false */
  readonly announceLimit?: boolean;
  /** Build the error `complete` throws for a body over the limit. */
  readonly tooLarge?: (size: number, limit: number) => unknown;
}

/**
 * A reference store on core's own lifecycle (no dependency on
 * `@idem/store-memory`, which depends on core): each operation is one
 * synchronous `transition()` inside an async method, so it is atomic.
 */
export function testStore(options: TestStoreOptions = {}): TestStore {
  const now = options.now ?? (() => Date.now());
  const records = new Map<string, RecordState>();
  const calls: Record<StoreOperation, number> = {
    claim: 0,
    complete: 0,
    release: 0,
    renew: 0,
    read: 0,
  };
  type Mode = 'throw' | 'hang' | 'lose reply';
  const failures = new Map<StoreOperation, { times: number; error: unknown; mode: Mode }>();

  /** Count the call; returns how an injected failure wants it to go, if any. */
  function enter(operation: StoreOperation): Mode | undefined {
    calls[operation]++;
    const failure = failures.get(operation);
    if (!failure) return undefined;
    if (failure.times !== Number.POSITIVE_INFINITY && --failure.times <= 0)
      failures.delete(operation);
    if (failure.mode === 'throw') throw failure.error;
    return failure.mode;
  }

  const never = new Promise<never>(() => {});

  /** Run `apply` as the injected failure wants: normally, never answered, or answered with a lost reply. */
  async function perform<R>(operation: StoreOperation, apply: () => R): Promise<R> {
    const mode = enter(operation);
    if (mode === 'hang') return never;
    const result = apply();
    if (mode === 'lose reply') throw new Error(`the reply to ${operation} was lost`);
    return result;
  }

  function apply<E extends LifecycleEvent>(key: string, event: E): LifecycleResults[E['type']] {
    const { next, result } = transition(records.get(key) ?? ABSENT, event);
    if (next.state === 'absent') records.delete(key);
    else records.set(key, next);
    return result;
  }

  const store: TestStore = {
    records,
    calls,
    failNext(operation, times = 1, error = new Error(`injected ${operation} failure`)) {
      failures.set(operation, { times, error, mode: 'throw' });
    },
    failAlways(operation, error = new Error(`injected ${operation} failure`)) {
      failures.set(operation, { times: Number.POSITIVE_INFINITY, error, mode: 'throw' });
    },
    hangNext(operation, times = 1) {
      failures.set(operation, { times, error: undefined, mode: 'hang' });
    },
    loseReplyNext(operation, times = 1) {
      failures.set(operation, { times, error: undefined, mode: 'lose reply' });
    },
    heal() {
      failures.clear();
    },
    live(key) {
      return observe(records.get(key) ?? ABSENT, now());
    },
    claim(key, request) {
      return perform('claim', () => apply(key, { type: 'claim', now: now(), ...request }));
    },
    complete(key, token, response, ttlMs) {
      return perform('complete', () => {
        const limit = options.maxResponseBytes;
        if (limit !== undefined && response.body.byteLength > limit) {
          throw options.tooLarge?.(response.body.byteLength, limit) ?? new Error('too large');
        }
        return apply(key, { type: 'complete', now: now(), token, response, ttlMs });
      });
    },
    release(key, token) {
      return perform('release', () => apply(key, { type: 'release', now: now(), token }));
    },
    renew(key, token, leaseMs) {
      return perform('renew', () => apply(key, { type: 'renew', now: now(), token, leaseMs }));
    },
    read(key): Promise<StoredRecord | undefined> {
      return perform('read', () => toRecord(observe(records.get(key) ?? ABSENT, now())));
    },
    ...(options.announceLimit && options.maxResponseBytes !== undefined
      ? { maxResponseBytes: options.maxResponseBytes }
      : {}),
  };
  return store;
}

/** A promise with its resolve function exposed: a gate an operation waits on. */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  open(value: T): void;
}

/** A new closed {@link Gate}. */
export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
