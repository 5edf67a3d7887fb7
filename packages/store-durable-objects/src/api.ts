/** What both entries export besides `IdempotencyObject`. */
export type {
  DurableObjectStateLike,
  IdempotencyObjectClass,
  IdempotencyObjectInstance,
  Operation,
  Reply,
  SqlStorageLike,
} from './protocol.js';
export {
  type DurableObjectNamespaceLike,
  type DurableObjectStore,
  type DurableObjectStoreOptions,
  durableObjectStore,
} from './store.js';
