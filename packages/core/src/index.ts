export { canonicalizeJsonText, canonicalizeValue, canonicalNumber } from './canonical-json.js';
export {
  type BeginInput,
  createIdempotency,
  type Decision,
  type Execution,
  type ExecutionContext,
  type Idempotency,
  type IdempotencyOptions,
  isNotStoredMarker,
  type Outcome,
  type Replay,
  type ResolvedOptions,
  type ResultCodec,
  type RunOptions,
} from './engine.js';
export {
  ConfigurationError,
  FingerprintMismatchError,
  IdempotencyError,
  type IdempotencyErrorCode,
  InvalidKeyError,
  MissingKeyError,
  RequestInFlightError,
  ResponseTooLargeError,
  ResultNotStoredError,
  RolledBackError,
  StoreUnavailableError,
} from './errors.js';
export { canonicalQuery, type FingerprintInput, fingerprintRequest } from './fingerprint.js';
export type { HookEvent, IdempotencyHooks } from './hooks.js';
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
export type {
  ClaimRequest,
  ClaimResult,
  OwnerResult,
  Store,
  StoredRecord,
  StoredResponse,
} from './store.js';
