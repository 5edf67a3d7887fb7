export { fcParameters } from './fc.js';
export { reachServer } from './server.js';
export {
  type CheckGroup,
  type ClockKind,
  ConformanceError,
  type StoreCheck,
  type StoreFactoryContext,
  type StoreSuiteOptions,
  storeChecks,
  storeSuite,
} from './store.js';
