/**
 * `@idem/core/store`: what a store author imports. The `Store` contract every
 * store implements, the record lifecycle it must follow (the same model the
 * conformance suite checks it against), the bookkeeping for stores that
 * complete inside the operation's own transaction, the options resolver
 * (one rule per option, unknown names refused first, one wording per rule),
 * and the errors a store throws. docs/writing-a-store.md walks through it.
 *
 * @packageDocumentation
 */
export { bindTransaction, type Claim } from './engine/context.js';
export {
  ConfigurationError,
  ResponseTooLargeError,
  RolledBackError,
  StoreUnavailableError,
} from './errors.js';
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
export {
  checkOption,
  defineOptions,
  type Option,
  type OptionSpecs,
  type OptionsResolver,
  option,
  optionError,
  type ResolvedOf,
  type Rule,
  refuseUnknownNames,
  required,
  rule,
} from './options/define.js';
export {
  atLeastZero,
  boolean,
  clock,
  fn,
  nonEmptyString,
  oneOf,
  positive,
  positiveMs,
  string,
  whole,
} from './options/rules.js';
export { STORE_KEY_PREFIX, scopedKey } from './scope.js';
export type {
  ClaimRequest,
  ClaimResult,
  OwnerResult,
  Store,
  StoredRecord,
  StoredResponse,
} from './store/contract.js';
export {
  type ClaimTransactions,
  claimTransactions,
  type TransactionDriver,
} from './store/transactions.js';
