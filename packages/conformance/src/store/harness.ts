import {
  type ClaimResult,
  type Store,
  type StoredRecord,
  type StoredResponse,
  scopedKey,
} from '@idem/core/store';
import { sameBytes } from '../bytes.js';
import type { LifecycleCoverage } from './coverage.js';
import type { StoreProcesses } from './remote.js';

/** How a store tells time, which decides how the suite tests expiry. */
export type ClockKind =
  /** The store takes a `now()` function: the suite drives a fake clock and checks exact deadlines. */
  | 'injectable'
  /** The store judges time by its server's clock (Redis, PostgreSQL): the suite waits in real time. */
  | 'server';

/** What the suite hands to {@link StoreSuiteOptions.createStore}. */
export interface StoreFactoryContext {
  /**
   * The clock the store must use, in epoch milliseconds. Only meaningful with
   * `clock: 'injectable'`; server-clock stores ignore it.
   */
  readonly now: () => number;
}

/** A store on a connection of its own, from {@link StoreSuiteOptions.connect}. */
export interface StoreConnection {
  readonly store: Store;
  /** Closes the client, pool or handle opened for it; runs when the check ends. */
  close(): Promise<void> | void;
}

/** Options of `storeSuite` and `storeChecks`. */
export interface StoreSuiteOptions {
  /** Names the `describe` block, e.g. `'redis'`. */
  readonly name: string;
  /**
   * Build a store. Called once per check. Every check uses keys of its own
   * (random per suite run), so stores built here may share one backend,
   * table or prefix, and records left behind by earlier runs do no harm.
   */
  readonly createStore: (context: StoreFactoryContext) => Store | Promise<Store>;
  /** See {@link ClockKind}. */
  readonly clock: ClockKind;
  /**
   * The coarsest time step the store can tell apart, in ms; lease and expiry
   * checks scale their durations by it (a store that keeps seconds says 1000).
   * @default 1
   */
  readonly timeResolutionMs?: number;
  /**
   * With `clock: 'server'`: how far a deadline the store reports
   * (`leaseExpiresAt`, `expiresAt`) may be from this process's estimate, in ms.
   * @default 2000
   */
  readonly clockToleranceMs?: number;
  /**
   * Whether two stores built by `createStore` see the same records (true for
   * network stores). Enables the check that races two instances on one key.
   * @default false
   */
  readonly sharedBackend?: boolean;
  /**
   * Open another store over the same records on a connection of its own: a
   * new client, pool or database handle, never the one `createStore`'s
   * stores share, as a second instance of the app would. The `connections`
   * checks race claims of the same keys from the store `createStore` built
   * and two stores opened here, at once, then close what they opened.
   *
   * Without it the `connections` group fails: a store that cannot have a
   * second connection (an in-process map) says why in
   * `skipGroups: { connections: '<reason>' }`, printed with the skipped tests.
   *
   * @example
   * connect: () => {
   *   const pool = new pg.Pool({ connectionString });
   *   return { store: postgresStore({ pool, table }), close: () => pool.end() };
   * }
   */
  readonly connect?: (context: StoreFactoryContext) => StoreConnection | Promise<StoreConnection>;
  /**
   * Stores in other processes, over the same records, from
   * `childProcesses(module, ...)` (`@idem/conformance/store`). Enables the
   * check that races claims from those processes and this one at once: the
   * proof for a store whose driver is synchronous (better-sqlite3,
   * `node:sqlite`), where claims in one process never interleave however
   * many connections it opens. Without it, that check is skipped with the
   * reason printed.
   */
  readonly processes?: StoreProcesses;
  /**
   * How many keys each `connections` check races, every one claimed once
   * from each connection or process.
   * @default 400
   */
  readonly raceKeys?: number;
  /**
   * Largest body the byte-exact round-trip check stores, in bytes; capped by
   * the store's own `maxResponseBytes`.
   * @default 1048576 (1 MiB)
   */
  readonly maxBodyBytes?: number;
  /**
   * Runs of the model-based property (random command sequences).
   * `FC_NUM_RUNS` overrides it, and every other property's runs.
   * @default 100
   */
  readonly modelRuns?: number;
  /**
   * Runs of each other property (round trips, isolation, foreign tokens;
   * the parallel-claims property runs half as many). `FC_NUM_RUNS` overrides it.
   * @default 50
   */
  readonly propertyRuns?: number;
  /**
   * How much work each check does. `'full'` runs the counts the options
   * above give. `'quick'` still runs every check, with a fifth of the
   * property runs (`modelRuns`, `propertyRuns`), a quarter of the
   * `raceKeys` and a quarter of the fixed race rounds: for the test run on
   * every change, when a `'full'` run of the same store happens elsewhere (a
   * CI job, a nightly). `FC_NUM_RUNS` still sets every property's runs.
   * @default 'full'
   */
  readonly profile?: StoreSuiteProfile;
  /** Check groups to leave out, with the reason printed, e.g. `{ expiry: 'no TTL support yet' }`. */
  readonly skipGroups?: Partial<Record<CheckGroup, string>>;
  /**
   * Single checks to leave out, by name (the test title without its group),
   * with the reason printed in the skipped test's title. A name that matches
   * no check throws, so a renamed check cannot silently come back.
   *
   * @example { 'two store instances on one backend racing one key give exactly one owner': 'one instance per process' }
   */
  readonly skipChecks?: Readonly<Record<string, string>>;
  /**
   * Per-check timeout in ms.
   * @default 60000
   */
  readonly timeoutMs?: number;
  /** Runs after each check with every store `createStore` built for it (close per-store clients). */
  readonly closeStore?: (store: Store) => Promise<void> | void;
  /** Runs once after the whole suite (close shared clients, stop servers). */
  readonly teardown?: () => Promise<void> | void;
  /** When a string, the whole suite is skipped and the reason printed. */
  readonly skip?: string | false | undefined;
}

