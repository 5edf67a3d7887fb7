export type { Answers, ServerSpec, StoreSpec } from './protocol.js';
export {
  type RemoteSuite,
  type Runtime,
  remoteSuite,
  type SpecParts,
  type TestCalls,
  testCalls,
} from './remote.js';
export { type FetchSuiteApp, type Handler, suiteFetchHandler } from './routes.js';
export { type DuplicateStormReport, duplicateStorm } from './storm.js';
