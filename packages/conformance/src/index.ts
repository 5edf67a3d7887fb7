export { reachServer } from './server.js';
export {
  type ClockKind,
  type StoreFactoryContext,
  type StoreSuiteOptions,
  storeSuite,
} from './store.js';
