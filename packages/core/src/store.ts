/**
 * The contract between idem's engine and a storage backend.
 *
 * A store keeps one record per store key (an opaque, bounded string the engine
 * derives from scope and idempotency key) and implements the lifecycle of
 * SPEC §2 with exactly one atomic backend operation per method. Stores are
 * deliberately dumb: they never decide protocol questions (fingerprint
 * mismatch, replay, 409), they only keep records and compare owner tokens.
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
 * Methods throw on backend failure (connection lost, timeout, throttling);
 * the engine turns any throw into a {@link StoreUnavailableError}. The one
 * exception is {@link ResponseTooLargeError}, which a store throws from
 * `complete` when the response exceeds what it can keep.
 */
export interface Store {
  /**
   * Atomically claim `key`.
   *
   * Creates an `in_progress` record owned by `request.token` with a lease of
   * `request.leaseMs` when there is no live record (absent, completed but
   * expired, or in progress with an expired lease), and reports `claimed: true`.
   * Otherwise changes nothing and returns the live record; except that when
   * the live record is in progress and owned by `request.token` itself (the
   * client library resent a claim whose reply was lost), it reports
   * `claimed: true`, so a lost reply never blocks a key for a whole lease.
   */
  claim(key: string, request: ClaimRequest): Promise<ClaimResult>;

  /**
   * Store the final response, if `token` owns the live in-progress record:
   * the record becomes `completed`, live for `ttlMs` from now.
   * A stale token changes nothing, so a stale completion never overwrites a newer result.
   */
  complete(
    key: string,
    token: string,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<OwnerResult>;

  /**
   * Delete the in-progress record, if `token` owns it, so the next claim runs
   * the operation again (used when the operation failed).
   */
  release(key: string, token: string): Promise<OwnerResult>;

  /** Extend the owner's lease to `leaseMs` from now, if `token` still owns the record. */
  renew(key: string, token: string, leaseMs: number): Promise<OwnerResult>;

  /** The live record for `key`, or `undefined` if there is none. */
  read(key: string): Promise<StoredRecord | undefined>;

  /**
   * The largest response body, in bytes, this store can keep. Larger results
   * are handled as "response too large" by the engine (SPEC §3) instead of
   * being sent to `complete`.
   * @default Infinity
   */
  readonly maxResponseBytes?: number;
}
