/**
 * `@idem/core`: run any operation exactly once per idempotency key. What an
 * application imports: the engine, its options, errors and hooks, and the
 * operators' calls.
 *
 * Store authors import `@idem/core/store` (the `Store` contract, the record
 * lifecycle, transactions); adapter authors import `@idem/core/http` (and
 * `@idem/core/node` on Node).
 *
 * @packageDocumentation
 */
export type { Claim } from './engine/context.js';
export type { BeginInput, Decision, Engine, Replay } from './engine/engine.js';
export type { Execution, ReleaseReason } from './engine/execution.js';
export type {
  InspectedRecord,
  Operators,
  RecordAddress,
  RemoveOptions,
} from './engine/operators.js';
export type {
  BreakerOptions,
  IdempotencyLogger,
  IdempotencyOptions,
  ReplayCacheOptions,
  ResolvedBreaker,
  ResolvedOptions,
  ResolvedReplayCache,
} from './engine/options.js';
export { type ReplayCache, replayCache } from './engine/replay-cache.js';
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
  ResponseNotStoredError,
  ResponseTooLargeError,
  RolledBackError,
  StoreUnavailableError,
} from './errors.js';
export {
  type CompletionFailure,
  combineHooks,
  type FinishedOutcome,
  type HookEvent,
  type IdempotencyHooks,
  type StoreOperation,
} from './hooks.js';
export type { Store, StoredResponse } from './store/contract.js';
