/**
 * What the test (Node) tells a runtime about one test server, and what the
 * runtime asks back. JSON, so it crosses any process boundary.
 */

/** Where a test server's store lives. */
export type StoreSpec =
  /** A memory store built inside the runtime. */
  | { readonly kind: 'memory' }
  /** A Redis store built inside the runtime, on the runtime's own client, on this server. */
  | { readonly kind: 'redis'; readonly url: string }
  /** A store object in the test process (the suite's broken store), called over HTTP. */
  | { readonly kind: 'node' };

/** One test server, as the test registers it. */
export interface ServerSpec {
  /** Names the server in calls to the test. */
  readonly id: string;
  /** Where the runtime calls the test (`POST <harness>/enter/<id>/<route>`, …). */
  readonly harness: string;
  /** idem's options that are plain data (`methods`, `concurrent`, `maxResponseBytes`, …). */
  readonly options: Record<string, unknown>;
  /** The overrides of `/own` that are plain data. */
  readonly routeOptions: Record<string, unknown>;
  /**
   * The options (of the mount and of `/own`) that are functions of the
   * request (`skip`, `key`, `fingerprint`, `ttlMs`, `leaseMs`), by name: they
   * run in the test, on the request's headers.
   */
  readonly functions: Readonly<Record<keyof Answers, readonly string[]>>;
  readonly store: StoreSpec;
  /** Whether the suite passed a `scope`: it then runs in the test, per request. */
  readonly scope: boolean;
  /**
   * The suite's `logger`: `true` when it passed one (the runtime's logger
   * then forwards every line to it), `false` when it passed `false`.
   */
  readonly logger?: boolean;
  /** The statuses the suite's `shouldStore` keeps, evaluated in the test (a function cannot travel). */
  readonly storedStatuses?: readonly number[];
}

/** A test server's spec without where its store lives and where to call back: what every runtime's bridge sends. */
export type SpecParts = Omit<ServerSpec, 'harness' | 'store'>;

/** What the test's functions of the request answered for one request, by name, for the mount and for `/own`. */
export interface Answers {
  readonly mount: Readonly<Record<string, unknown>>;
  readonly route: Readonly<Record<string, unknown>>;
}

/** The store operations a `node` store forwards to the test. */
export const STORE_METHODS = ['claim', 'complete', 'release', 'renew', 'read'] as const;