/** How much work the suite's checks do: see {@link StoreSuiteOptions.profile}. */
export type StoreSuiteProfile = 'full' | 'quick';

/** The groups the suite's checks fall into. */
export type CheckGroup =
  | 'model'
  | 'claim'
  | 'concurrency'
  | 'fencing'
  | 'roundtrip'
  | 'isolation'
  | 'expiry'
  | 'connections';

/** What a check that passed reports about itself (plain data, JSON-safe). */
export interface StoreCheckReport {
  /** The model-based check: which lifecycle transitions its runs exercised. */
  readonly lifecycle?: LifecycleCoverage;
}

/** One conformance check, runnable on its own (throws on failure). */
export interface StoreCheck {
  readonly group: CheckGroup;
  readonly name: string;
  /**
   * Why these options cannot run the check (e.g. `processes` not given), or
   * absent. `skipReason` reads it after `skipGroups` and `skipChecks`.
   */
  readonly skip?: string;
  /** Runs the check on a fresh store; resolves to its report when it passes. */
  run(): Promise<StoreCheckReport | undefined>;
}

/** Everything a check needs: the store under test, time control and fresh keys. */
export interface Harness {
  readonly store: Store;
  /** Builds another store on the same backend (for multi-instance races). */
  readonly another: () => Promise<Store>;
  /** Opens a store on a connection of its own (`connect`), closed by `close`. */
  readonly connect: () => Promise<Store>;
  /** Keeps something to close (a process, a connection) for `close`. */
  defer(close: () => Promise<void> | void): void;
  /** Hands every store built for this check to `closeStore`. */
  close(): Promise<void>;
  readonly injectable: boolean;
  /** This process's view of the store's clock. */
  now(): number;
  /** Let `ms` pass: moves the fake clock, or sleeps for server clocks. */
  advance(ms: number): Promise<void>;
  /** A store key no other check or run has used, derived like production keys. */
  freshKey(): Promise<string>;
  /** A fresh namespace: maps (scope, key) to store keys no other namespace uses. */
  namespace(): (scope: string, key: string) => Promise<string>;
  /** A duration scaled to the store's time resolution. */
  scaled(ms: number): number;
  readonly resolutionMs: number;
  /** Allowed gap between reported and expected deadlines (0 with a fake clock). */
  readonly toleranceMs: number;
  readonly maxBodyBytes: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let suiteRuns = 0;

/** Build a harness around a fresh store from the options. */
export async function createHarness(options: StoreSuiteOptions): Promise<Harness> {
  const injectable = options.clock === 'injectable';
  // The fake clock starts at the real time: a backend that deletes expired
  // records on its own clock (DynamoDB's TTL) must not see test records as old.
  let fake = Date.now();
  const now = injectable ? () => fake : () => Date.now();
  const context: StoreFactoryContext = { now };
  const built: Store[] = [];
  const build = async () => {
    const made = await options.createStore(context);
    built.push(made);
    return made;
  };
  const deferred: (() => Promise<void> | void)[] = [];
  const store = await build();
  const resolutionMs = Math.max(1, options.timeResolutionMs ?? 1);
  // Unique per harness, so runs against a persistent backend never meet old records.
  const run = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}.${++suiteRuns}`;
  let counter = 0;
  return {
    store,
    another: build,
    async connect() {
      if (!options.connect) throw new ConformanceError(NO_CONNECT);
      const connection = await options.connect(context);
      deferred.push(() => connection.close());
      return connection.store;
    },
    defer: (close) => void deferred.push(close),
    async close() {
      // Everything is closed even when one close fails; the first failure is thrown.
      const closing = deferred.splice(0).map(async (close) => close());
      if (options.closeStore) for (const made of built) await options.closeStore(made);
      const failed = (await Promise.allSettled(closing)).find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    injectable,
    now,
    async advance(ms) {
      if (injectable) fake += ms;
      else await sleep(ms);
    },
    freshKey: () => scopedKey(`idem-conformance:${run}`, String(counter++)),
    namespace() {
      const ns = `idem-conformance:${run}/${counter++}/`;
      return (scope, key) => scopedKey(ns + scope, key);
    },
    scaled: (ms) => Math.ceil(ms / resolutionMs) * resolutionMs,
    resolutionMs,
    toleranceMs: injectable ? 0 : (options.clockToleranceMs ?? 2_000),
    maxBodyBytes: Math.min(
      options.maxBodyBytes ?? 1024 * 1024,
      store.maxResponseBytes ?? Number.POSITIVE_INFINITY,
    ),
  };
}

const NO_CONNECT =
  "no `connect` option: give one that opens a store on a connection of its own (a new client, pool or database handle over the same records), so claims can race across connections; a store that cannot have a second connection says why in `skipGroups: { connections: '<reason>' }`";

/** Thrown when a store breaks the contract; the message says what was expected. */
export class ConformanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceError';
  }
}

/** Fail with `message` unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceError(message);
}

function describeResponse(r: StoredResponse): string {
  return `{status ${r.status}, ${r.headers.length} headers, ${r.body.byteLength} body bytes}`;
}

/** Check that a stored response came back exactly as it went in. */
export function checkResponse(
  actual: StoredResponse,
  expected: StoredResponse,
  what: string,
): void {
  check(
    actual && typeof actual === 'object' && actual.body instanceof Uint8Array,
    `${what}: the response must have a Uint8Array body, got ${String(actual?.body)}`,
  );
  check(
    actual.status === expected.status,
    `${what}: status ${actual.status}, expected ${expected.status}`,
  );
  check(
    actual.headers.length === expected.headers.length &&
      actual.headers.every(
        ([n, v], i) => n === expected.headers[i]?.[0] && v === expected.headers[i]?.[1],
      ),
    `${what}: headers ${JSON.stringify(actual.headers)}, expected ${JSON.stringify(expected.headers)} (order and repeats kept)`,
  );
  check(
    sameBytes(actual.body, expected.body),
    `${what}: body differs from what was stored: got ${describeResponse(actual)}, expected ${describeResponse(expected)}`,
  );
}

/** Check a live record against what the reference model expects. */
export function checkRecord(
  actual: StoredRecord | undefined,
  expected: StoredRecord | undefined,
  toleranceMs: number,
  what: string,
): void {
  if (expected === undefined) {
    check(actual === undefined, `${what}: expected no live record, got a ${actual?.state} record`);
    return;
  }
  check(actual !== undefined, `${what}: expected a live ${expected.state} record, got none`);
  check(
    actual.state === expected.state,
    `${what}: expected state ${expected.state}, got ${actual.state}`,
  );
  check(
    actual.fingerprint === expected.fingerprint,
    `${what}: expected fingerprint ${expected.fingerprint}, got ${actual.fingerprint}`,
  );
  const [got, want, field] =
    actual.state === 'in_progress' && expected.state === 'in_progress'
      ? [actual.leaseExpiresAt, expected.leaseExpiresAt, 'leaseExpiresAt']
      : actual.state === 'completed' && expected.state === 'completed'
        ? [actual.expiresAt, expected.expiresAt, 'expiresAt']
        : [0, 0, ''];
  check(
    typeof got === 'number' && Math.abs(got - want) <= toleranceMs,
    `${what}: ${field} ${got}, expected ${want}${toleranceMs ? ` ± ${toleranceMs} ms` : ''}`,
  );
  if (actual.state === 'completed' && expected.state === 'completed') {
    checkResponse(actual.response, expected.response, what);
  }
}

/** Check a claim's result against the model's. */
export function checkClaim(
  actual: ClaimResult,
  expected: ClaimResult,
  toleranceMs: number,
  what: string,
): void {
  check(
    actual !== null && typeof actual === 'object' && typeof actual.claimed === 'boolean',
    `${what}: claim must return { claimed: boolean }, got ${JSON.stringify(actual)}`,
  );
  check(
    actual.claimed === expected.claimed,
    `${what}: expected claimed: ${expected.claimed}, got claimed: ${actual.claimed}`,
  );
  if (!actual.claimed && !expected.claimed) {
    checkRecord(actual.record, expected.record, toleranceMs, `${what} (the record in the way)`);
  }
}
