/**
 * The contract between idem's engine and a storage backend: the single
 * accurate source for store authors (docs/writing-a-store.md tells the same
 * in prose, with the test file to write).
 *
 * A store keeps one record per store key (an opaque string of at most 64
 * characters the engine derives from scope and idempotency key) and keeps
 * the lifecycle of docs/SEMANTICS.md (Lifecycle) with exactly one atomic
 * backend operation per method. Stores are deliberately dumb: they never
 * decide protocol questions (fingerprint mismatch, replay, 409), they only
 * keep records and compare owner tokens.
 *
 * Liveness rules every store must follow (the shared conformance suite checks them):
 *
 * - An `in_progress` record is live while `now < leaseExpiresAt`. Once its lease
 *   has run out it behaves exactly like an absent record: `claim` takes it over,
 *   `read` returns `undefined`, and its old owner's token is stale.
 * - A `completed` record is live while `now < expiresAt`; after that it behaves
 *   exactly like an absent record, even if the backend has not deleted it yet.
 * - "now" is the store's clock: the server's clock for backends that have one
 *   (Redis, PostgreSQL), an injectable clock otherwise.
 *
 * Extras beyond the five methods are named alike in every store: `migrate()`
 * (create the table, safe to run concurrently), `createTable()` (for
 * backends whose tables belong in infrastructure code, development only),
 * `purgeExpired()` (delete dead records, for a cron job), `schemaSql` (the
 * DDL to apply yourself), and `transaction(context)` (for stores that commit
 * the operation's own writes with its record).
 *
 * @packageDocumentation
 */

/** A response (or any operation result) as a store keeps it: byte-exact. */
export interface StoredResponse {
  /** Status code. For HTTP, the response status; the generic engine uses 200. */
  readonly status: number;
  /**
   * Header lines in the order they were produced, repeats kept
   * (`[['set-cookie','a=1'],['set-cookie','b=2']]`). Names are lower case.
   */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** The body, byte for byte. Stores must never pass it through a lossy string conversion. */
  readonly body: Uint8Array;
}

/** A live record as `claim` and `read` report it. */
export type StoredRecord =
  | {
      readonly state: 'in_progress';
      /** The fingerprint the owner claimed the key with. */
      readonly fingerprint: string;
      /** When the owner's lease runs out, in epoch milliseconds of the store's clock. */
      readonly leaseExpiresAt: number;
    }
  | {
      readonly state: 'completed';
      readonly fingerprint: string;
      /** When the record expires, in epoch milliseconds of the store's clock. */
      readonly expiresAt: number;
      readonly response: StoredResponse;
    };

/** What the engine asks for when it claims a key. */
export interface ClaimRequest {
  /** Digest of what the request asks for; stored so later requests can be compared. */
  readonly fingerprint: string;
  /** A fresh random owner (fencing) token minted by the engine for this claim. */
  readonly token: string;
  /** How long the claim blocks others unless renewed, in milliseconds. */
  readonly leaseMs: number;
}

/**
 * Result of {@link Store.claim}: either this caller now owns the key, or the
 * live record that stands in its way, returned unchanged.
 */
export type ClaimResult =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly record: StoredRecord };

/**
 * `ok`: the token owned the live in-progress record and the change was made.
 * `stale`: the token no longer owns it (lease ran out, someone else took over,
 * released, completed, or expired); nothing was changed.
 */
export type OwnerResult = 'ok' | 'stale';

/**
 * A storage backend for idem. Implement these five methods, each as exactly
 * one atomic backend round trip (never read-then-write), and run
 * `@idem/conformance`'s store suite against your implementation.
 *
 * How the engine treats what a store throws:
 *
 * - Any method may throw on backend failure (connection lost, timeout,
 *   throttling), and may take as long as its client takes: the engine bounds
 *   every call by `storeTimeoutMs` itself. A failed or timed-out `claim`
 *   becomes a `StoreUnavailableError` (HTTP 503; the operation does not run)
 *   and its token is given back with `release` in the background. A failed
 *   `complete` is retried in the background while the lease holds; failed
 *   `release` and `renew` calls are reported and left to the lease. Every
 *   failure is reported (`hooks.storeError`, or the log).
 * - `ResponseTooLargeError` from `complete`: the response exceeds what the
 *   store can keep; the engine records "ran, not stored" instead.
 * - `RolledBackError` from `complete`: the operation's own writes and the
 *   record were committed in one transaction that failed; nothing took
 *   effect, the engine releases the key and the caller gets a 503. Only
 *   stores with transactional completion throw it; they call
 *   `bindTransaction(context)` when they open the operation's transaction.
 * - `ConfigurationError` (with the backend's error as `cause`): the store is
 *   not set up (a missing table); its message names the fix ("run `await
 *   store.migrate()`"). The engine logs it loudly once and answers 503.
 *
 * Errors are recognised by their `code`, so a store built against another
 * copy or version of `@idem/core` works the same.
 */
export interface Store {
  /**
   * Atomically claim `storeKey`.
   *
   * Creates an `in_progress` record owned by `request.token` with a lease of
   * `request.leaseMs` when there is no live record (absent, completed but
   * expired, or in progress with an expired lease), and reports `claimed: true`.
   * Otherwise changes nothing and returns the live record; except that when
   * the live record is in progress and owned by `request.token` itself (the
   * client library resent a claim whose reply was lost), it reports
   * `claimed: true`, so a lost reply never blocks a key for a whole lease.
   */
  claim(storeKey: string, request: ClaimRequest): Promise<ClaimResult>;

  /**
   * Store the final response, if `token` owns the live in-progress record:
   * the record becomes `completed`, live for `ttlMs` from now.
   * A stale token changes nothing, so a stale completion never overwrites a newer result.
   */
  complete(
    storeKey: string,
    token: string,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<OwnerResult>;

  /**
   * Delete the in-progress record, if `token` owns it, so the next claim runs
   * the operation again (used when the operation failed).
   */
  release(storeKey: string, token: string): Promise<OwnerResult>;

  /** Extend the owner's lease to `leaseMs` from now, if `token` still owns the record. */
  renew(storeKey: string, token: string, leaseMs: number): Promise<OwnerResult>;

  /**
   * The live record for `storeKey`, or `undefined` if there is none. The engine
   * reads only to check whether a completion whose reply was lost did land
   * (and the operator calls use it); the conformance suite uses it to check
   * every other method's effect.
   */
  read(storeKey: string): Promise<StoredRecord | undefined>;

  /**
   * `true` for a store that answers from this process's memory, with no I/O
   * (the memory store): it cannot hang, so the engine spares its calls the
   * `storeTimeoutMs` bookkeeping.
   * @default false
   */
  readonly inProcess?: boolean;

  /**
   * Delete the record of `storeKey`, whatever its state and owner. Optional:
   * only operators call it (`idem.remove()`), never the engine. A store
   * without it cannot free a key before its lease or TTL runs out.
   */
  remove?(storeKey: string): Promise<void>;

  /**
   * The largest response body, in bytes, this store can keep. Larger results
   * are recorded as "ran, not stored" by the engine (docs/SEMANTICS.md,
   * Responses too large to store) instead of being sent to `complete`.
   * @default Infinity
   */
  readonly maxResponseBytes?: number;
}
