/**
 * Identifies the claim an operation runs under. Stores that complete a record
 * inside the operation's own database transaction (such as
 * `@idem/store-postgres`) take it to bind that transaction to the claim.
 */
export interface Claim {
  /** The store key (hashed scope and key), as stores and hooks see it. */
  readonly storeKey: string;
  /** The owner token of this claim; empty when the operation runs unprotected. */
  readonly token: string;
  /** `false` when the store failed and `failOpen` let the operation run unprotected. */
  readonly protected: boolean;
}

// Symbol.for, so a store built against another copy of @idem/core marks the
// context in a way this copy reads.
const TRANSACTIONAL = Symbol.for('idem.transactional');

/**
 * For store authors: declare that this execution's `complete` will commit the
 * operation's own writes with its record (one database transaction). Call it
 * when you open that transaction. The engine then never reports the
 * operation's success before the commit is confirmed: a commit that fails
 * answers `RolledBackError`, one that does not answer in time an "outcome
 * unknown" `StoreUnavailableError`, and never a success that may not have happened.
 */
export function bindTransaction(context: Claim): void {
  Object.defineProperty(context, TRANSACTIONAL, { value: true, configurable: true });
}

/** Whether a store bound this execution's completion to the operation's transaction. */
export function isTransactional(context: Claim): boolean {
  return (context as { readonly [TRANSACTIONAL]?: unknown })[TRANSACTIONAL] === true;
}
