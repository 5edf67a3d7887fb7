export type { Answers, ServerSpec, SpecParts, StoreSpec } from './protocol.js';
export {
  type RemoteSuite,
  type Runtime,
  remoteSuite,
  type StandIns,
  standIns,
  type TestCalls,
  testCalls,
} from './remote.js';
export { type FetchSuiteApp, type Handler, streamOf, suiteFetchHandler } from './routes.js';
export { serveFetch } from './serve.js';
export { type DuplicateStormReport, duplicateStorm } from './storm.js';
