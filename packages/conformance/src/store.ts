import type { Store } from '@idem/core';

/** How a store tells time, which decides how the suite tests expiry. */
export type ClockKind =
  /** The store takes a `now()` function: the suite drives a fake clock. */
  | 'injectable'
  /** The store judges time by its server's clock (Redis, PostgreSQL): the suite waits in real time. */
  | 'server';

/** What the suite hands to {@link StoreSuiteOptions.createStore}. */
export interface StoreFactoryContext {
  /** With `clock: 'injectable'`: the clock the store must use (epoch ms). */
  readonly now: () => number;
}

/** Options of {@link storeSuite}. */
export interface StoreSuiteOptions {
  /** Names the `describe` block. */
  readonly name: string;
  /** Build a fresh store whose records no other store built by this factory can see. */
  readonly createStore: (context: StoreFactoryContext) => Store | Promise<Store>;
  /** See {@link ClockKind}. */
  readonly clock: ClockKind;
  /**
   * The coarsest time step the store can tell apart, in ms; expiry tests scale
   * their leases and waits by it.
   * @default 1
   */
  readonly timeResolutionMs?: number;
  /** Runs after all tests (close clients). */
  readonly teardown?: () => Promise<void> | void;
  /** When set, the whole suite is skipped, printing this reason. */
  readonly skip?: string | false;
}

/** Declare the store conformance suite (vitest `describe` blocks) for a store. */
export function storeSuite(options: StoreSuiteOptions): void {
  void options;
  throw new Error('storeSuite: not implemented yet');
}
