/**
 * `@idem/core`: run any operation exactly once per idempotency key. The
 * engine, the record lifecycle, fingerprints, scoping, errors, and the
 * `Store` contract every store implements.
 *
 * @packageDocumentation
 */
export { canonicalizeJsonText, canonicalizeValue } from './canonical-json.js';
export { bindTransaction, type Claim } from './engine/context.js';
export type { BeginInput, Decision, Engine, Replay } from './engine/engine.js';
export type { Execution, ReleaseReason } from './engine/execution.js';
export { isNotStoredMarker } from './engine/not-stored.js';
export type {
  InspectedRecord,
  Operators,
  RecordAddress,
  RemoveOptions,
} from './engine/operators.js';
export {
  type BreakerOptions,
  type IdempotencyLogger,
  type IdempotencyOptions,
  type ReplayCacheOptions,
  type ResolvedBreaker,
  type ResolvedOptions,
  type ResolvedReplayCache,
  refuseUnknownOptions,
} from './engine/options.js';
export {
  createIdempotency,
  type Idempotency,
  type Outcome,
  type ResultCodec,
  type RunOptions,
} from './engine/run.js';
export {
  ConfigurationError,
  FingerprintMismatchError,
  IdempotencyError,
  type IdempotencyErrorCode,
  type IdempotencyErrorOf,
  type IdempotencyErrorsByCode,
  isIdempotencyError,
  RequestInFlightError,
  ResponseTooLargeError,
  ResponseNotStoredError,
  RolledBackError,
  StoreUnavailableError,
} from './errors.js';
export { canonicalQuery, type FingerprintInput, fingerprintRequest } from './fingerprint.js';
export {
  type CompletionFailure,
  combineHooks,
  type FinishedOutcome,
  type HookEvent,
  type IdempotencyHooks,
  type StoreOperation,
} from './hooks.js';
export { MAX_KEY_LENGTH, type ParsedKey, parseIdempotencyKey } from './key.js';
export {
  ABSENT,
  type LifecycleEvent,
  type LifecycleResults,
  observe,
  type RecordState,
  type Transition,
  toRecord,
  transition,
} from './lifecycle.js';
export { STORE_KEY_PREFIX, scopedKey } from './scope.js';
export {
  type ClaimTransactions,
  claimTransactions,
  type TransactionDriver,
} from './store/transactions.js';
export type {
  ClaimRequest,
  ClaimResult,
  OwnerResult,
  Store,
  StoredRecord,
  StoredResponse,
} from './store.js';
