/**
 * What the test tells the harness Worker (./harness-worker.ts) about a test
 * server. Kept apart from the Worker module, which may export only handlers.
 */

/**
 * How many test servers can run at once (the suite starts at most three per
 * check). The Worker exports one entrypoint per slot: `slot0`, `slot1`, ….
 */
export const SLOTS = 4;

/** Where a test server's store lives. */
export type StoreSpec =
  | { readonly kind: 'memory' }
  | { readonly kind: 'dynamodb'; readonly tableName: string }
  /** @idem/store-d1 on the `IDEM_DB` binding. */
  | { readonly kind: 'd1'; readonly table: string }
  /** @idem/store-durable-objects on the `IDEMPOTENCY` binding. */
  | { readonly kind: 'durable-objects' }
  /** A store object in the test process, called over the service binding. */
  | { readonly kind: 'node' };

/** One test server, as the test registers it. */
export interface ServerSpec {
  /** Names the server in calls to the test (slots are reused; ids are not). */
  readonly id: string;
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
  /** The statuses the suite's `shouldStore` keeps, evaluated in the test (a function cannot travel). */
  readonly storedStatuses?: readonly number[];
}

/** What the test's functions of the request answered for one request, by name, for the mount and for `/own`. */
export interface Answers {
  readonly mount: Readonly<Record<string, unknown>>;
  readonly route: Readonly<Record<string, unknown>>;
}

/** The D1 table of ./store-worker.ts (created by the test). */
export const STORE_TABLE = 'idem_store_conformance';
