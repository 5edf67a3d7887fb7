import type { Store } from '@idem/core/store';
import type { HttpTestApp, TestServer } from './contract.js';

/** The groups the suite's checks fall into. */
export type HttpCheckGroup =
  | 'methods'
  | 'keys'
  | 'replay'
  | 'outcomes'
  | 'concurrency'
  | 'fingerprint'
  | 'store'
  | 'scope'
  | 'bodies'
  | 'problems'
  | 'routes';

/** Options of `httpSuite` and `httpChecks`. */
export interface HttpSuiteOptions {
  /** Names the `describe` block, e.g. `'express 5'`. */
  readonly name: string;
  /**
   * Start the framework on an ephemeral port (`127.0.0.1`, port 0) with idem
   * mounted from `app.options` and the routes of `RouteName`. Called
   * once or more per check, each time with a fresh store.
   */
  readonly createServer: (app: HttpTestApp) => Promise<TestServer>;
  /**
   * The stores to run the suite on, by name; each name gets its own
   * `describe` block. Every check uses keys of its own, so a factory may hand
   * out one shared client. Checks that depend on how much a store keeps read
   * the store's `maxResponseBytes` (e.g. DynamoDB's 350 KiB): over it, they
   * expect the "response too large" answer (docs/SEMANTICS.md) instead of a replay.
   *
   * @example { memory: () => memoryStore() }
   */
  readonly stores: Readonly<Record<string, () => Store | Promise<Store>>>;
  /**
   * Stores the suite would run on but cannot here (their server is not
   * reachable), by name, with the reason: each gets one skipped test, titled
   * with the reason, in place of its `describe` block.
   */
  readonly skipStores?: Readonly<Record<string, string>>;
  /** Check groups to leave out, with the reason printed. */
  readonly skipGroups?: Partial<Record<HttpCheckGroup, string>>;
  /**
   * Single checks to leave out, by name (the test title without its group),
   * with the reason printed in the skipped test's title. A name that matches
   * no check throws, so a renamed check cannot silently come back.
   *
   * @example { 'control characters in a key never reach the handler': 'the runtime refuses them itself' }
   */
  readonly skipChecks?: Readonly<Record<string, string>>;
  /**
   * Per-check timeout in ms.
   * @default 30000
   */
  readonly timeoutMs?: number;
  /** Runs once after the whole suite (close shared store clients). */
  readonly teardown?: () => Promise<void> | void;
  /** When a string, the whole suite is skipped and the reason printed. */
  readonly skip?: string | false | undefined;
}

/** One conformance check, runnable on its own (throws on failure). */
export interface HttpCheck {
  readonly group: HttpCheckGroup;
  readonly name: string;
  run(): Promise<void>;
}
